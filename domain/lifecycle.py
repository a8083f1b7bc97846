"""The lifecycle table: one row per transition, holding everything said about it.

A row gives where the action may start (`sources`), where it leads (`target`, None keeps the
stage), who may take it, its French labels (the command on a button, the event in a timeline),
the body its update takes and the console's form for that body. The workflows' validators, the
API's routes, `allowed_actions`, the console's forms and the timelines all derive from it.
"""

from dataclasses import dataclass
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from domain.ids import Kind
from domain.models import (
    Amendment,
    CommitteeDecision,
    ComplementsAsk,
    ComplementsReply,
    DeadlineExtension,
    Deposit,
    EligibleDecision,
    EvaluatorAssignment,
    IneligibleDecision,
    Input,
    InterestDeclaration,
    ReviewAnswer,
    ReviewRequest,
    ScoreSheet,
    Withdrawal,
)
from domain.stages import (
    STAGES,
    A,
    Action,
    ApplicationStage,
    C,
    CallStage,
    ClusterStage,
    K,
    Role,
    Stage,
)
from domain.support import (
    REPORT_FILES,
    AnnualReport,
    ContractTerms,
    Note,
    ProbationRenewal,
    Reason,
    Renewal,
)


class F(StrEnum):
    """How the console draws and reads a form's input."""

    TEXT = "text"
    TEXTAREA = "textarea"
    LINES = "lines"  # one item per line
    DATE = "date"
    NUMBER = "number"
    CHECKBOX = "checkbox"
    SECTOR = "sector"  # one of the call's sectors
    AMOUNTS = "amounts"
    KPIS = "kpis"
    EVALUATORS = "evaluators"
    GRID = "grid"
    FILE = "file"  # one of the case's files
    FILES = "files"  # those deposited since the complements request
    CONFIRM = "confirm"  # a box to tick before a destructive action: never part of the body


@dataclass(frozen=True, kw_only=True)
class FormField:
    """One input of a console form."""

    name: str
    label: str
    kind: F = F.TEXT
    required: bool = False


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
CLOCK = frozenset({Role.SYSTEM})


def _from(*stages: Stage) -> frozenset[Stage]:
    return frozenset(stages)


def _deposit(sources: frozenset[Stage]) -> Transition:
    """A file deposited for a case: a route of its own, since the file is sent as multipart."""
    return Transition(
        sources=sources,
        target=None,
        roles=DESK,
        command="Déposer un document",
        event="Document déposé",
        body=Deposit,
        route=False,
    )


REASON = FormField(name="reason", label="Motif", kind=F.TEXTAREA, required=True)
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

CALL: dict[Action, Transition] = {
    Action.CREATE: Transition(
        sources=_from(),
        target=C.DRAFT,
        roles=MANAGERS,
        command="Créer l'appel",
        event="Appel créé",
        route=False,
    ),
    Action.PUBLISH: Transition(
        sources=_from(C.DRAFT),
        target=C.SCHEDULED,
        roles=MANAGERS,
        command="Publier l'appel",
        event="Appel publié",
    ),
    Action.OPEN: Transition(
        sources=_from(C.SCHEDULED),
        target=C.OPEN,
        roles=CLOCK,
        command="Ouvrir",
        event="Appel ouvert",
    ),
    Action.EXTEND_DEADLINE: Transition(
        sources=_from(C.DRAFT, C.SCHEDULED, C.OPEN),
        target=None,
        roles=MANAGERS,
        command="Prolonger la date limite",
        event="Date limite prolongée",
        body=DeadlineExtension,
        fields=(
            FormField(
                name="deadline",
                label="Nouvelle date limite (heure de Rabat)",
                kind=F.DATE,
                required=True,
            ),
            OPTIONAL_REASON,
        ),
    ),
    Action.REGISTER_APPLICATION: Transition(
        sources=_from(C.OPEN),
        target=None,
        roles=DESK,
        command="Enregistrer une candidature",
        event="Candidature enregistrée",
        route=False,
    ),
    Action.CLOSE: Transition(
        sources=_from(C.OPEN),
        target=C.CLOSED,
        roles=CLOCK,
        command="Clôturer",
        event="Date limite atteinte",
    ),
    Action.START_EVALUATION: Transition(
        sources=_from(C.CLOSED),
        target=C.UNDER_EVALUATION,
        roles=MANAGERS,
        command="Lancer l'évaluation",
        event="Évaluation lancée",
    ),
    Action.PUBLISH_RESULTS: Transition(
        sources=_from(C.UNDER_EVALUATION),
        target=C.RESULTS_PUBLISHED,
        roles=PUBLISHERS,
        command="Publier les résultats",
        event="Résultats publiés",
        fields=(CONFIRM,),
    ),
    Action.ARCHIVE: Transition(
        sources=_from(C.RESULTS_PUBLISHED),
        target=C.ARCHIVED,
        roles=MANAGERS,
        command="Archiver",
        event="Appel archivé",
        fields=(CONFIRM,),
    ),
}

APPLICATION: dict[Action, Transition] = {
    Action.REGISTER: Transition(
        sources=_from(),
        target=A.RECEIVED,
        roles=DESK,
        command="Enregistrer",
        event="Candidature enregistrée",
        route=False,
    ),
    Action.AMEND: Transition(
        sources=_from(A.RECEIVED),
        target=None,
        roles=DESK,
        command="Modifier",
        event="Candidature modifiée",
        body=Amendment,
        fields=(
            FormField(name="cluster_name", label="Nom du cluster"),
            FormField(name="sector", label="Secteur", kind=F.SECTOR),
        ),
    ),
    Action.ADD_DOCUMENT: _deposit(_from(A.RECEIVED, A.COMPLEMENTS_REQUESTED)),
    Action.WITHDRAW: Transition(
        sources=_from(A.RECEIVED),
        target=A.WITHDRAWN,
        roles=DESK,
        command="Retirer la candidature",
        event="Candidature retirée",
        body=Withdrawal,
        fields=(REASON, CONFIRM),
    ),
    Action.CLOSE_SUBMISSIONS: Transition(
        sources=_from(A.RECEIVED),
        target=A.ELIGIBILITY_REVIEW,
        roles=CLOCK,
        command="Clore",
        event="Date limite atteinte",
    ),
    Action.MARK_ELIGIBLE: Transition(
        sources=_from(A.ELIGIBILITY_REVIEW),
        target=A.ELIGIBLE,
        roles=DESK,
        command="Déclarer recevable",
        event="Déclarée recevable",
        body=EligibleDecision,
        optional_body=True,
        fields=(NOTE,),
    ),
    Action.MARK_INELIGIBLE: Transition(
        sources=_from(A.ELIGIBILITY_REVIEW),
        target=A.INELIGIBLE,
        roles=DESK,
        command="Déclarer irrecevable",
        event="Déclarée irrecevable",
        body=IneligibleDecision,
        fields=(REASON,),
    ),
    Action.REQUEST_COMPLEMENTS: Transition(
        sources=_from(A.ELIGIBILITY_REVIEW),
        target=A.COMPLEMENTS_REQUESTED,
        roles=DESK,
        command="Demander des compléments",
        event="Compléments demandés",
        body=ComplementsAsk,
        fields=(
            FormField(
                name="items", label="Pièces demandées (une par ligne)", kind=F.LINES, required=True
            ),
            FormField(
                name="due_at", label="Date limite (vide : délai de réponse de l'appel)", kind=F.DATE
            ),
            NOTE,
        ),
    ),
    Action.SUBMIT_COMPLEMENTS: Transition(
        sources=_from(A.COMPLEMENTS_REQUESTED),
        target=A.ELIGIBILITY_REVIEW,
        roles=DESK,
        command="Enregistrer les compléments",
        event="Compléments reçus",
        body=ComplementsReply,
        fields=(FormField(name="files", label="Fichiers déposés en réponse", kind=F.FILES), NOTE),
    ),
    Action.EXPIRE_COMPLEMENTS: Transition(
        sources=_from(A.COMPLEMENTS_REQUESTED),
        target=A.INELIGIBLE,
        roles=CLOCK,
        command="Expirer",
        event="Compléments non reçus",
    ),
    Action.ASSIGN_EVALUATORS: Transition(
        sources=_from(A.ELIGIBLE, A.EVALUATION),
        target=A.EVALUATION,
        roles=MANAGERS,
        command="Affecter des évaluateurs",
        event="Évaluateurs affectés",
        body=EvaluatorAssignment,
        fields=(
            FormField(name="evaluators", label="Évaluateurs", kind=F.EVALUATORS, required=True),
        ),
    ),
    Action.DECLARE_INTEREST: Transition(
        sources=_from(A.EVALUATION),
        target=None,
        roles=EVALUATORS,
        command="Déclarer mes intérêts",
        event="Intérêts déclarés",
        body=InterestDeclaration,
        fields=(
            FormField(
                name="conflict", label="J'ai un conflit d'intérêts avec ce dossier", kind=F.CHECKBOX
            ),
            NOTE,
        ),
    ),
    Action.SUBMIT_SCORES: Transition(
        sources=_from(A.EVALUATION),
        target=None,
        roles=EVALUATORS,
        command="Transmettre ma grille",
        event="Grille transmise",
        body=ScoreSheet,
        fields=(
            FormField(name="scores", label="Grille d'évaluation", kind=F.GRID, required=True),
            FormField(name="comment", label="Commentaire général", kind=F.TEXTAREA),
        ),
    ),
    Action.REMIND_EVALUATORS: Transition(
        sources=_from(A.EVALUATION),
        target=None,
        roles=CLOCK,
        command="Relancer",
        event="Rappel aux évaluateurs",
    ),
    Action.FLAG_OVERDUE: Transition(
        sources=_from(A.EVALUATION),
        target=None,
        roles=CLOCK,
        command="Signaler le retard",
        event="Évaluation en retard",
    ),
    Action.COMPLETE_EVALUATION: Transition(
        sources=_from(A.EVALUATION),
        target=A.SCORED,
        roles=CLOCK,
        command="Conclure",
        event="Évaluation complète",
    ),
    Action.LABEL: Transition(
        sources=_from(A.SCORED),
        target=A.LABELLED,
        roles=COMMITTEE,
        command="Labelliser",
        event="Labellisée",
        body=CommitteeDecision,
        fields=(REASON,),
    ),
    Action.PUT_ON_RESERVE: Transition(
        sources=_from(A.SCORED),
        target=A.RESERVE,
        roles=COMMITTEE,
        command="Inscrire en liste d'attente",
        event="Inscrite en liste d'attente",
        body=CommitteeDecision,
        fields=(REASON,),
    ),
    Action.REJECT: Transition(
        sources=_from(A.SCORED),
        target=A.REJECTED,
        roles=COMMITTEE,
        command="Rejeter",
        event="Rejetée",
        body=CommitteeDecision,
        fields=(REASON,),
    ),
    Action.NOTIFY_RESULT: Transition(
        sources=_from(A.LABELLED, A.RESERVE, A.REJECTED),
        target=None,
        roles=CLOCK,
        command="Notifier",
        event="Résultat notifié",
    ),
    Action.REQUEST_REVIEW: Transition(
        sources=_from(A.REJECTED),
        target=A.REVIEW_REQUESTED,
        roles=DESK,
        command="Demander un réexamen",
        event="Réexamen demandé",
        body=ReviewRequest,
        fields=(
            FormField(name="reason", label="Motif du recours", kind=F.TEXTAREA, required=True),
        ),
    ),
    Action.UPHOLD_REJECTION: Transition(
        sources=_from(A.REVIEW_REQUESTED),
        target=A.REJECTION_FINAL,
        roles=COMMITTEE,
        command="Maintenir le rejet",
        event="Rejet maintenu",
        body=ReviewAnswer,
        fields=(ANSWER,),
    ),
    Action.ORDER_RE_EVALUATION: Transition(
        sources=_from(A.REVIEW_REQUESTED),
        target=A.EVALUATION,
        roles=COMMITTEE,
        command="Ordonner une nouvelle évaluation",
        event="Nouvelle évaluation ordonnée",
        body=ReviewAnswer,
        fields=(ANSWER,),
    ),
    # A response time counts from its notice's sending; a notice never sent stops the clock.
    Action.NOTICE_SENT: Transition(
        sources=_from(A.COMPLEMENTS_REQUESTED, A.REJECTED),
        target=None,
        roles=CLOCK,
        command="Compter le délai",
        event="Courrier envoyé : le délai de réponse court",
    ),
    Action.NOTICE_UNDELIVERED: Transition(
        sources=_from(A.COMPLEMENTS_REQUESTED, A.REJECTED),
        target=None,
        roles=CLOCK,
        command="Suspendre le délai",
        event="Courrier non remis : délai suspendu, à traiter par l'opérateur",
    ),
    Action.FINALIZE_REJECTION: Transition(
        sources=_from(A.REJECTED),
        target=A.REJECTION_FINAL,
        roles=CLOCK,
        command="Clore le recours",
        event="Rejet définitif",
    ),
}

RUNNING = _from(K.ACTIVE, K.REPORT_REQUESTED, K.REPORT_OVERDUE, K.UNDER_REVIEW)
CLUSTER: dict[Action, Transition] = {
    Action.OPEN_CASE: Transition(
        sources=_from(),
        target=K.AWAITING_CONTRACT,
        roles=CLOCK,
        command="Ouvrir",
        event="Dossier de soutien ouvert",
    ),
    Action.SIGN_CONTRACT: Transition(
        sources=_from(K.AWAITING_CONTRACT),
        target=K.ACTIVE,
        roles=MANAGERS,
        command="Signer la convention",
        event="Convention signée",
        body=ContractTerms,
        fields=(
            FormField(
                name="start_at",
                label="Début de la convention-programme",
                kind=F.DATE,
                required=True,
            ),
            FormField(
                name="planned_amounts",
                label="Soutien prévu par année, en MAD (un montant par ligne)",
                kind=F.AMOUNTS,
                required=True,
            ),
            FormField(name="kpi_targets", label="Objectifs annuels", kind=F.KPIS, required=True),
        ),
    ),
    Action.ADD_CLUSTER_DOCUMENT: _deposit(_from(K.AWAITING_CONTRACT, K.SUSPENDED) | RUNNING),
    Action.REQUEST_REPORT: Transition(
        sources=_from(K.ACTIVE),
        target=K.REPORT_REQUESTED,
        roles=CLOCK,
        command="Demander",
        event="Rapport annuel demandé",
    ),
    Action.REMIND_REPORT: Transition(
        sources=_from(K.REPORT_REQUESTED),
        target=None,
        roles=CLOCK,
        command="Relancer",
        event="Rappel du rapport",
    ),
    Action.ESCALATE_REPORT: Transition(
        sources=_from(K.REPORT_REQUESTED),
        target=K.REPORT_OVERDUE,
        roles=CLOCK,
        command="Signaler",
        event="Rapport en retard",
    ),
    Action.RECORD_REPORT: Transition(
        sources=_from(K.REPORT_REQUESTED, K.REPORT_OVERDUE),
        target=K.UNDER_REVIEW,
        roles=DESK,
        command="Enregistrer le rapport annuel",
        event="Rapport annuel reçu",
        body=AnnualReport,
        fields=(
            *(
                FormField(
                    name=name,
                    label=kind.capitalize() + " (fichier déposé)",
                    kind=F.FILE,
                    required=True,
                )
                for name, kind in REPORT_FILES.items()
            ),
            FormField(name="kpi_actuals", label="Indicateurs réalisés", kind=F.KPIS, required=True),
            FormField(
                name="next_year_plan",
                label="Plan de l'année suivante",
                kind=F.TEXTAREA,
                required=True,
            ),
        ),
    ),
    Action.RENEW: Transition(
        sources=_from(K.UNDER_REVIEW),
        target=K.ACTIVE,
        roles=MANAGERS,
        command="Renouveler",
        event="Soutien renouvelé",
        body=Renewal,
        optional_body=True,
        fields=(AMOUNT, OPTIONAL_REASON),
    ),
    Action.RENEW_ON_PROBATION: Transition(
        sources=_from(K.UNDER_REVIEW),
        target=K.ACTIVE,
        roles=MANAGERS,
        command="Renouveler sous probation",
        event="Soutien renouvelé sous probation",
        body=ProbationRenewal,
        fields=(
            AMOUNT,
            FormField(name="conditions", label="Conditions", kind=F.TEXTAREA, required=True),
            FormField(name="review_at", label="Date de revue", kind=F.DATE, required=True),
            OPTIONAL_REASON,
        ),
    ),
    Action.REVIEW_PROBATION: Transition(
        sources=RUNNING, target=None, roles=CLOCK, command="Revoir", event="Revue de probation"
    ),
    Action.SUSPEND: Transition(
        sources=RUNNING,
        target=K.SUSPENDED,
        roles=MANAGERS,
        command="Suspendre",
        event="Soutien suspendu",
        body=Reason,
        fields=(REASON, CONFIRM),
    ),
    Action.RESUME: Transition(  # target None: back where it was
        sources=_from(K.SUSPENDED),
        target=None,
        roles=MANAGERS,
        command="Reprendre",
        event="Soutien repris",
        body=Note,
        optional_body=True,
        fields=(NOTE,),
    ),
    Action.TERMINATE: Transition(
        sources=RUNNING | {K.SUSPENDED, K.AWAITING_CONTRACT},
        target=K.TERMINATED,
        roles=MANAGERS,
        command="Résilier",
        event="Soutien résilié",
        body=Reason,
        fields=(REASON, CONFIRM),
    ),
    Action.END_SUPPORT: Transition(
        sources=RUNNING | {K.SUSPENDED},
        target=K.ENDED,
        roles=CLOCK,
        command="Achever",
        event="Fin du soutien",
    ),
}

# Per kind of case: its stages and its part of the table.
KINDS: dict[Kind, tuple[type[StrEnum], dict[Action, Transition]]] = {
    Kind.CALL: (CallStage, CALL),
    Kind.APPLICATION: (ApplicationStage, APPLICATION),
    Kind.CLUSTER: (ClusterStage, CLUSTER),
}
TRANSITIONS: dict[Action, Transition] = CALL | APPLICATION | CLUSTER
assert len(TRANSITIONS) == len(CALL) + len(APPLICATION) + len(CLUSTER) == len(Action)


class TableError(TypeError):
    """A row of the lifecycle table (or a stage's record) contradicts another declaration."""


def _check_form(action: Action, row: Transition) -> None:
    """The row's form asks for exactly what its body needs: every field the body requires has a
    required input, every input (but the confirmation) is a field of the body."""
    if type(row.fields) is not tuple or any(type(f) is not FormField for f in row.fields):
        raise TableError(f"{action}: fields must be a tuple of FormField")
    for f in row.fields:
        if type(f.kind) is not F or not f.name or not f.label.strip():
            raise TableError(f"{action}: input {f.name!r} needs a name, a label and an F kind")
    if row.body is None or not row.route:
        if any(f.kind != F.CONFIRM for f in row.fields):
            raise TableError(f"{action}: a form without a body to fill")
        return
    body = row.body.model_fields
    inputs = {f.name: f for f in row.fields if f.kind != F.CONFIRM}
    for name, info in body.items():
        asked = name in inputs and (inputs[name].required or inputs[name].kind == F.CHECKBOX)
        if info.is_required() and not asked:  # an unticked box still sends « non »
            raise TableError(f"{action}: the body requires {name!r}, the form does not ask it")
    for name in inputs:
        if name not in body:
            raise TableError(f"{action}: input {name!r} is not a field of {row.body.__name__}")


def check_table(stages: type[StrEnum], table: dict[Action, Transition]) -> None:
    """What import proves of one kind's table: typed rows, French labels, roles that are roles,
    stages of this kind, a form that matches its body, and every stage's record in step with
    the table (a final stage is one nothing leaves)."""
    kind_stages = set(stages)
    for action, row in table.items():
        if type(row) is not Transition:
            raise TableError(f"{action}: not a Transition")
        if not row.command.strip() or not row.event.strip():
            raise TableError(f"{action}: empty label")
        if not row.roles or any(type(r) is not Role for r in row.roles):
            raise TableError(f"{action}: roles must be Role members, not {set(row.roles)!r}")
        if not set(row.sources) <= kind_stages or row.target not in kind_stages | {None}:
            raise TableError(f"{action}: a stage that is not a {stages.__name__}")
        if row.body is not None and not (
            isinstance(row.body, type) and issubclass(row.body, BaseModel)
        ):
            raise TableError(f"{action}: body must be a pydantic model")
        _check_form(action, row)
    left = {s for row in table.values() for s in row.sources}
    for stage in stages:
        if STAGES[stage].final == (stage in left):
            raise TableError(f"{stage}: its record says final={STAGES[stage].final}, the table not")


def check_bounds(model: type[BaseModel]) -> None:
    """Every text field has exactly one length bound: a named type (domain.models.Text, …)
    whose bound a Field(max_length=…) would silently fail to tighten."""
    for name, info in model.model_fields.items():
        found = _lengths(info.annotation) + [
            m.max_length for m in info.metadata if getattr(m, "max_length", None) is not None
        ]
        if len(found) > 1:
            raise TableError(
                f"{model.__name__}.{name}: {len(found)} length bounds {found}; "
                "use one named type (domain.models.text) instead of a Field(max_length) on top"
            )
        if not found and _is_text(info.annotation):
            raise TableError(f"{model.__name__}.{name}: a text without a bound")


def _lengths(annotation: Any) -> list[int]:
    """The max_length bounds an annotation carries at its own level (not its items')."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        own = [m.max_length for m in meta if getattr(m, "max_length", None) is not None]
        return own + _lengths(inner)
    if origin in (Union, UnionType):
        return [n for arg in get_args(annotation) for n in _lengths(arg)]
    return []


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    if get_origin(annotation) in (Annotated, Union, UnionType):
        return any(_is_text(a) for a in get_args(annotation))
    return False


def _inputs(model: type[Input]) -> list[type[Input]]:
    return [model] + [m for sub in model.__subclasses__() for m in _inputs(sub)]


for _stages, _table in KINDS.values():
    check_table(_stages, _table)
for _model in _inputs(Input):
    check_bounds(_model)

# The committee's decisions: where it may take a scored case. They become final or open a
# redress window once results are published, and stay revisable until then.
DECISIONS = frozenset(
    row.target for row in APPLICATION.values() if A.SCORED in row.sources and row.target
)


def table_for(stage: Stage) -> dict[Action, Transition]:
    if isinstance(stage, CallStage):
        return CALL
    return CLUSTER if isinstance(stage, ClusterStage) else APPLICATION


def allowed_actions(stage: Stage, role: Role | None = None) -> list[Action]:
    """Actions a person (not the clock) may take now, in table order; `role`: those of one role."""
    return [
        action
        for action, row in table_for(stage).items()
        if stage in row.sources and not row.by_clock and (role is None or role in row.roles)
    ]
