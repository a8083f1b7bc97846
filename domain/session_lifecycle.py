"""The committee session's part of the lifecycle table (domain.lifecycle): from its draft to the
PV signed, and a signed PV's correction."""

from domain.session import (
    Attendance,
    ItemChange,
    ItemDecision,
    ItemOpening,
    PvCorrection,
    ScanDeposit,
    SessionSpec,
)
from domain.stages import Action, Role, S
from domain.table import CONFIRM, MANAGERS, REASON, F, FormField, Transition, from_

# Who runs a session: an admin, or a member of the committee (the workflow checks that a
# committee account is one of the session's members, and that a signature is the signatory's).
SITTING = frozenset({Role.ADMIN, Role.COMMITTEE})
ITEM = FormField(name="application_id", label="Dossier", kind=F.ITEM, required=True)

SESSION: dict[Action, Transition] = {
    Action.CREATE_SESSION: Transition(
        sources=from_(),
        target=S.DRAFT,
        roles=MANAGERS,
        command="Préparer une séance",
        event="Séance préparée",
        route=False,  # the spec comes with the workflow's start (web.sessions)
    ),
    Action.REVISE_SESSION: Transition(
        sources=from_(S.DRAFT),
        target=None,
        roles=MANAGERS,
        command="Modifier la séance",
        event="Séance modifiée",
        body=SessionSpec,
        route=False,
    ),
    Action.CONVENE: Transition(
        sources=from_(S.DRAFT),
        target=S.CONVENED,
        roles=MANAGERS,
        command="Convoquer les membres",
        event="Membres convoqués, ordre du jour arrêté",
        fields=(CONFIRM,),
    ),
    Action.RECORD_ATTENDANCE: Transition(
        sources=from_(S.CONVENED, S.OPEN),
        target=None,
        roles=SITTING,
        command="Pointer les présents",
        event="Présences pointées",
        body=Attendance,
        fields=(FormField(name="present", label="Membres présents", kind=F.PRESENT),),
    ),
    Action.OPEN_SESSION: Transition(
        sources=from_(S.CONVENED),
        target=S.OPEN,
        roles=SITTING,
        command="Ouvrir la séance",
        event="Séance ouverte (quorum atteint)",
    ),
    Action.ADD_ITEM: Transition(
        sources=from_(S.CONVENED, S.OPEN),
        target=None,
        roles=SITTING,
        command="Ajouter un dossier à l'ordre du jour",
        event="Dossier ajouté à l'ordre du jour",
        body=ItemChange,
        fields=(
            FormField(name="application_id", label="Référence du dossier", required=True),
            REASON,
        ),
    ),
    Action.REMOVE_ITEM: Transition(
        sources=from_(S.CONVENED, S.OPEN),
        target=None,
        roles=SITTING,
        command="Retirer un dossier de l'ordre du jour",
        event="Dossier retiré de l'ordre du jour",
        body=ItemChange,
        fields=(ITEM, REASON),
    ),
    Action.OPEN_ITEM: Transition(
        sources=from_(S.OPEN),
        target=None,
        roles=SITTING,
        command="Ouvrir le dossier",
        event="Dossier ouvert (déclarations d'intérêts recueillies)",
        body=ItemOpening,
        fields=(
            ITEM,
            FormField(name="withdrawn", label="Membres qui se retirent", kind=F.PRESENT),
            FormField(
                name="flags_cleared",
                label="Les membres signalés en conflit probable déclarent n'en avoir aucun",
                kind=F.CHECKBOX,
            ),
        ),
    ),
    Action.DECIDE_ITEM: Transition(
        sources=from_(S.OPEN),
        target=None,
        roles=SITTING,
        command="Enregistrer la décision",
        event="Décision du comité",
        body=ItemDecision,
        fields=(
            ITEM,
            FormField(name="outcome", label="Décision", kind=F.OUTCOME, required=True),
            FormField(name="amounts", label="Montants accordés par année (MAD)", kind=F.AMOUNTS),
            FormField(
                name="amounts_reason",
                label="Motif d'un montant supérieur à la demande",
                kind=F.TEXTAREA,
            ),
            FormField(name="votes_for", label="Voix pour", kind=F.NUMBER, required=True),
            FormField(name="votes_against", label="Voix contre", kind=F.NUMBER),
            FormField(name="abstentions", label="Abstentions", kind=F.NUMBER),
            FormField(name="reason_codes", label="Motifs types", kind=F.REASON_CODES),
            FormField(
                name="reason",
                label="Motivation communiquée au candidat (après les motifs types)",
                kind=F.TEXTAREA,
            ),
            FormField(
                name="internal_note",
                label="Note interne du comité (jamais communiquée au candidat)",
                kind=F.TEXTAREA,
            ),
        ),
    ),
    Action.CLOSE_SESSION: Transition(
        sources=from_(S.OPEN),
        target=S.CLOSED,
        roles=SITTING,
        command="Clore la séance",
        event="Séance close, procès-verbal établi",
        fields=(CONFIRM,),
    ),
    Action.SIGN_PV: Transition(
        sources=from_(S.CLOSED),
        target=None,  # SIGNED once both signatures are on it (the workflow moves it)
        roles=SITTING,
        command="Signer le procès-verbal",
        event="Procès-verbal signé électroniquement",
        fields=(CONFIRM,),
    ),
    Action.DEPOSIT_SIGNED_PV: Transition(
        sources=from_(S.CLOSED),
        target=S.SIGNED,
        roles=MANAGERS,
        command="Déposer le PV signé (scan)",
        event="Procès-verbal signé déposé (scan)",
        body=ScanDeposit,
        route=False,
    ),
    Action.CORRECT_PV: Transition(
        sources=from_(S.SIGNED),
        target=S.CLOSED,
        roles=MANAGERS,
        command="Corriger le procès-verbal",
        event="Procès-verbal rectificatif établi",
        body=PvCorrection,
        fields=(REASON, CONFIRM),
    ),
}
