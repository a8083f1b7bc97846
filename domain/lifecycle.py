"""The lifecycle table: one row per transition, holding everything said about it.

A row gives where the action may start (`sources`), where it leads (`target`, None keeps the
stage), who may take it, its French labels (the command on a button, the event in a timeline),
the body its update takes and the console's form for that body. The workflows' validators, the
API's routes, `allowed_actions`, the console's forms and the timelines all derive from it.
"""

from dataclasses import dataclass
from enum import StrEnum

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
    InterestDeclaration,
    ReviewAnswer,
    ReviewRequest,
    ScoreSheet,
    Withdrawal,
)
from domain.stages import A, Action, ApplicationStage, C, CallStage, ClusterStage, K, Role, Stage
from domain.support import (
    REPORT_FILES,
    AnnualReport,
    ContractTerms,
    Note,
    ProbationRenewal,
    Reason,
    Renewal,
)


@dataclass(frozen=True)
class FormField:
    """One input of a console form; `kind` tells the console how to draw and read it."""

    name: str
    label: str
    # text, textarea, lines, date, number, checkbox, sector (one of the call's sectors),
    # amounts, kpis, evaluators, grid, file (one of the case's files), files (those deposited
    # since the complements request), confirm (a box to tick before a destructive action: never
    # part of the body)
    kind: str = "text"
    required: bool = False


@dataclass(frozen=True)
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
        sources, None, DESK, "Déposer un document", "Document déposé", Deposit, route=False
    )


REASON = FormField("reason", "Motif", "textarea", required=True)
# A destructive action's form asks to be confirmed, and looks dangerous (the console only).
CONFIRM = FormField("confirme", "Je confirme : cette action ne se défait pas", "confirm", True)
OPTIONAL_REASON = FormField("reason", "Motif", "textarea")
NOTE = FormField("note", "Note (facultative)", "textarea")
AMOUNT = FormField("amount", "Montant de l'année en MAD (vide : montant prévu)", "number")
ANSWER = FormField("answer", "Réponse du comité", "textarea", required=True)

CALL: dict[Action, Transition] = {
    Action.CREATE: Transition(
        _from(), C.DRAFT, MANAGERS, "Créer l'appel", "Appel créé", route=False
    ),
    Action.PUBLISH: Transition(
        _from(C.DRAFT), C.SCHEDULED, MANAGERS, "Publier l'appel", "Appel publié"
    ),
    Action.OPEN: Transition(_from(C.SCHEDULED), C.OPEN, CLOCK, "Ouvrir", "Appel ouvert"),
    Action.EXTEND_DEADLINE: Transition(
        _from(C.DRAFT, C.SCHEDULED, C.OPEN),
        None,
        MANAGERS,
        "Prolonger la date limite",
        "Date limite prolongée",
        DeadlineExtension,
        fields=(
            FormField("deadline", "Nouvelle date limite (heure de Rabat)", "date", required=True),
            OPTIONAL_REASON,
        ),
    ),
    Action.REGISTER_APPLICATION: Transition(
        _from(C.OPEN),
        None,
        DESK,
        "Enregistrer une candidature",
        "Candidature enregistrée",
        route=False,
    ),
    Action.CLOSE: Transition(_from(C.OPEN), C.CLOSED, CLOCK, "Clôturer", "Date limite atteinte"),
    Action.START_EVALUATION: Transition(
        _from(C.CLOSED), C.UNDER_EVALUATION, MANAGERS, "Lancer l'évaluation", "Évaluation lancée"
    ),
    Action.PUBLISH_RESULTS: Transition(
        _from(C.UNDER_EVALUATION),
        C.RESULTS_PUBLISHED,
        PUBLISHERS,
        "Publier les résultats",
        "Résultats publiés",
        fields=(CONFIRM,),
    ),
    Action.ARCHIVE: Transition(
        _from(C.RESULTS_PUBLISHED),
        C.ARCHIVED,
        MANAGERS,
        "Archiver",
        "Appel archivé",
        fields=(CONFIRM,),
    ),
}

APPLICATION: dict[Action, Transition] = {
    Action.REGISTER: Transition(
        _from(), A.RECEIVED, DESK, "Enregistrer", "Candidature enregistrée", route=False
    ),
    Action.AMEND: Transition(
        _from(A.RECEIVED),
        None,
        DESK,
        "Modifier",
        "Candidature modifiée",
        Amendment,
        fields=(
            FormField("cluster_name", "Nom du cluster"),
            FormField("sector", "Secteur", "sector"),
        ),
    ),
    Action.ADD_DOCUMENT: _deposit(_from(A.RECEIVED, A.COMPLEMENTS_REQUESTED)),
    Action.WITHDRAW: Transition(
        _from(A.RECEIVED),
        A.WITHDRAWN,
        DESK,
        "Retirer la candidature",
        "Candidature retirée",
        Withdrawal,
        fields=(REASON, CONFIRM),
    ),
    Action.CLOSE_SUBMISSIONS: Transition(
        _from(A.RECEIVED), A.ELIGIBILITY_REVIEW, CLOCK, "Clore", "Date limite atteinte"
    ),
    Action.MARK_ELIGIBLE: Transition(
        _from(A.ELIGIBILITY_REVIEW),
        A.ELIGIBLE,
        DESK,
        "Déclarer recevable",
        "Déclarée recevable",
        EligibleDecision,
        optional_body=True,
        fields=(NOTE,),
    ),
    Action.MARK_INELIGIBLE: Transition(
        _from(A.ELIGIBILITY_REVIEW),
        A.INELIGIBLE,
        DESK,
        "Déclarer irrecevable",
        "Déclarée irrecevable",
        IneligibleDecision,
        fields=(REASON,),
    ),
    Action.REQUEST_COMPLEMENTS: Transition(
        _from(A.ELIGIBILITY_REVIEW),
        A.COMPLEMENTS_REQUESTED,
        DESK,
        "Demander des compléments",
        "Compléments demandés",
        ComplementsAsk,
        fields=(
            FormField("items", "Pièces demandées (une par ligne)", "lines", required=True),
            FormField("due_at", "Date limite (vide : délai de réponse de l'appel)", "date"),
            NOTE,
        ),
    ),
    Action.SUBMIT_COMPLEMENTS: Transition(
        _from(A.COMPLEMENTS_REQUESTED),
        A.ELIGIBILITY_REVIEW,
        DESK,
        "Enregistrer les compléments",
        "Compléments reçus",
        ComplementsReply,
        fields=(FormField("files", "Fichiers déposés en réponse", "files"), NOTE),
    ),
    Action.EXPIRE_COMPLEMENTS: Transition(
        _from(A.COMPLEMENTS_REQUESTED), A.INELIGIBLE, CLOCK, "Expirer", "Compléments non reçus"
    ),
    Action.ASSIGN_EVALUATORS: Transition(
        _from(A.ELIGIBLE, A.EVALUATION),
        A.EVALUATION,
        MANAGERS,
        "Affecter des évaluateurs",
        "Évaluateurs affectés",
        EvaluatorAssignment,
        fields=(FormField("evaluators", "Évaluateurs", "evaluators", required=True),),
    ),
    Action.DECLARE_INTEREST: Transition(
        _from(A.EVALUATION),
        None,
        EVALUATORS,
        "Déclarer mes intérêts",
        "Intérêts déclarés",
        InterestDeclaration,
        fields=(
            FormField("conflict", "J'ai un conflit d'intérêts avec ce dossier", "checkbox"),
            NOTE,
        ),
    ),
    Action.SUBMIT_SCORES: Transition(
        _from(A.EVALUATION),
        None,
        EVALUATORS,
        "Transmettre ma grille",
        "Grille transmise",
        ScoreSheet,
        fields=(
            FormField("scores", "Grille d'évaluation", "grid", required=True),
            FormField("comment", "Commentaire général", "textarea"),
        ),
    ),
    Action.REMIND_EVALUATORS: Transition(
        _from(A.EVALUATION), None, CLOCK, "Relancer", "Rappel aux évaluateurs"
    ),
    Action.FLAG_OVERDUE: Transition(
        _from(A.EVALUATION), None, CLOCK, "Signaler le retard", "Évaluation en retard"
    ),
    Action.COMPLETE_EVALUATION: Transition(
        _from(A.EVALUATION), A.SCORED, CLOCK, "Conclure", "Évaluation complète"
    ),
    Action.LABEL: Transition(
        _from(A.SCORED),
        A.LABELLED,
        COMMITTEE,
        "Labelliser",
        "Labellisée",
        CommitteeDecision,
        fields=(REASON,),
    ),
    Action.PUT_ON_RESERVE: Transition(
        _from(A.SCORED),
        A.RESERVE,
        COMMITTEE,
        "Inscrire en liste d'attente",
        "Inscrite en liste d'attente",
        CommitteeDecision,
        fields=(REASON,),
    ),
    Action.REJECT: Transition(
        _from(A.SCORED),
        A.REJECTED,
        COMMITTEE,
        "Rejeter",
        "Rejetée",
        CommitteeDecision,
        fields=(REASON,),
    ),
    Action.NOTIFY_RESULT: Transition(
        _from(A.LABELLED, A.RESERVE, A.REJECTED), None, CLOCK, "Notifier", "Résultat notifié"
    ),
    Action.REQUEST_REVIEW: Transition(
        _from(A.REJECTED),
        A.REVIEW_REQUESTED,
        DESK,
        "Demander un réexamen",
        "Réexamen demandé",
        ReviewRequest,
        fields=(FormField("reason", "Motif du recours", "textarea", required=True),),
    ),
    Action.UPHOLD_REJECTION: Transition(
        _from(A.REVIEW_REQUESTED),
        A.REJECTION_FINAL,
        COMMITTEE,
        "Maintenir le rejet",
        "Rejet maintenu",
        ReviewAnswer,
        fields=(ANSWER,),
    ),
    Action.ORDER_RE_EVALUATION: Transition(
        _from(A.REVIEW_REQUESTED),
        A.EVALUATION,
        COMMITTEE,
        "Ordonner une nouvelle évaluation",
        "Nouvelle évaluation ordonnée",
        ReviewAnswer,
        fields=(ANSWER,),
    ),
    # A response time counts from its notice's sending; a notice never sent stops the clock.
    Action.NOTICE_SENT: Transition(
        _from(A.COMPLEMENTS_REQUESTED, A.REJECTED),
        None,
        CLOCK,
        "Compter le délai",
        "Courrier envoyé : le délai de réponse court",
    ),
    Action.NOTICE_UNDELIVERED: Transition(
        _from(A.COMPLEMENTS_REQUESTED, A.REJECTED),
        None,
        CLOCK,
        "Suspendre le délai",
        "Courrier non remis : délai suspendu, à traiter par l'opérateur",
    ),
    Action.FINALIZE_REJECTION: Transition(
        _from(A.REJECTED), A.REJECTION_FINAL, CLOCK, "Clore le recours", "Rejet définitif"
    ),
}

RUNNING = _from(K.ACTIVE, K.REPORT_REQUESTED, K.REPORT_OVERDUE, K.UNDER_REVIEW)
KPIS = "kpis"
CLUSTER: dict[Action, Transition] = {
    Action.OPEN_CASE: Transition(
        _from(), K.AWAITING_CONTRACT, CLOCK, "Ouvrir", "Dossier de soutien ouvert"
    ),
    Action.SIGN_CONTRACT: Transition(
        _from(K.AWAITING_CONTRACT),
        K.ACTIVE,
        MANAGERS,
        "Signer la convention",
        "Convention signée",
        ContractTerms,
        fields=(
            FormField("start_at", "Début de la convention-programme", "date", required=True),
            FormField(
                "planned_amounts",
                "Soutien prévu par année, en MAD (un montant par ligne)",
                "amounts",
                required=True,
            ),
            FormField("kpi_targets", "Objectifs annuels", KPIS, required=True),
        ),
    ),
    Action.ADD_CLUSTER_DOCUMENT: _deposit(_from(K.AWAITING_CONTRACT, K.SUSPENDED) | RUNNING),
    Action.REQUEST_REPORT: Transition(
        _from(K.ACTIVE), K.REPORT_REQUESTED, CLOCK, "Demander", "Rapport annuel demandé"
    ),
    Action.REMIND_REPORT: Transition(
        _from(K.REPORT_REQUESTED), None, CLOCK, "Relancer", "Rappel du rapport"
    ),
    Action.ESCALATE_REPORT: Transition(
        _from(K.REPORT_REQUESTED), K.REPORT_OVERDUE, CLOCK, "Signaler", "Rapport en retard"
    ),
    Action.RECORD_REPORT: Transition(
        _from(K.REPORT_REQUESTED, K.REPORT_OVERDUE),
        K.UNDER_REVIEW,
        DESK,
        "Enregistrer le rapport annuel",
        "Rapport annuel reçu",
        AnnualReport,
        fields=(
            *(
                FormField(name, kind.capitalize() + " (fichier déposé)", "file", required=True)
                for name, kind in REPORT_FILES.items()
            ),
            FormField("kpi_actuals", "Indicateurs réalisés", KPIS, required=True),
            FormField("next_year_plan", "Plan de l'année suivante", "textarea", required=True),
        ),
    ),
    Action.RENEW: Transition(
        _from(K.UNDER_REVIEW),
        K.ACTIVE,
        MANAGERS,
        "Renouveler",
        "Soutien renouvelé",
        Renewal,
        optional_body=True,
        fields=(AMOUNT, OPTIONAL_REASON),
    ),
    Action.RENEW_ON_PROBATION: Transition(
        _from(K.UNDER_REVIEW),
        K.ACTIVE,
        MANAGERS,
        "Renouveler sous probation",
        "Soutien renouvelé sous probation",
        ProbationRenewal,
        fields=(
            AMOUNT,
            FormField("conditions", "Conditions", "textarea", required=True),
            FormField("review_at", "Date de revue", "date", required=True),
            OPTIONAL_REASON,
        ),
    ),
    Action.REVIEW_PROBATION: Transition(RUNNING, None, CLOCK, "Revoir", "Revue de probation"),
    Action.SUSPEND: Transition(
        RUNNING,
        K.SUSPENDED,
        MANAGERS,
        "Suspendre",
        "Soutien suspendu",
        Reason,
        fields=(REASON, CONFIRM),
    ),
    Action.RESUME: Transition(  # target None: back where it was
        _from(K.SUSPENDED),
        None,
        MANAGERS,
        "Reprendre",
        "Soutien repris",
        Note,
        optional_body=True,
        fields=(NOTE,),
    ),
    Action.TERMINATE: Transition(
        RUNNING | {K.SUSPENDED, K.AWAITING_CONTRACT},
        K.TERMINATED,
        MANAGERS,
        "Résilier",
        "Soutien résilié",
        Reason,
        fields=(REASON, CONFIRM),
    ),
    Action.END_SUPPORT: Transition(
        RUNNING | {K.SUSPENDED}, K.ENDED, CLOCK, "Achever", "Fin du soutien"
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
