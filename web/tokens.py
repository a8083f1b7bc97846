"""API tokens: from API_TOKENS ("token=role:name,..."), else a JSON file made on first run.

A token is a secret that guessing must not find: MIN_LENGTH characters at least (those this
module and web.identity make are random, 32 and 43 characters long); a shorter one is refused
when the tokens are loaded, and never taken at sign-in or by the API.
"""

import json
import logging
import secrets
from pathlib import Path

from domain.models import Actor
from domain.stages import Role

MIN_LENGTH = 32
# How to make one (README, « Rôles et jetons »).
MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# The staff's roles: those a token, a console session or an account may carry. Neither the clock
# (Role.SYSTEM) nor an association in the portal (Role.APPLICANT) is one.
PERSON_ROLES = [Role.ADMIN, Role.OPERATOR, Role.EVALUATOR, Role.COMMITTEE, Role.FINANCE]
# The embedded run's first people, one per role, named as a person would be in the trail.
FIRST_PEOPLE = {
    Role.ADMIN: "Gestionnaire du programme",
    Role.OPERATOR: "Opérateur du programme",
    Role.EVALUATOR: "Évaluateur du programme",
    Role.COMMITTEE: "Comité de pilotage",
    Role.FINANCE: "Service financier",
}


def parse_tokens(spec: str) -> dict[str, Actor]:
    tokens: dict[str, Actor] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        token, _, who = entry.partition("=")
        role, _, name = who.partition(":")
        if not token or role not in PERSON_ROLES:
            raise ValueError(f"API_TOKENS : entrée invalide « {entry} » (attendu token=rôle:nom)")
        actor = Actor(name=name or role, role=Role(role))
        _long_enough(token, actor, "API_TOKENS")
        tokens[token] = actor
    return tokens


def _long_enough(token: str, actor: Actor, source: str) -> None:
    """A short token is refused, named by its holder (never quoted: it is a secret)."""
    if len(token) < MIN_LENGTH:
        raise ValueError(
            f"{source} : le jeton de « {actor.name} » ({actor.role}) a {len(token)} caractères ; "
            f"il en faut au moins {MIN_LENGTH}, tirés au hasard (par exemple : {MAKE_ONE})."
        )


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
    tokens = {
        token: Actor.model_validate(who) for token, who in json.loads(path.read_text()).items()
    }
    for token, actor in tokens.items():
        _long_enough(token, actor, str(path))
        if actor.role not in PERSON_ROLES:
            raise ValueError(
                f"{path} : « {actor.name} » a le rôle « {actor.role} », qu'aucun jeton ne porte "
                f"(rôles du personnel : {', '.join(PERSON_ROLES)})."
            )
    return tokens


def token_emails(spec: str, path: Path) -> dict[str, str]:
    """The addresses the tokens file gives its people (API_TOKENS gives none)."""
    if spec or not path.exists():
        return {}
    people = json.loads(path.read_text()).values()
    return {who["name"]: who["email"] for who in people if who.get("email")}
