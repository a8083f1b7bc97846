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
    UNDER_EVALUATION = "under_evaluation"
    RESULTS_PUBLISHED = "results_published"
    ARCHIVED = "archived"


class ApplicationStage(StrEnum):
    RECEIVED = "received"
    WITHDRAWN = "withdrawn"
    ELIGIBILITY_REVIEW = "eligibility_review"
    COMPLEMENTS_REQUESTED = "complements_requested"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    EVALUATION = "evaluation"
    SCORED = "scored"
    LABELLED = "labelled"
    RESERVE = "reserve"
    REJECTED = "rejected"
    REVIEW_REQUESTED = "review_requested"
    REJECTION_FINAL = "rejection_final"


class ClusterStage(StrEnum):
    AWAITING_CONTRACT = "awaiting_contract"
    ACTIVE = "active"
    REPORT_REQUESTED = "report_requested"
    REPORT_OVERDUE = "report_overdue"
    UNDER_REVIEW = "under_review"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    ENDED = "ended"  # the maximum years of support are over: it may apply again


class Action(StrEnum):
    # call
    CREATE = "create"
    PUBLISH = "publish"
    OPEN = "open"
    EXTEND_DEADLINE = "extend_deadline"
    REGISTER_APPLICATION = "register_application"
    CLOSE = "close"
    START_EVALUATION = "start_evaluation"
    PUBLISH_RESULTS = "publish_results"
    ARCHIVE = "archive"
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
    ASSIGN_EVALUATORS = "assign_evaluators"
    DECLARE_INTEREST = "declare_interest"
    SUBMIT_SCORES = "submit_scores"
    REMIND_EVALUATORS = "remind_evaluators"
    FLAG_OVERDUE = "flag_overdue"
    COMPLETE_EVALUATION = "complete_evaluation"
    LABEL = "label"
    PUT_ON_RESERVE = "put_on_reserve"
    REJECT = "reject"
    NOTIFY_RESULT = "notify_result"
    REQUEST_REVIEW = "request_review"
    UPHOLD_REJECTION = "uphold_rejection"
    ORDER_RE_EVALUATION = "order_re_evaluation"
    FINALIZE_REJECTION = "finalize_rejection"
    # cluster support
    OPEN_CASE = "open_case"
    SIGN_CONTRACT = "sign_contract"
    REQUEST_REPORT = "request_report"
    REMIND_REPORT = "remind_report"
    ESCALATE_REPORT = "escalate_report"
    RECORD_REPORT = "record_report"
    RENEW = "renew"
    RENEW_ON_PROBATION = "renew_on_probation"
    REVIEW_PROBATION = "review_probation"
    SUSPEND = "suspend"
    RESUME = "resume"
    TERMINATE = "terminate"
    END_SUPPORT = "end_support"


Stage = CallStage | ApplicationStage | ClusterStage


@dataclass(frozen=True)
class Rule:
    """An action is allowed from `sources` for `roles`; `target` None keeps the stage."""

    sources: frozenset[Stage]
    target: Stage | None
    roles: frozenset[Role]


_MANAGERS = frozenset({Role.ADMIN})
_DESK = frozenset({Role.ADMIN, Role.OPERATOR})
_EVALUATORS = frozenset({Role.EVALUATOR})
_COMMITTEE = frozenset({Role.COMMITTEE})
_PUBLISHERS = frozenset({Role.ADMIN, Role.COMMITTEE})
_CLOCK = frozenset({Role.SYSTEM})
C, A = CallStage, ApplicationStage

CALL_RULES: dict[Action, Rule] = {
    Action.CREATE: Rule(frozenset(), C.DRAFT, _MANAGERS),
    Action.PUBLISH: Rule(frozenset({C.DRAFT}), C.SCHEDULED, _MANAGERS),
    Action.OPEN: Rule(frozenset({C.SCHEDULED}), C.OPEN, _CLOCK),
    Action.EXTEND_DEADLINE: Rule(frozenset({C.DRAFT, C.SCHEDULED, C.OPEN}), None, _MANAGERS),
    Action.REGISTER_APPLICATION: Rule(frozenset({C.OPEN}), None, _DESK),
    Action.CLOSE: Rule(frozenset({C.OPEN}), C.CLOSED, _CLOCK),
    Action.START_EVALUATION: Rule(frozenset({C.CLOSED}), C.UNDER_EVALUATION, _MANAGERS),
    Action.PUBLISH_RESULTS: Rule(frozenset({C.UNDER_EVALUATION}), C.RESULTS_PUBLISHED, _PUBLISHERS),
    Action.ARCHIVE: Rule(frozenset({C.RESULTS_PUBLISHED}), C.ARCHIVED, _MANAGERS),
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
    Action.ASSIGN_EVALUATORS: Rule(frozenset({A.ELIGIBLE, A.EVALUATION}), A.EVALUATION, _MANAGERS),
    Action.DECLARE_INTEREST: Rule(frozenset({A.EVALUATION}), None, _EVALUATORS),
    Action.SUBMIT_SCORES: Rule(frozenset({A.EVALUATION}), None, _EVALUATORS),
    Action.REMIND_EVALUATORS: Rule(frozenset({A.EVALUATION}), None, _CLOCK),
    Action.FLAG_OVERDUE: Rule(frozenset({A.EVALUATION}), None, _CLOCK),
    Action.COMPLETE_EVALUATION: Rule(frozenset({A.EVALUATION}), A.SCORED, _CLOCK),
    Action.LABEL: Rule(frozenset({A.SCORED}), A.LABELLED, _COMMITTEE),
    Action.PUT_ON_RESERVE: Rule(frozenset({A.SCORED}), A.RESERVE, _COMMITTEE),
    Action.REJECT: Rule(frozenset({A.SCORED}), A.REJECTED, _COMMITTEE),
    Action.NOTIFY_RESULT: Rule(frozenset({A.LABELLED, A.RESERVE, A.REJECTED}), None, _CLOCK),
    Action.REQUEST_REVIEW: Rule(frozenset({A.REJECTED}), A.REVIEW_REQUESTED, _DESK),
    Action.UPHOLD_REJECTION: Rule(frozenset({A.REVIEW_REQUESTED}), A.REJECTION_FINAL, _COMMITTEE),
    Action.ORDER_RE_EVALUATION: Rule(frozenset({A.REVIEW_REQUESTED}), A.EVALUATION, _COMMITTEE),
    Action.FINALIZE_REJECTION: Rule(frozenset({A.REJECTED}), A.REJECTION_FINAL, _CLOCK),
}

K = ClusterStage
_RUNNING = frozenset({K.ACTIVE, K.REPORT_REQUESTED, K.REPORT_OVERDUE, K.UNDER_REVIEW})
CLUSTER_RULES: dict[Action, Rule] = {
    Action.OPEN_CASE: Rule(frozenset(), K.AWAITING_CONTRACT, _CLOCK),
    Action.SIGN_CONTRACT: Rule(frozenset({K.AWAITING_CONTRACT}), K.ACTIVE, _MANAGERS),
    Action.REQUEST_REPORT: Rule(frozenset({K.ACTIVE}), K.REPORT_REQUESTED, _CLOCK),
    Action.REMIND_REPORT: Rule(frozenset({K.REPORT_REQUESTED}), None, _CLOCK),
    Action.ESCALATE_REPORT: Rule(frozenset({K.REPORT_REQUESTED}), K.REPORT_OVERDUE, _CLOCK),
    Action.RECORD_REPORT: Rule(
        frozenset({K.REPORT_REQUESTED, K.REPORT_OVERDUE}), K.UNDER_REVIEW, _DESK
    ),
    Action.RENEW: Rule(frozenset({K.UNDER_REVIEW}), K.ACTIVE, _MANAGERS),
    Action.RENEW_ON_PROBATION: Rule(frozenset({K.UNDER_REVIEW}), K.ACTIVE, _MANAGERS),
    Action.REVIEW_PROBATION: Rule(_RUNNING, None, _CLOCK),
    Action.SUSPEND: Rule(_RUNNING, K.SUSPENDED, _MANAGERS),
    Action.RESUME: Rule(frozenset({K.SUSPENDED}), None, _MANAGERS),  # back where it was
    Action.TERMINATE: Rule(_RUNNING | {K.SUSPENDED, K.AWAITING_CONTRACT}, K.TERMINATED, _MANAGERS),
    Action.END_SUPPORT: Rule(_RUNNING | {K.SUSPENDED}, K.ENDED, _CLOCK),
}
FINAL_CLUSTER_STAGES = frozenset({K.TERMINATED, K.ENDED})

# Stages after which an application workflow has nothing left to wait for.
FINAL_APPLICATION_STAGES = frozenset({A.WITHDRAWN, A.INELIGIBLE, A.REJECTION_FINAL})
# The committee's decisions; they become final or open a redress window once results are published.
DECISIONS = frozenset({A.LABELLED, A.RESERVE, A.REJECTED})
# Stages where a case waits for no decision any more before results can be published.
DECIDED_STAGES = DECISIONS | {A.WITHDRAWN, A.INELIGIBLE}

STAGE_LABELS_FR: dict[Stage, str] = {
    C.DRAFT: "brouillon",
    C.SCHEDULED: "publié, ouverture à venir",
    C.OPEN: "ouvert",
    C.CLOSED: "clôturé",
    C.UNDER_EVALUATION: "en évaluation",
    C.RESULTS_PUBLISHED: "résultats publiés",
    C.ARCHIVED: "archivé",
    A.RECEIVED: "reçue",
    A.WITHDRAWN: "retirée",
    A.ELIGIBILITY_REVIEW: "examen de recevabilité",
    A.COMPLEMENTS_REQUESTED: "compléments demandés",
    A.ELIGIBLE: "recevable",
    A.INELIGIBLE: "irrecevable",
    A.EVALUATION: "en évaluation",
    A.SCORED: "évaluée",
    A.LABELLED: "labellisée",
    A.RESERVE: "liste d'attente",
    A.REJECTED: "rejetée",
    A.REVIEW_REQUESTED: "recours en cours",
    A.REJECTION_FINAL: "rejet définitif",
    K.AWAITING_CONTRACT: "convention à signer",
    K.ACTIVE: "soutien en cours",
    K.REPORT_REQUESTED: "rapport annuel demandé",
    K.REPORT_OVERDUE: "rapport annuel en retard",
    K.UNDER_REVIEW: "rapport en examen",
    K.SUSPENDED: "soutien suspendu",
    K.TERMINATED: "soutien résilié",
    K.ENDED: "soutien achevé",
}


def rules_for(stage: Stage) -> dict[Action, Rule]:
    if isinstance(stage, CallStage):
        return CALL_RULES
    return CLUSTER_RULES if isinstance(stage, ClusterStage) else APPLICATION_RULES


def allowed_actions(stage: Stage) -> list[Action]:
    """Actions a person (not the clock) may take now, in table order."""
    return [
        action
        for action, rule in rules_for(stage).items()
        if stage in rule.sources and rule.roles != _CLOCK
    ]


ACTION_LABELS_FR: dict[Action, str] = {
    Action.CREATE: "Créer",
    Action.PUBLISH: "Publier l'appel",
    Action.OPEN: "Ouverture",
    Action.EXTEND_DEADLINE: "Prolonger la date limite",
    Action.REGISTER_APPLICATION: "Enregistrer une candidature",
    Action.CLOSE: "Clôture",
    Action.START_EVALUATION: "Lancer l'évaluation",
    Action.PUBLISH_RESULTS: "Publier les résultats",
    Action.ARCHIVE: "Archiver",
    Action.REGISTER: "Enregistrement",
    Action.AMEND: "Modifier",
    Action.WITHDRAW: "Retirer la candidature",
    Action.CLOSE_SUBMISSIONS: "Date limite atteinte",
    Action.MARK_ELIGIBLE: "Déclarer recevable",
    Action.MARK_INELIGIBLE: "Déclarer irrecevable",
    Action.REQUEST_COMPLEMENTS: "Demander des compléments",
    Action.SUBMIT_COMPLEMENTS: "Enregistrer les compléments",
    Action.EXPIRE_COMPLEMENTS: "Compléments non reçus",
    Action.ASSIGN_EVALUATORS: "Affecter des évaluateurs",
    Action.DECLARE_INTEREST: "Déclarer mes intérêts",
    Action.SUBMIT_SCORES: "Transmettre ma grille",
    Action.REMIND_EVALUATORS: "Rappel aux évaluateurs",
    Action.FLAG_OVERDUE: "Évaluation en retard",
    Action.COMPLETE_EVALUATION: "Évaluation complète",
    Action.LABEL: "Labelliser",
    Action.PUT_ON_RESERVE: "Liste d'attente",
    Action.REJECT: "Rejeter",
    Action.NOTIFY_RESULT: "Résultat notifié",
    Action.REQUEST_REVIEW: "Demander un réexamen",
    Action.UPHOLD_REJECTION: "Maintenir le rejet",
    Action.ORDER_RE_EVALUATION: "Ordonner une nouvelle évaluation",
    Action.FINALIZE_REJECTION: "Rejet définitif",
    Action.OPEN_CASE: "Ouverture du dossier de soutien",
    Action.SIGN_CONTRACT: "Signer la convention",
    Action.REQUEST_REPORT: "Rapport annuel demandé",
    Action.REMIND_REPORT: "Rappel du rapport",
    Action.ESCALATE_REPORT: "Rapport en retard",
    Action.RECORD_REPORT: "Enregistrer le rapport annuel",
    Action.RENEW: "Renouveler",
    Action.RENEW_ON_PROBATION: "Renouveler sous probation",
    Action.REVIEW_PROBATION: "Revue de probation",
    Action.SUSPEND: "Suspendre",
    Action.RESUME: "Reprendre",
    Action.TERMINATE: "Résilier",
    Action.END_SUPPORT: "Fin du soutien",
}
