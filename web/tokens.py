"""API tokens: from API_TOKENS ("token=role:name,..."), else a JSON file made on first run."""

import json
import logging
import secrets
from pathlib import Path

from domain.models import Actor
from domain.stages import Role

PERSON_ROLES = [Role.ADMIN, Role.OPERATOR, Role.EVALUATOR, Role.COMMITTEE]
# The embedded run's first people, one per role, named as a person would be in the trail.
FIRST_PEOPLE = {
    Role.ADMIN: "Gestionnaire du programme",
    Role.OPERATOR: "Opérateur du programme",
    Role.EVALUATOR: "Évaluateur du programme",
    Role.COMMITTEE: "Comité de pilotage",
}


def parse_tokens(spec: str) -> dict[str, Actor]:
    tokens: dict[str, Actor] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        token, _, who = entry.partition("=")
        role, _, name = who.partition(":")
        if not token or role not in PERSON_ROLES:
            raise ValueError(f"API_TOKENS : entrée invalide « {entry} » (attendu token=rôle:nom)")
        tokens[token] = Actor(name=name or role, role=Role(role))
    return tokens


def load_tokens(spec: str, path: Path) -> dict[str, Actor]:
    if spec:
        return parse_tokens(spec)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        made = {
            secrets.token_urlsafe(24): {
                "role": role.value,
                "name": name,  # what the audit trail and the console show
                "email": f"{role.value}@clusters.localhost",  # the embedded catcher takes any
            }
            for role, name in FIRST_PEOPLE.items()
        }
        path.write_text(json.dumps(made, indent=2))
        path.chmod(0o600)
        logging.getLogger(__name__).warning("API tokens created in %s", path)
    return {token: Actor.model_validate(who) for token, who in json.loads(path.read_text()).items()}


def token_emails(spec: str, path: Path) -> dict[str, str]:
    """The addresses the tokens file gives its people (API_TOKENS gives none)."""
    if spec or not path.exists():
        return {}
    people = json.loads(path.read_text()).values()
    return {who["name"]: who["email"] for who in people if who.get("email")}
