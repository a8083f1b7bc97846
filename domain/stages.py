"""Stages, actions and who may take them: the lifecycle as data."""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    EVALUATOR = "evaluator"
    COMMITTEE = "committee"
    SYSTEM = "system"  # the clock; never held by a token


class CallStage(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # published, waiting for its opening time
    OPEN = "open"
    CLOSED = "closed"


class ApplicationStage(StrEnum):
    RECEIVED = "received"
    WITHDRAWN = "withdrawn"
    ELIGIBILITY_REVIEW = "eligibility_review"
    COMPLEMENTS_REQUESTED = "complements_requested"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"


class Action(StrEnum):
    # call
    CREATE = "create"
    PUBLISH = "publish"
    OPEN = "open"
    EXTEND_DEADLINE = "extend_deadline"
    REGISTER_APPLICATION = "register_application"
    CLOSE = "close"
    # application
    REGISTER = "register"
    AMEND = "amend"
    WITHDRAW = "withdraw"
    CLOSE_SUBMISSIONS = "close_submissions"
    MARK_ELIGIBLE = "mark_eligible"
    MARK_INELIGIBLE = "mark_ineligible"
    REQUEST_COMPLEMENTS = "request_complements"
    SUBMIT_COMPLEMENTS = "submit_complements"
    EXPIRE_COMPLEMENTS = "expire_complements"


Stage = CallStage | ApplicationStage


@dataclass(frozen=True)
class Rule:
    """An action is allowed from `sources` for `roles`; `target` None keeps the stage."""

    sources: frozenset[Stage]
    target: Stage | None
    roles: frozenset[Role]


_MANAGERS = frozenset({Role.ADMIN})
_DESK = frozenset({Role.ADMIN, Role.OPERATOR})
_CLOCK = frozenset({Role.SYSTEM})
C, A = CallStage, ApplicationStage

CALL_RULES: dict[Action, Rule] = {
    Action.CREATE: Rule(frozenset(), C.DRAFT, _MANAGERS),
    Action.PUBLISH: Rule(frozenset({C.DRAFT}), C.SCHEDULED, _MANAGERS),
    Action.OPEN: Rule(frozenset({C.SCHEDULED}), C.OPEN, _CLOCK),
    Action.EXTEND_DEADLINE: Rule(frozenset({C.DRAFT, C.SCHEDULED, C.OPEN}), None, _MANAGERS),
    Action.REGISTER_APPLICATION: Rule(frozenset({C.OPEN}), None, _DESK),
    Action.CLOSE: Rule(frozenset({C.OPEN}), C.CLOSED, _CLOCK),
}

APPLICATION_RULES: dict[Action, Rule] = {
    Action.REGISTER: Rule(frozenset(), A.RECEIVED, _DESK),
    Action.AMEND: Rule(frozenset({A.RECEIVED}), None, _DESK),
    Action.WITHDRAW: Rule(frozenset({A.RECEIVED}), A.WITHDRAWN, _DESK),
    Action.CLOSE_SUBMISSIONS: Rule(frozenset({A.RECEIVED}), A.ELIGIBILITY_REVIEW, _CLOCK),
    Action.MARK_ELIGIBLE: Rule(frozenset({A.ELIGIBILITY_REVIEW}), A.ELIGIBLE, _DESK),
    Action.MARK_INELIGIBLE: Rule(frozenset({A.ELIGIBILITY_REVIEW}), A.INELIGIBLE, _DESK),
    Action.REQUEST_COMPLEMENTS: Rule(
        frozenset({A.ELIGIBILITY_REVIEW}), A.COMPLEMENTS_REQUESTED, _DESK
    ),
    Action.SUBMIT_COMPLEMENTS: Rule(
        frozenset({A.COMPLEMENTS_REQUESTED}), A.ELIGIBILITY_REVIEW, _DESK
    ),
    Action.EXPIRE_COMPLEMENTS: Rule(frozenset({A.COMPLEMENTS_REQUESTED}), A.INELIGIBLE, _CLOCK),
}

# Stages after which an application workflow has nothing left to wait for.
FINAL_APPLICATION_STAGES = frozenset({A.WITHDRAWN, A.INELIGIBLE})

STAGE_LABELS_FR: dict[Stage, str] = {
    C.DRAFT: "brouillon",
    C.SCHEDULED: "publié, ouverture à venir",
    C.OPEN: "ouvert",
    C.CLOSED: "clôturé",
    A.RECEIVED: "reçue",
    A.WITHDRAWN: "retirée",
    A.ELIGIBILITY_REVIEW: "examen de recevabilité",
    A.COMPLEMENTS_REQUESTED: "compléments demandés",
    A.ELIGIBLE: "recevable",
    A.INELIGIBLE: "irrecevable",
}


def rules_for(stage: Stage) -> dict[Action, Rule]:
    return CALL_RULES if isinstance(stage, CallStage) else APPLICATION_RULES


def allowed_actions(stage: Stage) -> list[Action]:
    """Actions a person (not the clock) may take now, in table order."""
    return [
        action
        for action, rule in rules_for(stage).items()
        if stage in rule.sources and rule.roles != _CLOCK
    ]


def may(role: Role, action: Action, table: dict[Action, Rule]) -> bool:
    return role in table[action].roles
