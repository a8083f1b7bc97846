"""The cluster support case's part of the lifecycle table (domain.lifecycle): from the contract
to each year's report and renewal, suspension, termination and the end of support."""

from domain.money_lifecycle import CLUSTER_MONEY
from domain.stages import Action, K
from domain.support import (
    REPORT_FILES,
    AnnualReport,
    ContractTerms,
    Note,
    ProbationRenewal,
    Reason,
    Renewal,
)
from domain.table import (
    AMOUNT,
    APPLICANTS,
    CLOCK,
    CONFIRM,
    DESK,
    MANAGERS,
    NOTE,
    OPTIONAL_REASON,
    REASON,
    F,
    FormField,
    Transition,
    deposit,
    from_,
)

RUNNING = from_(K.ACTIVE, K.REPORT_REQUESTED, K.REPORT_OVERDUE, K.UNDER_REVIEW)
CLUSTER: dict[Action, Transition] = {
    Action.OPEN_CASE: Transition(
        sources=from_(),
        target=K.AWAITING_CONTRACT,
        roles=CLOCK,
        command="Ouvrir",
        event="Dossier de soutien ouvert",
    ),
    Action.SIGN_CONTRACT: Transition(
        sources=from_(K.AWAITING_CONTRACT),
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
            FormField(
                name="kpi_targets", label="Objectifs annuels (vide : 0)", kind=F.KPIS, required=True
            ),
        ),
    ),
    Action.ADD_CLUSTER_DOCUMENT: deposit(from_(K.AWAITING_CONTRACT, K.SUSPENDED) | RUNNING),
    Action.REQUEST_REPORT: Transition(
        sources=from_(K.ACTIVE),
        target=K.REPORT_REQUESTED,
        roles=CLOCK,
        command="Demander",
        event="Rapport annuel demandé",
    ),
    Action.REMIND_REPORT: Transition(
        sources=from_(K.REPORT_REQUESTED),
        target=None,
        roles=CLOCK,
        command="Relancer",
        event="Rappel du rapport",
    ),
    Action.ESCALATE_REPORT: Transition(
        sources=from_(K.REPORT_REQUESTED),
        target=K.REPORT_OVERDUE,
        roles=CLOCK,
        command="Signaler",
        event="Rapport en retard",
    ),
    Action.RECORD_REPORT: Transition(
        sources=from_(K.REPORT_REQUESTED, K.REPORT_OVERDUE),
        target=K.UNDER_REVIEW,
        roles=DESK | APPLICANTS,
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
            FormField(
                name="kpi_actuals",
                label="Indicateurs réalisés (vide : non déclaré, jamais 0)",
                kind=F.KPIS,
                required=True,
            ),
            FormField(
                name="next_year_plan",
                label="Plan de l'année suivante",
                kind=F.TEXTAREA,
                required=True,
            ),
        ),
    ),
    Action.RENEW: Transition(
        sources=from_(K.UNDER_REVIEW),
        target=K.ACTIVE,
        roles=MANAGERS,
        command="Renouveler",
        event="Soutien renouvelé",
        body=Renewal,
        optional_body=True,
        fields=(AMOUNT, OPTIONAL_REASON),
    ),
    Action.RENEW_ON_PROBATION: Transition(
        sources=from_(K.UNDER_REVIEW),
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
        sources=from_(K.SUSPENDED),
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
    **CLUSTER_MONEY,
}
