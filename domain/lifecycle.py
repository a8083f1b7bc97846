"""The lifecycle table: one row per transition, holding everything said about it.

A row gives where the action may start (`sources`), where it leads (`target`, None keeps the
stage), who may take it, its French labels (the command on a button, the event in a timeline),
the body its update takes and the console's form for that body. The workflows' validators, the
API's routes, `allowed_actions`, the console's forms and the timelines all derive from it.
"""

from enum import StrEnum

from domain.bodies import (
    AssignmentDigest,
    CommitteeDecision,
    ComplementsAsk,
    ComplementsReply,
    DeadlineExtension,
    EligibleDecision,
    EvaluatorAssignment,
    EvaluatorRelease,
    IneligibleDecision,
    InterestDeclaration,
    ReviewAnswer,
    ReviewRequest,
    Withdrawal,
)
from domain.cluster_lifecycle import CLUSTER
from domain.declarations import check_bounds, check_table, inputs
from domain.ids import Kind
from domain.models import Amendment, CallSpec, Input, ScoreSheet
from domain.money_lifecycle import APPLICATION_MONEY, CALL_MONEY
from domain.session_lifecycle import SESSION
from domain.stages import (
    A,
    Action,
    ApplicationStage,
    C,
    CallStage,
    ClusterStage,
    Role,
    SessionStage,
    Stage,
)
from domain.table import (
    ANSWER,
    APPLICANTS,
    CLOCK,
    COMMITTEE,
    CONFIRM,
    DESK,
    EVALUATORS,
    INTERNAL_NOTE,
    MANAGERS,
    NOTE,
    OPTIONAL_REASON,
    PUBLIC_REASON,
    PUBLISHERS,
    REASON,
    F,
    FormField,
    Transition,
    deposit,
    from_,
)

CALL: dict[Action, Transition] = {
    Action.CREATE: Transition(
        sources=from_(),
        target=C.DRAFT,
        roles=MANAGERS,
        command="Créer l'appel",
        event="Appel créé",
        route=False,
    ),
    Action.PUBLISH: Transition(
        sources=from_(C.DRAFT),
        target=C.SCHEDULED,
        roles=MANAGERS,
        command="Publier l'appel",
        event="Appel publié",
    ),
    # The whole spec again, as the console's draft form or the API sends it: a route of its own.
    Action.REVISE_CALL: Transition(
        sources=from_(C.DRAFT),
        target=None,
        roles=MANAGERS,
        command="Modifier l'appel",
        event="Appel modifié",
        body=CallSpec,
        route=False,
    ),
    Action.OPEN: Transition(
        sources=from_(C.SCHEDULED),
        target=C.OPEN,
        roles=CLOCK,
        command="Ouvrir",
        event="Appel ouvert",
    ),
    Action.EXTEND_DEADLINE: Transition(
        sources=from_(C.DRAFT, C.SCHEDULED, C.OPEN),
        target=None,
        roles=MANAGERS,
        command="Prolonger la date limite",
        event="Date limite prolongée",
        body=DeadlineExtension,
        fields=(
            FormField(
                name="deadline",
                label="Nouvelle date limite (15h00, heure de Rabat)",
                kind=F.DATE,
                required=True,
            ),
            OPTIONAL_REASON,
        ),
    ),
    # The desk registers a dossier brought in; the association deposits its own (the portal).
    Action.REGISTER_APPLICATION: Transition(
        sources=from_(C.OPEN),
        target=None,
        roles=DESK | APPLICANTS,
        command="Enregistrer une candidature",
        event="Candidature enregistrée",
        route=False,
    ),
    Action.CLOSE: Transition(
        sources=from_(C.OPEN),
        target=C.CLOSED,
        roles=CLOCK,
        command="Clôturer",
        event="Date limite atteinte",
    ),
    Action.START_EVALUATION: Transition(
        sources=from_(C.CLOSED),
        target=C.UNDER_EVALUATION,
        roles=MANAGERS,
        command="Lancer l'évaluation",
        event="Évaluation lancée",
    ),
    # After a bulk assignment: one message per evaluator for the whole batch (the console's
    # bulk action sends it; the cases' own notices were left out with `digest`).
    Action.ANNOUNCE_ASSIGNMENTS: Transition(
        sources=from_(C.UNDER_EVALUATION),
        target=None,
        roles=MANAGERS,
        command="Prévenir les évaluateurs",
        event="Évaluateurs prévenus (récapitulatif du lot)",
        body=AssignmentDigest,
        route=False,
    ),
    Action.PUBLISH_RESULTS: Transition(
        sources=from_(C.UNDER_EVALUATION),
        target=C.RESULTS_PUBLISHED,
        roles=PUBLISHERS,
        command="Publier les résultats",
        event="Résultats publiés",
        fields=(CONFIRM,),
    ),
    Action.ARCHIVE: Transition(
        sources=from_(C.RESULTS_PUBLISHED),
        target=C.ARCHIVED,
        roles=MANAGERS,
        command="Archiver",
        event="Appel archivé",
        fields=(CONFIRM,),
    ),
    **CALL_MONEY,
}

# The committee decides a scored case, and may revise its decision until the results are
# published (the workflow refuses a revision after: `_check_revisable`).
DECIDING = from_(A.SCORED, A.LABELLED, A.RESERVE, A.REJECTED)

APPLICATION: dict[Action, Transition] = {
    Action.REGISTER: Transition(
        sources=from_(),
        target=A.RECEIVED,
        roles=DESK,
        command="Enregistrer",
        event="Candidature enregistrée",
        route=False,
    ),
    Action.AMEND: Transition(
        sources=from_(A.RECEIVED),
        target=None,
        roles=DESK,
        command="Modifier",
        event="Candidature modifiée",
        body=Amendment,
        # Every field the body takes, prefilled from the case (console.applications).
        fields=(
            FormField(name="cluster_name", label="Nom du cluster"),
            FormField(name="legal_form", label="Forme juridique"),
            FormField(name="sector", label="Secteur", kind=F.SECTOR),
            FormField(name="members", label="Membres (une ligne « Nom ; type »)", kind=F.MEMBERS),
            FormField(name="existing_cluster", label="Cluster existant", kind=F.CHECKBOX),
            FormField(name="support_years", label="Années de soutien déjà reçues", kind=F.NUMBER),
            FormField(name="contact", label="Contact", kind=F.CONTACT),
            FormField(name="previous_cluster_id", label="Référence du cluster précédent"),
            FormField(
                name="requested_amounts",
                label="Soutien demandé par année, en MAD (une ligne par année)",
                kind=F.AMOUNTS,
            ),
        ),
    ),
    # Before the deadline, in answer to complements, or as a redress's grounds (its window open).
    Action.ADD_DOCUMENT: deposit(from_(A.RECEIVED, A.COMPLEMENTS_REQUESTED, A.REJECTED)),
    Action.WITHDRAW: Transition(
        sources=from_(A.RECEIVED),
        target=A.WITHDRAWN,
        roles=DESK,
        command="Retirer la candidature",
        event="Candidature retirée",
        body=Withdrawal,
        fields=(REASON, CONFIRM),
    ),
    Action.CLOSE_SUBMISSIONS: Transition(
        sources=from_(A.RECEIVED),
        target=A.ELIGIBILITY_REVIEW,
        roles=CLOCK,
        command="Clore",
        event="Date limite atteinte",
    ),
    Action.MARK_ELIGIBLE: Transition(
        sources=from_(A.ELIGIBILITY_REVIEW),
        target=A.ELIGIBLE,
        roles=DESK,
        command="Déclarer recevable",
        event="Déclarée recevable",
        body=EligibleDecision,
        optional_body=True,
        fields=(NOTE,),
    ),
    Action.MARK_INELIGIBLE: Transition(
        sources=from_(A.ELIGIBILITY_REVIEW),
        target=A.INELIGIBLE,
        roles=DESK,
        command="Déclarer irrecevable",
        event="Déclarée irrecevable",
        body=IneligibleDecision,
        fields=(REASON,),
    ),
    Action.REQUEST_COMPLEMENTS: Transition(
        sources=from_(A.ELIGIBILITY_REVIEW),
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
        sources=from_(A.COMPLEMENTS_REQUESTED),
        target=A.ELIGIBILITY_REVIEW,
        roles=DESK | APPLICANTS,
        command="Enregistrer les compléments",
        event="Compléments reçus",
        body=ComplementsReply,
        fields=(FormField(name="files", label="Fichiers déposés en réponse", kind=F.FILES), NOTE),
    ),
    Action.EXPIRE_COMPLEMENTS: Transition(
        sources=from_(A.COMPLEMENTS_REQUESTED),
        target=A.INELIGIBLE,
        roles=CLOCK,
        command="Expirer",
        event="Compléments non reçus",
    ),
    Action.ASSIGN_EVALUATORS: Transition(
        sources=from_(A.ELIGIBLE, A.EVALUATION),
        target=A.EVALUATION,
        roles=MANAGERS,
        command="Affecter des évaluateurs",
        event="Évaluateurs affectés",
        body=EvaluatorAssignment,
        fields=(
            FormField(name="evaluators", label="Évaluateurs", kind=F.EVALUATORS, required=True),
            FormField(
                name="incomplete",
                label="Je confirme affecter moins d'évaluateurs que l'appel n'en requiert",
                kind=F.CHECKBOX,
            ),
        ),
    ),
    # A manager withdraws an evaluator who cannot evaluate (deactivated, absent): the gap shows
    # in « À traiter » until someone else is assigned.
    Action.RELEASE_EVALUATOR: Transition(
        sources=from_(A.EVALUATION),
        target=None,
        roles=MANAGERS,
        command="Retirer un évaluateur",
        event="Évaluateur retiré",
        body=EvaluatorRelease,
        fields=(
            FormField(name="evaluator", label="Évaluateur", kind=F.ASSIGNED, required=True),
            REASON,
        ),
    ),
    Action.DECLARE_INTEREST: Transition(
        sources=from_(A.EVALUATION),
        target=None,
        roles=EVALUATORS,
        command="Déclarer mes intérêts",
        event="Intérêts déclarés",
        body=InterestDeclaration,
        fields=(
            FormField(
                name="conflict",
                label="Déclaration d'intérêts",
                kind=F.CHOICE,
                required=True,
                choices=(
                    "Je déclare n'avoir aucun conflit d'intérêts avec ce dossier",
                    "Je déclare un conflit d'intérêts : le dossier sera confié à un autre évaluateur",
                ),
            ),
            NOTE,
        ),
    ),
    Action.SUBMIT_SCORES: Transition(
        sources=from_(A.EVALUATION),
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
        sources=from_(A.EVALUATION),
        target=None,
        roles=CLOCK,
        command="Relancer",
        event="Rappel aux évaluateurs",
    ),
    Action.FLAG_OVERDUE: Transition(
        sources=from_(A.EVALUATION),
        target=None,
        roles=CLOCK,
        command="Signaler le retard",
        event="Évaluation en retard",
    ),
    Action.COMPLETE_EVALUATION: Transition(
        sources=from_(A.EVALUATION),
        target=A.SCORED,
        roles=CLOCK,
        command="Conclure",
        event="Évaluation complète",
    ),
    Action.LABEL: Transition(
        sources=DECIDING,
        target=A.LABELLED,
        roles=COMMITTEE,
        command="Labelliser",
        event="Labellisée",
        body=CommitteeDecision,
        fields=(
            PUBLIC_REASON,
            FormField(
                name="amounts",
                label="Soutien accordé par année, en MAD (une ligne par année)",
                kind=F.AMOUNTS,
            ),
            FormField(
                name="amounts_reason",
                label="Motif d'un montant supérieur à la demande",
                kind=F.TEXTAREA,
            ),
            INTERNAL_NOTE,
        ),
    ),
    Action.PUT_ON_RESERVE: Transition(
        sources=DECIDING,
        target=A.RESERVE,
        roles=COMMITTEE,
        command="Inscrire en liste d'attente",
        event="Inscrite en liste d'attente",
        body=CommitteeDecision,
        fields=(PUBLIC_REASON, INTERNAL_NOTE),
    ),
    Action.REJECT: Transition(
        sources=DECIDING,
        target=A.REJECTED,
        roles=COMMITTEE,
        command="Rejeter",
        event="Rejetée",
        body=CommitteeDecision,
        fields=(PUBLIC_REASON, INTERNAL_NOTE, CONFIRM),
    ),
    Action.NOTIFY_RESULT: Transition(
        sources=from_(A.LABELLED, A.RESERVE, A.REJECTED),
        target=None,
        roles=CLOCK,
        command="Notifier",
        event="Résultat notifié",
    ),
    Action.REQUEST_REVIEW: Transition(
        sources=from_(A.REJECTED),
        target=A.REVIEW_REQUESTED,
        roles=DESK | APPLICANTS,
        command="Demander un réexamen",
        event="Réexamen demandé",
        body=ReviewRequest,
        fields=(
            FormField(name="reason", label="Motif du recours", kind=F.TEXTAREA, required=True),
        ),
    ),
    # The redress's dossier, built from the recorded history (activities.redress) as soon as
    # the request is recorded, so the committee reads the case as it stood.
    Action.COMPILE_REDRESS_DOSSIER: Transition(
        sources=from_(A.REVIEW_REQUESTED),
        target=None,
        roles=CLOCK,
        command="Constituer le dossier de recours",
        event="Dossier de recours constitué",
    ),
    Action.UPHOLD_REJECTION: Transition(
        sources=from_(A.REVIEW_REQUESTED),
        target=A.REJECTION_FINAL,
        roles=COMMITTEE,
        command="Maintenir le rejet",
        event="Rejet maintenu",
        body=ReviewAnswer,
        fields=(ANSWER,),
    ),
    Action.ORDER_RE_EVALUATION: Transition(
        sources=from_(A.REVIEW_REQUESTED),
        target=A.EVALUATION,
        roles=COMMITTEE,
        command="Ordonner une nouvelle évaluation",
        event="Nouvelle évaluation ordonnée",
        body=ReviewAnswer,
        fields=(ANSWER,),
    ),
    # A response time counts from its notice's sending; a notice never sent stops the clock.
    Action.NOTICE_SENT: Transition(
        sources=from_(A.COMPLEMENTS_REQUESTED, A.REJECTED),
        target=None,
        roles=CLOCK,
        command="Compter le délai",
        event="Courrier envoyé : le délai de réponse court",
    ),
    Action.NOTICE_UNDELIVERED: Transition(
        sources=from_(A.COMPLEMENTS_REQUESTED, A.REJECTED),
        target=None,
        roles=CLOCK,
        command="Suspendre le délai",
        event="Courrier non remis : délai suspendu, à traiter par l'opérateur",
    ),
    Action.FINALIZE_REJECTION: Transition(
        sources=from_(A.REJECTED),
        target=A.REJECTION_FINAL,
        roles=CLOCK,
        command="Clore le recours",
        event="Rejet définitif",
    ),
    **APPLICATION_MONEY,
}


# Per kind of case: its stages and its part of the table.
KINDS: dict[Kind, tuple[type[StrEnum], dict[Action, Transition]]] = {
    Kind.CALL: (CallStage, CALL),
    Kind.APPLICATION: (ApplicationStage, APPLICATION),
    Kind.CLUSTER: (ClusterStage, CLUSTER),
    Kind.SESSION: (SessionStage, SESSION),
}
TRANSITIONS: dict[Action, Transition] = CALL | APPLICATION | CLUSTER | SESSION
assert len(TRANSITIONS) == sum(len(table) for _, table in KINDS.values()) == len(Action)


for _stages, _table in KINDS.values():
    check_table(_stages, _table)
for _model in inputs(Input):
    check_bounds(_model)

# The committee's decisions: where it may take a scored case. They become final or open a
# redress window once results are published, and stay revisable until then.
DECISIONS = frozenset(
    row.target for row in APPLICATION.values() if row.sources == DECIDING and row.target
)


def table_for(stage: Stage) -> dict[Action, Transition]:
    return next(table for stages, table in KINDS.values() if isinstance(stage, stages))


def allowed_actions(stage: Stage, role: Role | None = None) -> list[Action]:
    """Actions a person (not the clock) may take now, in table order; `role`: those of one role."""
    return [
        action
        for action, row in table_for(stage).items()
        if stage in row.sources and not row.by_clock and (role is None or role in row.roles)
    ]
