"""The refusals a workflow answers, typed so the API maps them to HTTP statuses (403, 409, 422)."""

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.lifecycle import allowed_actions, table_for
    from domain.models import FORBIDDEN, INVALID, NOT_ALLOWED, Actor
    from domain.stages import STAGE_LABELS_FR, Action, Stage
    from domain.table import Transition


def guard(stage: Stage, action: Action, actor: Actor) -> Transition:
    """Raise the error the API turns into 403 or 409, or return the transition's row."""
    row = table_for(stage)[action]
    if actor.role not in row.roles:
        raise forbidden(f"Le rôle « {actor.role} » ne permet pas l'action « {row.command} ».")
    if row.sources and stage not in row.sources:
        raise not_allowed(
            f"Action « {row.command} » impossible à l'étape « {STAGE_LABELS_FR[stage]} ».", stage
        )
    return row


def forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, type=FORBIDDEN, non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID, non_retryable=True)


def not_allowed(message: str, stage: Stage) -> ApplicationError:
    return ApplicationError(
        message,
        {"stage": stage, "allowed_actions": allowed_actions(stage)},
        type=NOT_ALLOWED,
        non_retryable=True,
    )
