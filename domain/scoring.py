"""Grid scoring and ranking: pure arithmetic on the call's grid of criteria."""

from collections.abc import Mapping
from datetime import datetime
from statistics import fmean
from typing import Protocol

from domain.models import EvaluationResult, Grid, ScoreSheet

TIE_BREAK = (
    "score pondéré décroissant, puis moyennes des critères dans l'ordre configuré "
    "(à défaut, celui de la grille), puis date d'enregistrement la plus ancienne"
)


class Scored(Protocol):
    """What ranking needs of a result: an EvaluationResult, or an allocation's candidate."""

    @property
    def weighted_score(self) -> float: ...

    @property
    def criterion_means(self) -> Mapping[str, float]: ...


def sheet_errors(grid: Grid, sheet: ScoreSheet) -> list[str]:
    """What keeps a score sheet from covering the grid exactly once per criterion."""
    codes = [c.code for c in grid.criteria]
    given = [s.criterion for s in sheet.scores]
    errors = [f"critère manquant : {c}" for c in codes if c not in given]
    errors += [f"critère inconnu : {c}" for c in given if c not in codes]
    errors += [f"critère noté deux fois : {c}" for c in sorted(set(given)) if given.count(c) > 1]
    return errors


def weighted(grid: Grid, marks: dict[str, float]) -> float:
    total = sum(c.weight for c in grid.criteria)
    return round(sum(c.weight * marks[c.code] for c in grid.criteria) / total, 3)


def evaluate(
    grid: Grid, sheets: dict[str, ScoreSheet], consensus_spread: float
) -> EvaluationResult:
    """Means per criterion, the weighted score, the spread between evaluators, the thresholds."""
    marks = {name: {s.criterion: s.score for s in sheet.scores} for name, sheet in sheets.items()}
    means = {c.code: round(fmean(m[c.code] for m in marks.values()), 3) for c in grid.criteria}
    per_evaluator = {name: weighted(grid, m) for name, m in marks.items()}
    overall = weighted(grid, means)
    spread = round(max(per_evaluator.values()) - min(per_evaluator.values()), 3)
    failed = [c.code for c in grid.criteria if means[c.code] < c.threshold]
    return EvaluationResult(
        weighted_score=overall,
        criterion_means=means,
        evaluator_scores=per_evaluator,
        spread=spread,
        consensus_needed=spread > consensus_spread,
        thresholds_met=not failed and overall >= grid.overall_threshold,
        failed_criteria=failed,
    )


def tie_break_order(grid: Grid, order: list[str] | None = None) -> list[str]:
    """The grid's criterion codes, those named in `order` first (in that order); codes the
    grid does not know are ignored, those not named follow in the grid's order."""
    codes = [c.code for c in grid.criteria]
    named = [code for code in dict.fromkeys(order or []) if code in codes]
    return named + [code for code in codes if code not in named]


def rank_key(
    grid: Grid, result: Scored, registered_at: datetime, order: list[str] | None = None
) -> tuple:
    """Weighted score descending, then the criteria means descending in `order` (the call's
    tie-break; None or empty: the grid's order), then the earliest deposit."""
    return (
        -result.weighted_score,
        *(-result.criterion_means[code] for code in tie_break_order(grid, order)),
        registered_at,
    )
