"""Messages shared by the API, the workflows and the activities (pydantic, JSON on the wire)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.fields import (
    MAX_CASE_BYTES,
    MAX_FILE_BYTES,
    MAX_MEMBERS,
    NOTICE_DAYS,
    DocumentId,
    Email,
    Input,  # noqa: F401 (its historical home: imported from here)
    LongText,
    Moment,
    Phone,
    Text,
    TextList,
    distinct,
)
from domain.money import MAX_YEARS, Amount, Budget
from domain.stages import STAGES, Action, ApplicationStage, CallStage, Due, Role

S = TypeVar("S")


class Actor(BaseModel):
    name: str
    role: Role
    # The fingerprint of the HTTP request this actor acts through (web.commands.fingerprint):
    # an update answers it back, so a repeated Idempotency-Key is checked against its request.
    request: str | None = None


CLOCK = Actor(name="horloge", role=Role.SYSTEM)


class Criterion(Input):
    code: Annotated[str, StringConstraints(max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: Text
    weight: float = Field(gt=0, le=100)
    threshold: float = Field(default=0, ge=0, le=5)


class Grid(Input):
    criteria: list[Criterion] = Field(min_length=1, max_length=20)
    overall_threshold: float = Field(default=3, ge=0, le=5)

    @model_validator(mode="after")
    def _codes_distinct(self) -> "Grid":
        distinct([c.code for c in self.criteria])
        return self


DEFAULT_GRID = Grid(
    criteria=[
        Criterion(
            code="strategy", label="Stratégie et création de valeur", weight=25, threshold=2.5
        ),
        Criterion(
            code="innovation",
            label="Innovation collaborative et plan R&D",
            weight=25,
            threshold=2.5,
        ),
        Criterion(code="governance", label="Gouvernance et équipe", weight=20, threshold=2.5),
        Criterion(code="ecosystem", label="Membres et écosystème", weight=15, threshold=2),
        Criterion(code="budget", label="Budget et pérennité", weight=15, threshold=2),
    ],
    overall_threshold=3,
)
DEFAULT_SECTORS = [
    "aéronautique",
    "électronique et mécatronique",
    "énergies renouvelables",
    "technologies vertes",
    "biomasse",
    "textile",
    "agro-industrie et cosmétique",
    "produits de la mer",
    "TIC",
    "dispositifs médicaux",
]
DEFAULT_DOCUMENTS = [
    "dossier de candidature",
    "statuts de l'association",
    "liste des membres et lettres d'engagement",
    "plan stratégique et plan d'action",
    "budget prévisionnel",
]


class CallRules(Input):
    """The call's rules, frozen at publication and copied into each of its applications."""

    sectors: TextList = Field(default_factory=lambda: list(DEFAULT_SECTORS), min_length=1)
    required_documents: TextList = Field(default_factory=lambda: list(DEFAULT_DOCUMENTS))
    grid: Grid = DEFAULT_GRID
    evaluators_per_application: int = Field(default=3, ge=1, le=9)
    complement_response_days: int = Field(default=10, ge=1, le=90)
    max_support_years: int = Field(default=8, ge=1, le=30)
    evaluation_days: int = Field(default=21, ge=1, le=180, description="Délai des évaluateurs.")
    reminder_days: list[int] = Field(
        default_factory=lambda: [7, 2],
        max_length=5,
        description="Rappels, en jours avant l'échéance.",
    )
    consensus_spread: float = Field(
        default=1.0, ge=0, le=5, description="Écart entre évaluateurs qui appelle une discussion."
    )
    redress_days: int = Field(
        default=30, ge=1, le=120, description="Délai de recours après rejet, en jours ouvrés."
    )
    contract_days: int = Field(
        default=90,
        ge=1,
        le=365,
        description="Délai de signature de la convention après la labellisation, en jours.",
    )
    report_lead_days: int = Field(
        default=30, ge=1, le=180, description="Rapport annuel demandé N jours avant l'anniversaire."
    )
    report_reminder_days: list[int] = Field(
        default_factory=lambda: [14, 3], max_length=5, description="Rappels avant l'échéance."
    )
    notice_days: int = Field(
        default=NOTICE_DAYS,
        ge=1,
        le=30,
        description="Jours d'essais d'envoi d'un courrier ; au-delà, le dossier est signalé.",
    )
    max_file_bytes: int = Field(
        default=MAX_FILE_BYTES, ge=2**20, le=100 * 2**20, description="Taille d'un fichier déposé."
    )
    max_application_bytes: int = Field(
        default=MAX_CASE_BYTES,
        ge=2**20,
        le=2**30,
        description="Taille de tous les fichiers d'une candidature.",
    )

    @model_validator(mode="after")
    def _reminders_before_due(self) -> "CallRules":
        if any(d < 1 or d >= self.evaluation_days for d in self.reminder_days):
            raise ValueError("les rappels tombent entre 1 jour et le délai d'évaluation")
        if any(d < 1 or d >= self.report_lead_days for d in self.report_reminder_days):
            raise ValueError("les rappels de rapport tombent entre 1 jour et le préavis du rapport")
        return self


class CallSpec(CallRules):
    year: int = Field(ge=2000, le=2100)
    title: Text
    opens_at: Moment
    deadline: Moment = Field(description="Date seule : 15h00, heure de Rabat.")

    @field_validator("deadline")
    @classmethod
    def _deadline_after_opening(cls, deadline: datetime, info: ValidationInfo) -> datetime:
        """On the deadline itself, so a form shows the error beside it."""
        opens_at = info.data.get("opens_at")
        if opens_at is not None and deadline <= opens_at:
            raise ValueError("la date limite doit suivre la date d'ouverture")
        return deadline

    def rules(self) -> CallRules:
        return CallRules.model_validate(self.model_dump(include=set(CallRules.model_fields)))


class CallState(BaseModel):
    id: str
    stage: CallStage
    spec: CallSpec
    budget: Budget | None = None  # the envelope per budget year (domain.money)
    promotions: list[str] = Field(default_factory=list)  # reserve files proposed, in turn
    freed: list[str] = Field(default_factory=list)  # laureates lost whose funds came back
    freed_handled: int = 0  # of those, how many have had their proposal
    reserve_closed: bool = False
    seq: int = 0  # 0 until the create update has been recorded
    updated_at: Moment


class CallStart(BaseModel):
    """Input of a call workflow run; a continued run carries its registered applications."""

    state: CallState
    registered: list[str] = Field(default_factory=list)


class MemberType(StrEnum):
    COMPANY = "company"
    STARTUP = "startup"
    RESEARCH = "research"
    TRAINING = "training"
    OTHER = "other"


class Member(Input):
    name: Text
    type: MemberType


# The languages a contact reads its notices in (domain.notices words each one in both).
Language = Literal["fr", "ar"]


class Contact(Input):
    name: Text
    email: Email
    phone: Phone | None = None
    # An older history, written before the portal's Arabic, has none: its notices stay French.
    language: Language = Field(default="fr", description="Langue des courriers : fr ou ar.")


class ApplicationInput(Input):
    cluster_name: Text
    legal_form: Text = "association"
    sector: Text
    members: list[Member] = Field(default_factory=list, max_length=MAX_MEMBERS)
    existing_cluster: bool = False
    support_years: int = Field(default=0, ge=0, le=60)
    contact: Contact
    previous_cluster_id: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^[0-9a-f]{1,32}$",
        description="Cluster déjà soutenu (id de son dossier de soutien) : lie la candidature à son historique.",
    )
    requested_amounts: list[Amount] = Field(
        default_factory=list,
        max_length=MAX_YEARS,
        description="Soutien demandé par année de convention, en MAD.",
    )


class Amendment(Input):
    """Fields to replace; those left out (or null) keep their value."""

    cluster_name: Text | None = None
    legal_form: Text | None = None
    sector: Text | None = None
    members: list[Member] | None = Field(default=None, max_length=MAX_MEMBERS)
    existing_cluster: bool | None = None
    support_years: int | None = Field(default=None, ge=0, le=60)
    contact: Contact | None = None
    requested_amounts: list[Amount] | None = Field(default=None, max_length=MAX_YEARS)
    previous_cluster_id: str | None = Field(
        default=None, max_length=32, pattern=r"^[0-9a-f]{1,32}$"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> "Amendment":
        if not self.changes():
            raise ValueError("indiquez au moins un champ à modifier")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: value for name, value in self if value is not None}

    def applied_to(self, data: "ApplicationInput") -> "ApplicationInput":
        """`data` with these changes; a new contact that does not say its language keeps the
        one the applicant chose (the console's form and older clients do not send it)."""
        changes = self.changes()
        if self.contact is not None and "language" not in self.contact.model_fields_set:
            changes["contact"] = self.contact.model_copy(update={"language": data.contact.language})
        return data.model_copy(update=changes)


class CheckItem(BaseModel):
    code: str
    label: str
    passed: bool
    detail: str = ""


class FromNotice(BaseModel):
    """A response time counted from the moment its notice was sent (as the EU counts from
    receipt): `due_at` is unknown until then; a notice never sent flags the case instead."""

    notice: str = ""  # the notice's key in the outbox
    days: int | None = None  # the response time; None: `due_at` was given
    due_at: Moment | None = None
    undelivered: bool = False  # the notice could not be sent: no clock runs
    working_days: bool = False  # `days` are Morocco's working days (domain.workdays)


class ComplementRequest(FromNotice):
    items: list[str]
    note: str | None = None
    requested_at: Moment
    answered_at: Moment | None = None


class CriterionScore(Input):
    criterion: str = Field(max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")
    score: float = Field(ge=0, le=5, multiple_of=0.5, description="De 0 à 5, par demi-points.")
    comment: LongText


class ScoreSheet(Input):
    scores: list[CriterionScore] = Field(min_length=1, max_length=20)
    comment: LongText | None = None


class Assignment(BaseModel):
    evaluator: str
    assigned_at: Moment
    declared_at: Moment | None = None
    conflict: bool = False  # a declared conflict releases the assignment
    released_at: Moment | None = None  # withdrawn by a manager (an account deactivated, …)
    submitted_at: Moment | None = None
    sheet: ScoreSheet | None = None

    @property
    def active(self) -> bool:
        return not self.conflict and self.released_at is None


class EvaluationResult(BaseModel):
    weighted_score: float
    criterion_means: dict[str, float]
    evaluator_scores: dict[str, float]
    spread: float
    consensus_needed: bool
    thresholds_met: bool
    failed_criteria: list[str]


class Evaluation(BaseModel):
    assignments: list[Assignment] = Field(default_factory=list)
    due_at: Moment | None = None
    reminders_sent: int = 0
    overdue: bool = False
    result: EvaluationResult | None = None

    def active(self) -> list[Assignment]:
        return [a for a in self.assignments if a.active]

    def of(self, evaluator: str) -> Assignment | None:
        return next((a for a in self.assignments if a.evaluator == evaluator and a.active), None)

    def waiting(self) -> list[Assignment]:
        return [a for a in self.active() if a.submitted_at is None]

    def missing(self, required: int) -> int:
        """How many evaluators the case still lacks (a conflict or a release leaves a gap)."""
        return max(0, required - len(self.active()))


class Decision(BaseModel):
    outcome: ApplicationStage
    reason: str  # the applicant reads it
    internal_note: str | None = None  # the committee's own
    decided_by: str
    decided_at: Moment
    published_at: Moment | None = None
    session_id: str | None = None  # decided in that committee session
    amounts: list[float] = Field(default_factory=list)  # granted per year (MAD)


class Redress(FromNotice):
    working_days: bool = True
    requested_at: Moment | None = None
    reason: str | None = None
    answer: str | None = None
    dossier: str | None = None  # the redress dossier's SHA-256 (storage keeps it by it)


SHA256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", max_length=64)]


class Deposit(Input):
    """A file stored for an application (projection.storage), as its workflow records it: a reference,
    never the bytes."""

    id: DocumentId
    kind: Text
    filename: Text
    content_type: Annotated[str, StringConstraints(max_length=100)]
    size: int = Field(ge=1, le=2**31 - 1)
    sha256: SHA256


class DocumentRef(Deposit):
    uploaded_by: Text
    uploaded_at: Moment


class ApplicationState(BaseModel):
    id: str
    call_id: str
    call_title: str = ""  # letters name the call by its title
    stage: ApplicationStage
    data: ApplicationInput
    deadline: Moment
    registered_at: Moment
    checklist: list[CheckItem] = Field(default_factory=list)
    complements: ComplementRequest | None = None
    reason: str | None = None
    evaluation: Evaluation | None = None
    decision: Decision | None = None
    redress: Redress | None = None
    session_id: str | None = None  # on the agenda of that committee session
    cluster_id: str | None = None
    files: list[DocumentRef] = Field(default_factory=list)
    seq: int = 0
    updated_at: Moment

    def due_at(self) -> datetime | None:
        """When what the case waits for is due, where its stage's record says it comes from."""
        source = {
            Due.COMPLEMENTS: self.complements,
            Due.EVALUATION: self.evaluation,
            Due.REDRESS: self.redress,
        }.get(STAGES[self.stage].due)  # type: ignore[arg-type]
        return source.due_at if source else None


# Bodies of operator transitions.
class Registration(BaseModel):
    application_id: str
    data: ApplicationInput
    # The dossier's files, already in storage, deposited with it in the same update (the
    # portal's deposit); none when the desk registers and deposits file by file.
    files: list[Deposit] = Field(default_factory=list, max_length=40)


class Answer(BaseModel, Generic[S]):
    """What an operator transition's update answers: the case's new state, and the fingerprint
    of the request that made it (see Actor.request)."""

    state: S
    request: str | None = None


# What the workflows hand to the projection.
class AuditEvent(BaseModel):
    workflow_id: str
    seq: int
    case_id: str
    action: Action
    actor: str
    role: Role
    at: Moment
    from_stage: str | None
    to_stage: str
    reason: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class Notification(BaseModel):
    recipient: str
    subject: str
    body: str
    kind: str = ""  # the notices function that wrote it (domain.notices)
    # A response time counted from the sending: the body's DUE mark becomes its date then.
    due_days: int | None = None
    due_working: bool = False  # counted in Morocco's working days


class CallRecord(BaseModel):
    state: CallState
    event: AuditEvent
    notifications: list[Notification] = Field(default_factory=list)


class ApplicationRecord(BaseModel):
    state: ApplicationState
    event: AuditEvent
    notifications: list[Notification] = Field(default_factory=list)


class ApplicationStart(BaseModel):
    """Input of an application workflow: its registration, already projected."""

    state: ApplicationState
    rules: CallRules


class ClusterStart(BaseModel):
    """Input of the cluster support case `cluster-{id}` a labelled application starts."""

    cluster_id: str
    application_id: str
    call_id: str
    cluster_name: str
    sector: str
    labelled_at: Moment
    max_support_years: int
    contact_email: str | None = None
    contact_language: Language = "fr"  # the cluster's notices are worded in it
    report_lead_days: int = 30
    report_reminder_days: list[int] = Field(default_factory=lambda: [14, 3])
    previous_cluster_id: str | None = None  # the support case of its earlier labelling, if any
    granted: list[float] = Field(default_factory=list)  # per contract year (MAD)
    contract_due: Moment | None = None  # unsigned by then, the laureate's funds return


class Told(BaseModel):
    """A signal with a text (a case's id) sent to one workflow."""

    workflow_id: str
    signal: str
    arg: str


class Fanout(BaseModel):
    """A signal sent to many application workflows."""

    workflow_ids: list[str]
    signal: str
    arg: Moment | None = None


# ApplicationError types raised by validators; the API maps them to HTTP statuses.
NOT_ALLOWED = "NotAllowed"  # 409
FORBIDDEN = "Forbidden"  # 403
INVALID = "Invalid"  # 422
