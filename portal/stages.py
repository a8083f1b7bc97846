"""What an applicant reads of their case's stage: a public label and the next step, for every
stage of an application and of a labelled cluster (checked here: a new stage without its public
words fails at import). A decision shows only once published: until then the committee's
stages read as « awaiting the committee's decision », and a score never shows."""

from domain.models import ApplicationState
from domain.money import TrancheStatus
from domain.stages import ApplicationStage as A
from domain.stages import ClusterStage as K
from portal.i18n import N_

AWAITING = (
    N_("En attente de la décision du comité"),
    N_("Le comité de pilotage décide en séance ; le résultat vous sera notifié par courrier."),
)
APPLICATION = {
    A.RECEIVED: (
        N_("Déposé"),
        N_("Votre dossier sera examiné après la clôture de l'appel."),
    ),
    A.WITHDRAWN: (N_("Retiré"), N_("Le dossier a été retiré ; il ne sera pas examiné.")),
    A.ELIGIBILITY_REVIEW: (
        N_("Examen de recevabilité"),
        N_("Le programme vérifie que le dossier est complet et recevable."),
    ),
    A.COMPLEMENTS_REQUESTED: (
        N_("Compléments demandés"),
        N_("Envoyez les pièces demandées ci-dessous avant la date indiquée."),
    ),
    A.ELIGIBLE: (N_("Recevable"), N_("Le dossier sera évalué par des experts indépendants.")),
    A.INELIGIBLE: (N_("Non recevable"), N_("Le courrier de résultat indique le motif.")),
    A.EVALUATION: (
        N_("En évaluation"),
        N_("Des experts évaluent le dossier ; le comité décidera ensuite."),
    ),
    A.SCORED: AWAITING,
    A.LABELLED: (
        N_("Labellisé"),
        N_("Félicitations : le programme vous adressera la convention de soutien à signer."),
    ),
    A.RESERVE: (
        N_("Sur liste d'attente"),
        N_("Le dossier sera retenu si des fonds se libèrent avant la clôture de la liste."),
    ),
    A.REJECTED: (
        N_("Non retenu"),
        N_("Vous pouvez demander un réexamen, motivé, avant la date indiquée."),
    ),
    A.REVIEW_REQUESTED: (
        N_("Réexamen demandé"),
        N_("Le comité examinera votre demande et vous répondra par courrier."),
    ),
    A.REJECTION_FINAL: (N_("Non retenu (définitif)"), N_("La décision est définitive.")),
    A.NOT_RETAINED: (
        N_("Non retenu (liste d'attente close)"),
        N_("La liste d'attente est close sans que des fonds se libèrent."),
    ),
}
DECIDED = {A.LABELLED, A.RESERVE, A.REJECTED}
CLUSTER = {
    K.AWAITING_CONTRACT: (
        N_("Convention à signer"),
        N_("Signez la convention de soutien que le programme vous a adressée."),
    ),
    K.ACTIVE: (N_("Soutien en cours"), N_("Le rapport annuel sera demandé à l'anniversaire.")),
    K.REPORT_REQUESTED: (
        N_("Rapport annuel demandé"),
        N_("Envoyez le rapport annuel ci-dessous avant la date indiquée."),
    ),
    K.REPORT_OVERDUE: (
        N_("Rapport annuel en retard"),
        N_("Envoyez le rapport annuel au plus vite : le soutien peut être suspendu."),
    ),
    K.UNDER_REVIEW: (
        N_("Rapport en examen"),
        N_("Le programme examine le rapport et décidera du renouvellement."),
    ),
    K.SUSPENDED: (
        N_("Soutien suspendu"),
        N_("Le programme vous a écrit les conditions de reprise."),
    ),
    K.TERMINATED: (N_("Soutien arrêté"), N_("Le courrier du programme en indique le motif.")),
    K.ENDED: (
        N_("Soutien achevé"),
        N_("Les années de soutien sont terminées ; vous pouvez candidater de nouveau."),
    ),
}
TRANCHES = {
    TrancheStatus.PLANNED: N_("prévue"),
    TrancheStatus.COMMITTED: N_("engagée"),
    TrancheStatus.ELIGIBLE: N_("exigible"),
    TrancheStatus.RELEASED: N_("ordonnancée"),
    TrancheStatus.PAID: N_("payée"),
    TrancheStatus.SUSPENDED: N_("suspendue"),
    TrancheStatus.CANCELLED: N_("annulée"),
    TrancheStatus.FAILED: N_("paiement en cours de reprise"),
}
assert set(APPLICATION) == set(A), "every application stage has its public words"
assert set(TRANCHES) == set(TrancheStatus), "every tranche's state has its public words"
assert set(CLUSTER) == set(K), "every cluster stage has its public words"


def public(state: ApplicationState) -> tuple[str, str]:
    """The label and next step an applicant reads (a decision once published only)."""
    if state.stage in DECIDED and (state.decision is None or state.decision.published_at is None):
        return AWAITING
    return APPLICATION[state.stage]
