"""The money's rows of the lifecycle table (domain.lifecycle): a call's budget and reserve list,
a reserve file retained when funds come back, a laureate lost before its contract, and the
tranches a cluster's support is paid in (domain.money)."""

from domain.money import (
    BudgetChange,
    ConditionApproval,
    PaymentFailure,
    PaymentRecord,
    Promotion,
    Release,
)
from domain.stages import A, Action, C, K
from domain.support import Reason
from domain.table import (
    CLOCK,
    CONFIRM,
    FINANCE,
    MANAGERS,
    NOTE,
    PUBLIC_REASON,
    REASON,
    F,
    FormField,
    Transition,
    from_,
)

TRANCHE = FormField(name="tranche", label="Tranche", kind=F.TRANCHE, required=True)
# Where a cluster's tranches may move: while its support runs (or is suspended).
PAYING = from_(K.ACTIVE, K.REPORT_REQUESTED, K.REPORT_OVERDUE, K.UNDER_REVIEW, K.SUSPENDED)

CALL_MONEY: dict[Action, Transition] = {
    Action.SET_BUDGET: Transition(
        sources=from_(
            C.DRAFT, C.SCHEDULED, C.OPEN, C.CLOSED, C.UNDER_EVALUATION, C.RESULTS_PUBLISHED
        ),
        target=None,
        roles=MANAGERS,
        command="Fixer le budget",
        event="Budget fixé",
        body=BudgetChange,
        fields=(
            FormField(
                name="first_year", label="Première année budgétaire", kind=F.NUMBER, required=True
            ),
            FormField(
                name="envelopes",
                label="Enveloppe par année budgétaire, en MAD (une ligne par année)",
                kind=F.AMOUNTS,
                required=True,
            ),
            FormField(name="reserve_until", label="Fin de la liste d'attente", kind=F.DATE),
            FormField(
                name="reserve_size", label="Dossiers gardés en liste d'attente", kind=F.NUMBER
            ),
            FormField(
                name="tie_break",
                label="Critères qui départagent les ex aequo, un code par ligne (vide : la grille)",
                kind=F.LINES,
            ),
            FormField(
                name="reason", label="Motif (obligatoire pour un changement)", kind=F.TEXTAREA
            ),
        ),
    ),
    Action.PROPOSE_PROMOTION: Transition(
        sources=from_(C.RESULTS_PUBLISHED),
        target=None,
        roles=CLOCK,
        command="Proposer",
        event="Fonds libérés : dossier de la liste d'attente proposé",
    ),
    Action.CLOSE_RESERVE: Transition(
        sources=from_(C.RESULTS_PUBLISHED),
        target=None,
        roles=CLOCK,
        command="Clore",
        event="Liste d'attente close",
    ),
}

APPLICATION_MONEY: dict[Action, Transition] = {
    Action.PROMOTE: Transition(
        sources=from_(A.RESERVE),
        target=A.LABELLED,
        roles=MANAGERS,
        command="Retenir sur les fonds libérés",
        event="Retenue sur la liste d'attente",
        body=Promotion,
        fields=(
            FormField(
                name="amounts",
                label="Soutien accordé par année, en MAD (une ligne par année)",
                kind=F.AMOUNTS,
                required=True,
            ),
            PUBLIC_REASON,
        ),
    ),
    Action.EXPIRE_RESERVE: Transition(
        sources=from_(A.RESERVE),
        target=A.NOT_RETAINED,
        roles=CLOCK,
        command="Clore",
        event="Liste d'attente close : non retenue, fonds insuffisants",
    ),
}

CLUSTER_MONEY: dict[Action, Transition] = {
    Action.RENOUNCE: Transition(
        sources=from_(K.AWAITING_CONTRACT),
        target=K.TERMINATED,
        roles=MANAGERS,
        command="Enregistrer le désistement",
        event="Désistement du lauréat",
        body=Reason,
        fields=(REASON, CONFIRM),
    ),
    Action.LAPSE_CONTRACT: Transition(
        sources=from_(K.AWAITING_CONTRACT),
        target=K.TERMINATED,
        roles=CLOCK,
        command="Constater",
        event="Convention non signée dans le délai",
    ),
    Action.REFUSE_REPORT: Transition(
        sources=from_(K.UNDER_REVIEW),
        target=K.REPORT_REQUESTED,
        roles=MANAGERS,
        command="Refuser le rapport",
        event="Rapport annuel refusé",
        body=Reason,
        fields=(REASON,),
    ),
    Action.APPROVE_CONDITION: Transition(
        sources=PAYING,
        target=None,
        roles=MANAGERS,
        command="Approuver la condition d'une tranche",
        event="Condition de tranche approuvée",
        body=ConditionApproval,
        fields=(TRANCHE, NOTE),
    ),
    Action.RELEASE_TRANCHE: Transition(
        sources=PAYING,
        target=None,
        roles=FINANCE,
        command="Ordonnancer une tranche",
        event="Tranche ordonnancée",
        body=Release,
        fields=(
            TRANCHE,
            FormField(name="budget_line", label="Ligne budgétaire", required=True),
            FormField(name="commitment_number", label="Numéro d'engagement", required=True),
        ),
    ),
    Action.PAY_TRANCHE: Transition(
        sources=PAYING,
        target=None,
        roles=FINANCE,
        command="Enregistrer le paiement",
        event="Tranche payée",
        body=PaymentRecord,
        fields=(
            TRANCHE,
            FormField(name="payment_order", label="Numéro de l'ordre de paiement", required=True),
            FormField(name="bank_reference", label="Référence bancaire", required=True),
        ),
    ),
    Action.REJECT_PAYMENT: Transition(
        sources=PAYING,
        target=None,
        roles=FINANCE,
        command="Enregistrer un rejet de paiement",
        event="Paiement rejeté",
        body=PaymentFailure,
        fields=(
            TRANCHE,
            FormField(name="payment_order", label="Ordre de paiement rejeté", required=True),
            REASON,
        ),
    ),
}
