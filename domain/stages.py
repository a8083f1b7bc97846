"""Roles, stages and actions: the names the lifecycle table (domain.lifecycle) is written in."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    EVALUATOR = "evaluator"
    COMMITTEE = "committee"
    FINANCE = "finance"  # releases and pays the tranches (domain.money)
    # A person of an association acting in the applicants' portal (portal/): never holds an API
    # token nor a console session (web.tokens.PERSON_ROLES leaves it out).
    APPLICANT = "applicant"
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
    NOT_RETAINED = "not_retained"  # left on the reserve list when it expired: funds ran out


class ClusterStage(StrEnum):
    AWAITING_CONTRACT = "awaiting_contract"
    ACTIVE = "active"
    REPORT_REQUESTED = "report_requested"
    REPORT_OVERDUE = "report_overdue"
    UNDER_REVIEW = "under_review"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    ENDED = "ended"  # the maximum years of support are over: it may apply again


class SessionStage(StrEnum):
    """A committee session (domain.session)."""

    DRAFT = "session_draft"
    CONVENED = "convened"  # agenda frozen, members called
    OPEN = "session_open"  # quorum reached: items are opened and decided one by one
    CLOSED = "session_closed"  # every item decided: the PV is built, awaiting its signatures
    SIGNED = "pv_signed"  # the PV signed by the president and the secretary


class Action(StrEnum):
    # call
    CREATE = "create"
    PUBLISH = "publish"
    REVISE_CALL = "revise_call"
    OPEN = "open"
    EXTEND_DEADLINE = "extend_deadline"
    REGISTER_APPLICATION = "register_application"
    CLOSE = "close"
    START_EVALUATION = "start_evaluation"
    ANNOUNCE_ASSIGNMENTS = "announce_assignments"
    PUBLISH_RESULTS = "publish_results"
    ARCHIVE = "archive"
    SET_BUDGET = "set_budget"
    PROPOSE_PROMOTION = "propose_promotion"
    CLOSE_RESERVE = "close_reserve"
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
    RELEASE_EVALUATOR = "release_evaluator"
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
    COMPILE_REDRESS_DOSSIER = "compile_redress_dossier"
    UPHOLD_REJECTION = "uphold_rejection"
    ORDER_RE_EVALUATION = "order_re_evaluation"
    FINALIZE_REJECTION = "finalize_rejection"
    PROMOTE = "promote"
    EXPIRE_RESERVE = "expire_reserve"
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
    RENOUNCE = "renounce"
    LAPSE_CONTRACT = "lapse_contract"
    REFUSE_REPORT = "refuse_report"
    APPROVE_CONDITION = "approve_condition"
    RELEASE_TRANCHE = "release_tranche"
    PAY_TRANCHE = "pay_tranche"
    REJECT_PAYMENT = "reject_payment"
    # committee session
    CREATE_SESSION = "create_session"
    REVISE_SESSION = "revise_session"
    CONVENE = "convene"
    RECORD_ATTENDANCE = "record_attendance"
    OPEN_SESSION = "open_session"
    ADD_ITEM = "add_item"
    REMOVE_ITEM = "remove_item"
    OPEN_ITEM = "open_item"
    DECIDE_ITEM = "decide_item"
    CLOSE_SESSION = "close_session"
    SIGN_PV = "sign_pv"
    DEPOSIT_SIGNED_PV = "deposit_signed_pv"
    CORRECT_PV = "correct_pv"


Stage = CallStage | ApplicationStage | ClusterStage | SessionStage


class Tone(StrEnum):
    """How a stage's badge says the case went."""

    GOING = ""  # goes on or went well (green)
    WAITING = "attente"  # waits on someone (amber)
    ADVERSE = "retard"  # ended badly or is late (red)


class Party(StrEnum):
    """Whom a stage waits on (the applicant acts in the portal as Role.APPLICANT)."""

    APPLICANT = "le porteur du projet"
    OPERATOR = "l'opérateur"
    ADMIN = "l'administrateur"
    EVALUATOR = "les évaluateurs"
    COMMITTEE = "le comité"
    CLOCK = "l'échéance"
    NOBODY = "personne"


class Step(IntEnum):
    """A call's funnel: the furthest step an application in a stage has reached."""

    REGISTERED = 0
    EXAMINED = 1
    ELIGIBLE = 2
    EVALUATED = 3
    LABELLED = 4


STEP_LABELS_FR = ("enregistrées", "examinées", "recevables", "évaluées", "labellisées")


class Due(StrEnum):
    """Where a stage's due date comes from (the case's state holds the date)."""

    OPENING = "opening"  # the call's opening
    DEADLINE = "deadline"  # the call's deadline
    COMPLEMENTS = "complements"  # the complements request's due date
    EVALUATION = "evaluation"  # the evaluators' due date
    REDRESS = "redress"  # the end of the redress window
    REPORT = "report"  # the support year's anniversary, when the annual report is due


@dataclass(frozen=True, kw_only=True)
class Todo:
    """A stage listed in one role's « À traiter », under a heading."""

    role: Role
    heading: str


@dataclass(frozen=True, kw_only=True)
class StageRecord:
    """Every fact about one stage; no field has a default, so none can be forgotten."""

    label: str  # the staff's label
    public: str  # what the applicant reads
    tone: Tone
    waits_on: Party
    due: Due | None
    step: Step | None  # applications only: the funnel step reached
    decided: bool  # applications only: no decision awaited before results can be published
    final: bool  # nothing can happen any more (checked against the lifecycle table)
    todo: Todo | None


def _record(label: str, public: str, tone: Tone, waits_on: Party, **facts: object) -> StageRecord:
    return StageRecord(label=label, public=public, tone=tone, waits_on=waits_on, **facts)  # type: ignore[arg-type]


G, W, X = Tone.GOING, Tone.WAITING, Tone.ADVERSE
P = Party
C, A, K, S = CallStage, ApplicationStage, ClusterStage, SessionStage
_CALL = {"step": None, "decided": False, "todo": None}
_CLUSTER = {"step": None, "decided": False}
_SESSION = {"step": None, "decided": False, "due": None}
STAGES: dict[Stage, StageRecord] = {
    C.DRAFT: _record("brouillon", "en préparation", G, P.ADMIN, due=None, final=False, **_CALL),
    C.SCHEDULED: _record(
        "publié, ouverture à venir",
        "ouverture à venir",
        G,
        P.CLOCK,
        due=Due.OPENING,
        final=False,
        **_CALL,
    ),
    C.OPEN: _record("ouvert", "ouvert", G, P.CLOCK, due=Due.DEADLINE, final=False, **_CALL),
    C.CLOSED: _record("clôturé", "clôturé", G, P.ADMIN, due=None, final=False, **_CALL),
    C.UNDER_EVALUATION: _record(
        "en évaluation", "en évaluation", G, P.COMMITTEE, due=None, final=False, **_CALL
    ),
    C.RESULTS_PUBLISHED: _record(
        "résultats publiés", "résultats publiés", G, P.ADMIN, due=None, final=False, **_CALL
    ),
    C.ARCHIVED: _record("archivé", "archivé", G, P.NOBODY, due=None, final=True, **_CALL),
    A.RECEIVED: _record(
        "reçue",
        "candidature reçue",
        G,
        P.CLOCK,
        due=None,
        step=Step.REGISTERED,
        decided=False,
        final=False,
        todo=None,
    ),
    A.WITHDRAWN: _record(
        "retirée",
        "candidature retirée",
        X,
        P.NOBODY,
        due=None,
        step=Step.REGISTERED,
        decided=True,
        final=True,
        todo=None,
    ),
    A.ELIGIBILITY_REVIEW: _record(
        "examen de recevabilité",
        "dossier en cours d'examen",
        W,
        P.OPERATOR,
        due=None,
        step=Step.EXAMINED,
        decided=False,
        final=False,
        todo=Todo(role=Role.OPERATOR, heading="Recevabilité à prononcer"),
    ),
    A.COMPLEMENTS_REQUESTED: _record(
        "compléments demandés",
        "compléments à fournir",
        W,
        P.APPLICANT,
        due=Due.COMPLEMENTS,
        step=Step.EXAMINED,
        decided=False,
        final=False,
        todo=Todo(role=Role.OPERATOR, heading="Compléments attendus"),
    ),
    A.ELIGIBLE: _record(
        "recevable",
        "dossier recevable",
        G,
        P.ADMIN,
        due=None,
        step=Step.ELIGIBLE,
        decided=False,
        final=False,
        todo=Todo(role=Role.ADMIN, heading="Évaluateurs à affecter"),
    ),
    A.INELIGIBLE: _record(
        "irrecevable",
        "dossier irrecevable",
        X,
        P.NOBODY,
        due=None,
        step=Step.EXAMINED,
        decided=True,
        final=True,
        todo=None,
    ),
    A.EVALUATION: _record(
        "en évaluation",
        "en cours d'évaluation",
        W,
        P.EVALUATOR,
        due=Due.EVALUATION,
        step=Step.ELIGIBLE,
        decided=False,
        final=False,
        todo=None,
    ),
    A.SCORED: _record(
        "évaluée",
        "en cours d'évaluation",
        G,
        P.COMMITTEE,
        due=None,
        step=Step.EVALUATED,
        decided=False,
        final=False,
        todo=Todo(role=Role.COMMITTEE, heading="Dossiers à décider"),
    ),
    A.LABELLED: _record(
        "labellisée",
        "cluster labellisé",
        G,
        P.CLOCK,
        due=None,
        step=Step.LABELLED,
        decided=True,
        final=False,
        todo=None,
    ),
    A.RESERVE: _record(
        "liste d'attente",
        "en liste d'attente",
        W,
        P.NOBODY,
        due=None,
        step=Step.EVALUATED,
        decided=True,
        final=False,
        todo=None,
    ),
    A.REJECTED: _record(
        "rejetée",
        "candidature non retenue",
        X,
        P.APPLICANT,
        due=Due.REDRESS,
        step=Step.EVALUATED,
        decided=True,
        final=False,
        todo=None,
    ),
    A.REVIEW_REQUESTED: _record(
        "recours en cours",
        "recours en cours d'examen",
        W,
        P.COMMITTEE,
        due=None,
        step=Step.EVALUATED,
        decided=False,
        final=False,
        todo=Todo(role=Role.COMMITTEE, heading="Demandes de recours"),
    ),
    A.REJECTION_FINAL: _record(
        "rejet définitif",
        "candidature non retenue",
        X,
        P.NOBODY,
        due=None,
        step=Step.EVALUATED,
        decided=True,
        final=True,
        todo=None,
    ),
    A.NOT_RETAINED: _record(
        "non retenue (fonds insuffisants)",
        "candidature non retenue — fonds insuffisants",
        X,
        P.NOBODY,
        due=None,
        step=Step.EVALUATED,
        decided=True,
        final=True,
        todo=None,
    ),
    K.AWAITING_CONTRACT: _record(
        "convention à signer",
        "convention à signer",
        W,
        P.ADMIN,
        due=None,
        final=False,
        todo=Todo(role=Role.ADMIN, heading="Conventions à signer"),
        **_CLUSTER,
    ),
    K.ACTIVE: _record(
        "soutien en cours",
        "soutien en cours",
        G,
        P.CLOCK,
        due=None,
        final=False,
        todo=None,
        **_CLUSTER,
    ),
    K.REPORT_REQUESTED: _record(
        "rapport annuel demandé",
        "rapport annuel à envoyer",
        W,
        P.APPLICANT,
        due=Due.REPORT,
        final=False,
        todo=Todo(role=Role.OPERATOR, heading="Rapports annuels à enregistrer"),
        **_CLUSTER,
    ),
    K.REPORT_OVERDUE: _record(
        "rapport annuel en retard",
        "rapport annuel en retard",
        X,
        P.APPLICANT,
        due=Due.REPORT,
        final=False,
        todo=Todo(role=Role.OPERATOR, heading="Rapports annuels à enregistrer"),
        **_CLUSTER,
    ),
    K.UNDER_REVIEW: _record(
        "rapport en examen",
        "rapport annuel en examen",
        W,
        P.ADMIN,
        due=None,
        final=False,
        todo=Todo(role=Role.ADMIN, heading="Renouvellements à décider"),
        **_CLUSTER,
    ),
    K.SUSPENDED: _record(
        "soutien suspendu",
        "soutien suspendu",
        W,
        P.ADMIN,
        due=None,
        final=False,
        todo=None,
        **_CLUSTER,
    ),
    K.TERMINATED: _record(
        "soutien résilié",
        "soutien résilié",
        X,
        P.NOBODY,
        due=None,
        final=True,
        todo=None,
        **_CLUSTER,
    ),
    K.ENDED: _record(
        "soutien achevé",
        "soutien achevé",
        G,
        P.NOBODY,
        due=None,
        final=True,
        todo=None,
        **_CLUSTER,
    ),
    S.DRAFT: _record(
        "séance en préparation",
        "séance en préparation",
        G,
        P.ADMIN,
        final=False,
        todo=Todo(role=Role.ADMIN, heading="Séances à convoquer"),
        **_SESSION,
    ),
    S.CONVENED: _record(
        "séance convoquée", "séance convoquée", G, P.COMMITTEE, final=False, todo=None, **_SESSION
    ),
    S.OPEN: _record(
        "séance ouverte",
        "séance ouverte",
        W,
        P.COMMITTEE,
        final=False,
        todo=Todo(role=Role.COMMITTEE, heading="Séances en cours"),
        **_SESSION,
    ),
    S.CLOSED: _record(
        "PV à signer",
        "procès-verbal en signature",
        W,
        P.COMMITTEE,
        final=False,
        todo=Todo(role=Role.COMMITTEE, heading="Procès-verbaux à signer"),
        **_SESSION,
    ),
    S.SIGNED: _record(
        "PV signé", "procès-verbal signé", G, P.NOBODY, final=False, todo=None, **_SESSION
    ),
}


def _check_records() -> None:
    """Every stage of every kind has its record, with non-empty labels; an application's record
    says its funnel step, a call's and a cluster's none."""
    for kind in (CallStage, ApplicationStage, ClusterStage, SessionStage):
        for stage in kind:
            record = STAGES.get(stage)
            if record is None:
                raise TypeError(f"stage {stage!r} has no record in domain.stages.STAGES")
            if not record.label.strip() or not record.public.strip():
                raise TypeError(f"stage {stage!r}: empty label")
            if (record.step is None) == (kind is ApplicationStage):
                raise TypeError(f"stage {stage!r}: a funnel step is for applications only")
            if record.todo is not None and not record.todo.heading.strip():
                raise TypeError(f"stage {stage!r}: empty « À traiter » heading")


_check_records()


def stages_where(kind: type[StrEnum], test: Callable[[StageRecord], bool]) -> frozenset[Stage]:
    """The stages of one kind whose record passes `test`, e.g. the final ones."""
    return frozenset(s for s in kind if test(STAGES[s]))  # type: ignore[index]


STAGE_LABELS_FR: dict[Stage, str] = {stage: record.label for stage, record in STAGES.items()}
FINAL_CLUSTER_STAGES = stages_where(ClusterStage, lambda r: r.final)
# Stages after which an application workflow has nothing left to wait for.
FINAL_APPLICATION_STAGES = stages_where(ApplicationStage, lambda r: r.final)
# Stages where a case waits for no decision any more before results can be published.
DECIDED_STAGES = stages_where(ApplicationStage, lambda r: r.decided)
