"""What the lifecycle table (domain.lifecycle) is written in: a transition's row, a console form's
input and its kinds, the sets of roles, and the inputs several rows share."""

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from domain.models import Deposit
from domain.stages import Role, Stage


class F(StrEnum):
    """How the console draws and reads a form's input."""

    TEXT = "text"
    TEXTAREA = "textarea"
    LINES = "lines"  # one item per line
    DATE = "date"
    NUMBER = "number"
    CHECKBOX = "checkbox"
    CHOICE = "choice"  # a yes/no the person must state explicitly (no default): two radios
    SECTOR = "sector"  # one of the call's sectors
    AMOUNTS = "amounts"
    KPIS = "kpis"
    EVALUATORS = "evaluators"
    ASSIGNED = "assigned"  # one of the case's evaluators still assigned
    GRID = "grid"
    FILE = "file"  # one of the case's files
    FILES = "files"  # those deposited since the complements request
    CONFIRM = "confirm"  # a box to tick before a destructive action: never part of the body
    MEMBERS = "members"  # the members, one « Nom ; type » line each (as the registration form)
    CONTACT = "contact"  # a contact's name, e-mail and phone: three inputs, one object
    ITEM = "item"  # one of a committee session's agenda items
    PRESENT = "present"  # some of a session's members: a box each
    OUTCOME = "outcome"  # a session's decision on a file: labelled, reserve or rejected
    REASON_CODES = "reason_codes"  # the motivation's usual sentences (domain.session): a box each
    TRANCHE = "tranche"  # one of a cluster's tranches (domain.money)


@dataclass(frozen=True, kw_only=True)
class FormField:
    """One input of a console form."""

    name: str
    label: str
    kind: F = F.TEXT
    required: bool = False
    # A CHOICE's two answers, in French: (what « non » says, what « oui » says).
    choices: tuple[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Transition:
    sources: frozenset[Stage]  # empty: the case's first transition
    target: Stage | None
    roles: frozenset[Role]
    command: str  # what a person does, on the button
    event: str  # what happened, in the timeline
    body: type[BaseModel] | None = None
    optional_body: bool = False  # the body may be left out (all its fields are optional)
    fields: tuple[FormField, ...] = ()
    route: bool = True  # POST /{resource}/{id}/{action}; False: a route of its own, or none

    @property
    def by_clock(self) -> bool:
        return self.roles == CLOCK

    @property
    def routed(self) -> bool:
        return self.route and not self.by_clock


MANAGERS = frozenset({Role.ADMIN})
DESK = frozenset({Role.ADMIN, Role.OPERATOR})
EVALUATORS = frozenset({Role.EVALUATOR})
COMMITTEE = frozenset({Role.COMMITTEE})
PUBLISHERS = frozenset({Role.ADMIN, Role.COMMITTEE})
FINANCE = frozenset({Role.FINANCE})
# The association itself, through the portal: on the rows it takes as the desk would for it.
APPLICANTS = frozenset({Role.APPLICANT})
CLOCK = frozenset({Role.SYSTEM})


def from_(*stages: Stage) -> frozenset[Stage]:
    return frozenset(stages)


def deposit(sources: frozenset[Stage]) -> Transition:
    """A file deposited for a case (an application's dossier, a cluster's reports), by the desk
    or by the association in the portal: a route of its own, since the file is sent as
    multipart."""
    return Transition(
        sources=sources,
        target=None,
        roles=DESK | APPLICANTS,
        command="Déposer un document",
        event="Document déposé",
        body=Deposit,
        route=False,
    )


REASON = FormField(name="reason", label="Motif", kind=F.TEXTAREA, required=True)
# The committee's decisions: what the applicant reads, apart from what the committee keeps.
PUBLIC_REASON = FormField(
    name="reason",
    label="Motif communiqué au candidat (repris tel quel dans le courrier)",
    kind=F.TEXTAREA,
    required=True,
)
INTERNAL_NOTE = FormField(
    name="internal_note",
    label="Note interne du comité (jamais communiquée au candidat)",
    kind=F.TEXTAREA,
)
# A destructive action's form asks to be confirmed, and looks dangerous (the console only).
CONFIRM = FormField(
    name="confirme",
    label="Je confirme : cette action ne se défait pas",
    kind=F.CONFIRM,
    required=True,
)
OPTIONAL_REASON = FormField(name="reason", label="Motif", kind=F.TEXTAREA)
NOTE = FormField(name="note", label="Note (facultative)", kind=F.TEXTAREA)
AMOUNT = FormField(
    name="amount", label="Montant de l'année en MAD (vide : montant prévu)", kind=F.NUMBER
)
ANSWER = FormField(name="answer", label="Réponse du comité", kind=F.TEXTAREA, required=True)
