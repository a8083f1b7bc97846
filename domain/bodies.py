"""What a person sends with an operator transition: each update's body, bounded (the
lifecycle table names each one; domain.declarations checks them at import)."""

from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from domain.fields import (
    MAX_ITEMS,
    DocumentId,
    LongText,
    Moment,
    Text,
    TextList,
    text_list,
)
from domain.models import Input
from domain.money import MAX_YEARS, Amount


class DeadlineExtension(Input):
    deadline: Moment = Field(description="Date seule : 15h00, heure de Rabat.")
    reason: LongText | None = None


class Withdrawal(Input):
    reason: LongText


class EligibleDecision(Input):
    note: LongText | None = None


class IneligibleDecision(Input):
    reason: LongText


class ComplementsAsk(Input):
    items: Annotated[TextList, Field(min_length=1)]
    due_at: Moment | None = Field(
        default=None, description="Par défaut : délai de réponse de l'appel."
    )
    note: LongText | None = None


class ComplementsReply(Input):
    files: list[DocumentId] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Fichiers déposés en réponse à la demande (leurs id).",
    )
    note: LongText | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "ComplementsReply":
        if not self.files and not self.note:
            raise ValueError("joignez au moins un fichier déposé ou une note")
        return self


class EvaluatorAssignment(Input):
    evaluators: Annotated[text_list(9), Field(min_length=1)] = Field(
        description="Noms des évaluateurs."
    )
    incomplete: bool = Field(
        default=False,
        description="Vrai : affecter moins d'évaluateurs que l'appel n'en requiert, sciemment.",
    )
    digest: bool = Field(
        default=False,
        description="Vrai : pas de courrier par dossier ; l'appel envoie ensuite un récapitulatif "
        "du lot à chaque évaluateur (action announce_assignments).",
    )


class DigestItem(Input):
    """One case of an assignment batch, as the evaluator's digest lists it."""

    evaluator: Text
    application_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12}$", max_length=12)]
    cluster_name: Text
    due_at: Moment


class AssignmentDigest(Input):
    """A batch of assignments of one call (at most a bulk action's 200 cases, 9 evaluators
    each): each evaluator gets one message listing their cases."""

    items: list[DigestItem] = Field(min_length=1, max_length=1800)


class EvaluatorRelease(Input):
    evaluator: Text
    reason: LongText


class InterestDeclaration(Input):
    conflict: bool = Field(description="Vrai : conflit d'intérêts, l'affectation est libérée.")
    note: LongText | None = None


class CommitteeDecision(Input):
    reason: LongText = Field(description="Motif communiqué au candidat, repris dans le courrier.")
    internal_note: LongText | None = Field(
        default=None, description="Note interne du comité, jamais communiquée au candidat."
    )
    amounts: list[Amount] = Field(
        default_factory=list,
        max_length=MAX_YEARS,
        description="Soutien accordé par année de convention, en MAD (labellisation).",
    )
    amounts_reason: LongText | None = Field(
        default=None, description="Pourquoi accorder plus que le montant demandé."
    )


class SessionDecision(CommitteeDecision):
    """A committee session's decision on a file, sent by the session's workflow (never by a
    face: the faces' body is CommitteeDecision, which refuses these fields)."""

    session_id: str = Field(pattern=r"^[0-9a-f]{1,32}$", max_length=32)


class ReviewRequest(Input):
    reason: LongText


class ReviewAnswer(Input):
    answer: LongText
