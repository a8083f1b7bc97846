"""Roles, stages and actions: the names the lifecycle table (domain.lifecycle) is written in."""

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
    ADD_DOCUMENT = "add_document"
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
    NOTICE_SENT = "notice_sent"
    NOTICE_UNDELIVERED = "notice_undelivered"
    REQUEST_REVIEW = "request_review"
    UPHOLD_REJECTION = "uphold_rejection"
    ORDER_RE_EVALUATION = "order_re_evaluation"
    FINALIZE_REJECTION = "finalize_rejection"
    # cluster support
    OPEN_CASE = "open_case"
    SIGN_CONTRACT = "sign_contract"
    ADD_CLUSTER_DOCUMENT = "add_cluster_document"
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


C, A, K = CallStage, ApplicationStage, ClusterStage
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
