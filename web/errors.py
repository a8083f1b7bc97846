"""Errors as the API answers them: a French `detail`, and for 409 where the case stands."""

from typing import Any

from fastapi import HTTPException, status
from pydantic import BaseModel

from domain.ids import Kind
from domain.lifecycle import allowed_actions
from domain.models import FORBIDDEN, INVALID, NOT_ALLOWED
from domain.stages import Action, Stage

# The workflows' refusals (ApplicationError types) as HTTP statuses.
STATUS = {
    NOT_ALLOWED: status.HTTP_409_CONFLICT,
    FORBIDDEN: status.HTTP_403_FORBIDDEN,
    INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
}
ENGINE_DOWN = (
    "Le moteur de workflows ne répond pas. Réessayez avec la même Idempotency-Key : "
    "l'action ne sera pas faite deux fois."
)
SLOW = (
    "Pas de réponse dans le délai (moteur de workflows ou base de données). Réessayez avec la "
    "même Idempotency-Key : l'action ne sera pas faite deux fois."
)


# What a 404 and a 409 say of a case that is unknown, or whose workflow is over.
UNKNOWN = {
    Kind.CALL: "Appel à projets inconnu.",
    Kind.APPLICATION: "Candidature inconnue.",
    Kind.CLUSTER: "Cluster inconnu.",
    Kind.SESSION: "Séance du comité inconnue.",
}
CLOSED = {
    Kind.CALL: "Cet appel est clos.",
    Kind.APPLICATION: "Ce dossier est clos.",
    Kind.CLUSTER: "Ce dossier de soutien est clos.",
    Kind.SESSION: "Cette séance est terminée.",
}


class Problem(BaseModel):
    """Body of every error but 422: a French message, and for 409 where the case stands."""

    detail: str
    code: str | None = None
    stage: str | None = None
    allowed_actions: list[Action] | None = None


class ApiError(HTTPException):
    """An HTTP error whose body carries more than `detail` (code, stage, allowed actions)."""

    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(status_code, detail)
        self.extra = extra


def conflict(detail: str, stage: Stage) -> ApiError:
    return ApiError(
        status.HTTP_409_CONFLICT,
        detail,
        code=NOT_ALLOWED,
        stage=stage,
        allowed_actions=allowed_actions(stage),
    )


def unavailable(detail: str, code: str) -> ApiError:
    return ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, detail, code=code)


# Pydantic's error types told in French (the message of a rule of ours is French already).
FRENCH = {
    "missing": "obligatoire",
    "string_too_short": "obligatoire",
    "too_short": "au moins {min_length} élément(s)",
    "too_long": "au plus {max_length} élément(s)",
    "string_too_long": "au plus {max_length} caractères",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "greater_than": "doit être supérieur à {gt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "multiple_of": "par pas de {multiple_of}",
    "string_pattern_mismatch": "format invalide",
    "enum": "valeur non prévue (attendu : {expected})",
    "int_parsing": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "datetime_from_date_parsing": "date invalide",
    "datetime_parsing": "date invalide",
    "datetime_type": "date invalide",
    "extra_forbidden": "champ inconnu",
    "literal_error": "valeur non prévue (attendu : {expected})",
    "bool_parsing": "oui ou non attendu (true, false)",
    "bool_type": "oui ou non attendu (true, false)",
    "less_than": "doit être inférieur à {lt}",
    "int_type": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_type": "nombre attendu",
    "string_type": "texte attendu",
    "list_type": "liste attendue",
    "dict_type": "objet attendu",
    "model_type": "objet attendu",
    "model_attributes_type": "objet attendu",
    "date_parsing": "date invalide",
    "date_from_datetime_parsing": "date invalide",
    "timezone_aware": "date avec fuseau horaire attendue",
    "json_invalid": "JSON invalide",
}


def french(item: Any) -> str:
    """One of pydantic's errors (an `errors()` item) in French."""
    template = FRENCH.get(item["type"])
    if template:
        ctx = {k: str(v).replace("' or '", "' ou '") for k, v in item.get("ctx", {}).items()}
        return template.format(**ctx)
    return str(item["msg"]).removeprefix("Value error, ")
