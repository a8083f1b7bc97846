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
}
CLOSED = {
    Kind.CALL: "Cet appel est clos.",
    Kind.APPLICATION: "Ce dossier est clos.",
    Kind.CLUSTER: "Ce dossier de soutien est clos.",
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
