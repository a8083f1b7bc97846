"""Grid scoring and ranking: pure arithmetic on the call's grid of criteria."""

from datetime import datetime
from statistics import fmean

from domain.models import EvaluationResult, Grid, ScoreSheet

TIE_BREAK = (
    "score pondéré décroissant, puis moyennes des critères dans l'ordre de la grille, "
    "puis date d'enregistrement la plus ancienne"
)


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


def rank_key(grid: Grid, result: EvaluationResult, registered_at: datetime) -> tuple:
    return (
        -result.weighted_score,
        *(-result.criterion_means[c.code] for c in grid.criteria),
        registered_at,
    )
