"""What an evaluator marks with: the scale's meaning (shown beside every criterion of the grid)
and a grid's draft, a score sheet still being written (every part optional, each bounded as the
sheet bounds it)."""

from typing import Annotated, Any

from pydantic import Field

from domain.declarations import max_length
from domain.fields import LongText
from domain.models import CriterionScore, Input, ScoreSheet

# What each whole mark means; half points sit between two of them.
SCALE: dict[int, str] = {
    0: "absent",
    1: "très insuffisant",
    2: "insuffisant",
    3: "satisfaisant",
    4: "bon",
    5: "excellent",
}


def _as_sheet(model: type[Input], name: str) -> Any:
    """A field's type with the bounds the score sheet declares for it (declared once there)."""
    info = model.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)]


Code = _as_sheet(CriterionScore, "criterion")
Mark = _as_sheet(CriterionScore, "score")  # 0 to 5 by half points


class DraftScore(Input):
    criterion: Code
    score: Mark | None = None
    comment: LongText | None = None


class SheetDraft(Input):
    """A score sheet being written: what was typed so far, nothing required."""

    scores: list[DraftScore] = Field(
        default_factory=list, max_length=max_length(ScoreSheet, "scores")
    )
    comment: LongText | None = None
