"""The committee's session: its members and their functions, the agenda frozen at convening, the
attendance and its quorum, each member's withdrawal from an item, each item's decision and the
procès-verbal (PV) with its signatures.

Long texts (a decision's motivation and internal note) are not kept in the session's state: they
travel once, in the decision's update, to the session's audit trail and to the case's own
decision, and the PV is built from those records. The state stays small over an agenda of 200.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from domain.fields import MAX_ITEMS, LongText, Moment, Text, distinct
from domain.models import SHA256, AuditEvent, Input, Notification
from domain.money import Amount
from domain.search import folded
from domain.stages import ApplicationStage, SessionStage

CaseId = Annotated[str, Field(pattern=r"^[0-9a-f]{1,32}$", max_length=32)]
CallRef = Annotated[str, Field(pattern=r"^([0-9]{4}-)?[0-9a-f]{1,32}$", max_length=37)]
MAX_SESSION_MEMBERS = 30
MAX_AGENDA = 200  # files on one session's agenda
MAX_YEARS = 10  # amounts granted per year of support


class Function(StrEnum):
    PRESIDENT = "président"
    SECRETARY = "secrétaire"
    MEMBER = "membre"


# Who signs the PV, in the order of its signatures.
SIGNATORIES = (Function.PRESIDENT, Function.SECRETARY)

# What a session may decide for a file, and how the PV and the letters word it.
OUTCOME_WORDS = {
    ApplicationStage.LABELLED: "dossier labellisé",
    ApplicationStage.RESERVE: "dossier inscrit en liste d'attente",
    ApplicationStage.REJECTED: "dossier non retenu",
}
OUTCOMES = tuple(OUTCOME_WORDS)

# The public motivation's usual sentences, chosen by code; free text may follow them.
REASON_CODES: dict[str, str] = {
    "seuils_atteints": "Le dossier atteint les seuils de la grille d'évaluation.",
    "qualite_rd": "Le comité relève la qualité du programme de R&D collaboratif.",
    "gouvernance": "La gouvernance et l'équipe d'animation du cluster sont solides.",
    "enveloppe": "L'enveloppe de l'appel ne permet pas de soutenir le dossier à ce stade.",
    "note_globale": "La note globale n'atteint pas le seuil fixé par l'appel.",
    "criteres": "Un ou plusieurs critères n'atteignent pas leur seuil.",
    "partenariat": "Le partenariat entre entreprises et recherche reste insuffisant.",
    "modele_economique": "Le modèle économique du cluster n'est pas démontré.",
}
ReasonCode = Annotated[str, Field(pattern=r"^[a-z_]{1,40}$", max_length=40)]


def _known_codes(codes: list[str]) -> list[str]:
    unknown = [c for c in codes if c not in REASON_CODES]
    if unknown:
        raise ValueError(f"motif(s) inconnu(s) : {', '.join(unknown)}")
    return distinct(codes)


def motivation(codes: list[str], text: str | None) -> str:
    """The public motivation: the chosen sentences, then the free text."""
    return " ".join([REASON_CODES[c] for c in codes] + ([text] if text else []))


class SessionMember(Input):
    name: Text = Field(description="Nom du compte du membre (comité ou administration).")
    function: Function = Function.MEMBER
    organisation: Text | None = Field(
        default=None, description="Organisme d'appartenance (signale les conflits probables)."
    )
    voting: bool = True


class SessionSpec(Input):
    title: Text
    call_ids: Annotated[list[CallRef], Field(min_length=1, max_length=10), AfterValidator(distinct)]
    meets_at: Moment = Field(description="Date et heure de la séance.")
    place: Text | None = None
    members: list[SessionMember] = Field(min_length=2, max_length=MAX_SESSION_MEMBERS)
    quorum_percent: int = Field(
        default=50,
        ge=0,
        le=99,
        description="Quorum : plus de N % des membres votants présents (50 : plus de la moitié).",
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> "SessionSpec":
        distinct([m.name for m in self.members])
        for function in SIGNATORIES:
            if sum(m.function == function for m in self.members) != 1:
                raise ValueError(f"la séance a un(e) et un(e) seul(e) {function}")
        if not any(m.voting for m in self.members):
            raise ValueError("au moins un membre votant")
        return self

    def member(self, name: str) -> SessionMember | None:
        return next((m for m in self.members if m.name == name), None)

    def signatory(self, function: Function) -> str:
        return next(m.name for m in self.members if m.function == function)

    def voting(self) -> list[str]:
        return [m.name for m in self.members if m.voting]


class LikelyConflict(BaseModel):
    member: str
    why: str  # « même domaine de messagerie (uir.ac.ma) »


class ItemOutcome(BaseModel):
    """An item's decision, without its texts (see the module's note)."""

    outcome: ApplicationStage
    amounts: list[float] = Field(default_factory=list)
    votes_for: int
    votes_against: int
    abstentions: int
    voters: list[str]  # the voting members present and not withdrawn
    decided_at: Moment
    decided_by: str
    seq: int  # the session's transition that recorded it (its audit event holds the texts)


class AgendaItem(BaseModel):
    """One file as the agenda froze it at convening (or added later), and what became of it."""

    application_id: str
    call_id: str
    cluster_name: str
    rank: int
    score: float | None = None
    consensus: bool | None = None  # the evaluators agree (no consensus discussion needed)
    likely: list[LikelyConflict] = Field(default_factory=list)
    added_at: Moment | None = None  # added after convening
    removed_at: Moment | None = None
    removed_reason: str | None = None
    opened_at: Moment | None = None
    withdrawn: list[str] = Field(default_factory=list)  # members who withdrew for a conflict
    decision: ItemOutcome | None = None

    @property
    def pending(self) -> bool:
        return self.removed_at is None and self.decision is None


class PvSignature(BaseModel):
    name: str
    function: Function
    at: Moment
    scan: bool = False  # a signed paper copy, scanned and deposited


class Pv(BaseModel):
    """One version of the PV: a signed PV is never changed, a correction is a new version."""

    number: int
    sha256: str  # of the bytes as built, before any signature (storage keeps them by it)
    signed_sha256: str | None = None  # of the bytes after the last signature (or the scan)
    built_at: Moment
    corrects: int | None = None  # the number of the version it corrects
    correction: str | None = None  # why
    signatures: list[PvSignature] = Field(default_factory=list)

    def signed_by(self, function: Function) -> bool:
        return any(s.function == function for s in self.signatures)

    @property
    def complete(self) -> bool:
        return all(self.signed_by(f) for f in SIGNATORIES)


class StoredDocument(BaseModel):
    sha256: str  # storage keeps a document by its hash
    built_at: Moment


class SessionState(BaseModel):
    id: str
    stage: SessionStage
    spec: SessionSpec
    agenda: list[AgendaItem] = Field(default_factory=list)
    present: list[str] = Field(default_factory=list)
    current: str | None = None  # the item opened and not yet decided
    pack: StoredDocument | None = None
    pvs: list[Pv] = Field(default_factory=list)
    convened_at: Moment | None = None
    opened_at: Moment | None = None
    closed_at: Moment | None = None
    seq: int = 0
    updated_at: Moment

    def item(self, application_id: str) -> AgendaItem | None:
        return next((i for i in self.agenda if i.application_id == application_id), None)

    @property
    def pv(self) -> Pv | None:
        return self.pvs[-1] if self.pvs else None

    def quorum(self, withdrawn: list[str] = ()) -> tuple[int, int]:  # type: ignore[assignment]
        """(voting members present and not withdrawn, how many the quorum needs)."""
        voting = self.spec.voting()
        counted = [n for n in self.present if n in voting and n not in withdrawn]
        needed = len(voting) * self.spec.quorum_percent // 100 + 1
        return len(counted), needed


# --- the bodies of the session's transitions ------------------------------------------------
class Attendance(Input):
    present: Annotated[
        list[Text], Field(max_length=MAX_SESSION_MEMBERS), AfterValidator(distinct)
    ] = Field(
        default_factory=list,
        description="Les membres présents (la liste entière, à chaque pointage).",
    )


class ItemChange(Input):
    application_id: CaseId
    reason: LongText


class ItemOpening(Input):
    """The declarations made at the table before the item opens."""

    application_id: CaseId
    withdrawn: Annotated[
        list[Text], Field(max_length=MAX_SESSION_MEMBERS), AfterValidator(distinct)
    ] = Field(default_factory=list, description="Membres qui se retirent pour conflit d'intérêts.")
    flags_cleared: bool = Field(
        default=False,
        description="Les membres signalés en conflit probable ont déclaré n'en avoir aucun.",
    )


class ItemDecision(Input):
    application_id: CaseId
    outcome: ApplicationStage
    amounts: list[Amount] = Field(default_factory=list, max_length=MAX_YEARS)
    votes_for: int = Field(ge=0, le=MAX_SESSION_MEMBERS)
    votes_against: int = Field(default=0, ge=0, le=MAX_SESSION_MEMBERS)
    abstentions: int = Field(default=0, ge=0, le=MAX_SESSION_MEMBERS)
    reason_codes: Annotated[
        list[ReasonCode], Field(max_length=MAX_ITEMS), AfterValidator(_known_codes)
    ] = Field(default_factory=list)
    reason: LongText | None = None
    internal_note: LongText | None = None
    amounts_reason: LongText | None = Field(
        default=None, description="Pourquoi accorder plus que le montant demandé."
    )

    @model_validator(mode="after")
    def _motivated(self) -> "ItemDecision":
        if self.outcome not in OUTCOMES:
            raise ValueError("issue : labellisée, liste d'attente ou rejetée")
        if not self.reason_codes and not self.reason:
            raise ValueError("une motivation : un motif type au moins, ou un texte")
        return self

    @property
    def motivation(self) -> str:
        return motivation(self.reason_codes, self.reason)


class PvCorrection(Input):
    reason: LongText


class ScanDeposit(Input):
    """A PV signed on paper, scanned and deposited (its bytes are in storage, by their hash)."""

    sha256: SHA256


class SessionStart(BaseModel):
    state: SessionState


class SessionRecord(BaseModel):
    state: SessionState
    event: AuditEvent
    notifications: list[Notification] = Field(default_factory=list)


PUBLIC_MAIL = frozenset(
    {
        "gmail.com",
        "yahoo.fr",
        "yahoo.com",
        "hotmail.com",
        "hotmail.fr",
        "outlook.com",
        "outlook.fr",
        "live.fr",
        "menara.ma",
        "icloud.com",
        "protonmail.com",
    }
)


def likely_conflicts(
    members: list[tuple[SessionMember, str | None]],
    applicant_email: str | None,
    applicant_members: list[str],
) -> list[LikelyConflict]:
    """Members whose e-mail domain is the applicant's contact's, or whose organisation (or the
    name of their e-mail domain) is one of the applicant's members: a likely conflict the member
    must clear or withdraw for. Public mail services say nothing and are left out."""

    def domain_of(email: str | None) -> str | None:
        if not email or "@" not in email:
            return None
        domain = email.rsplit("@", 1)[1].lower()
        return None if domain in PUBLIC_MAIL else domain

    names = {_folded(n): n for n in applicant_members}
    theirs = domain_of(applicant_email)
    found = []
    for member, email in members:
        mine = domain_of(email)
        if mine and mine == theirs:
            why = f"même domaine de messagerie ({mine})"
            found.append(LikelyConflict(member=member.name, why=why))
            continue
        labels = {_folded(member.organisation)} if member.organisation else set()
        if mine:
            labels.add(_folded(mine.split(".")[0]))
        match = next((names[label] for label in labels if label in names), None)
        if match:
            found.append(LikelyConflict(member=member.name, why=f"membre du projet : {match}"))
    return found


def _folded(text: str) -> str:
    return folded(text).replace(" ", "")
