"""A call's ranking: scored applications ordered by the grid's rule, those below a threshold
apart, and the same as a table for the exports."""

from sqlmodel import Session, select

from domain.models import ApplicationState
from domain.scoring import TIE_BREAK, rank_key
from domain.stages import (
    STAGE_LABELS_FR,
    STAGES,
    ApplicationStage,
    Step,
)
from projection.exports import Table
from projection.queries import application_state, call_state
from projection.tables import (
    ApplicationRow,
    CallRow,
)
from projection.views import (
    RankedEntry,
    Ranking,
)


def call_ranking(db: Session, call: CallRow) -> Ranking:
    """Scored applications by the grid's rule; those below a threshold are listed apart."""
    state = call_state(call)
    grid = state.spec.grid
    order = state.budget.tie_break if state.budget else None
    rows = db.exec(select(ApplicationRow).where(ApplicationRow.call_id == call.id))
    states = [application_state(r) for r in rows]
    step = {s.id: STAGES[s.stage].step for s in states}
    scored = [
        s for s in states if s.evaluation and s.evaluation.result and step[s.id] >= Step.EVALUATED
    ]
    waiting = [s for s in states if step[s.id] == Step.ELIGIBLE]
    scored.sort(key=lambda s: rank_key(grid, s.evaluation.result, s.registered_at, order))  # type: ignore[union-attr]

    def entry(state: ApplicationState, rank: int | None) -> RankedEntry:
        assert state.evaluation and state.evaluation.result
        return RankedEntry(
            rank=rank,
            application_id=state.id,
            cluster_name=state.data.cluster_name,
            sector=state.data.sector,
            stage=state.stage,
            result=state.evaluation.result,
        )

    above = [s for s in scored if s.evaluation.result.thresholds_met]  # type: ignore[union-attr]
    below = [s for s in scored if not s.evaluation.result.thresholds_met]  # type: ignore[union-attr]
    return Ranking(
        call_id=call.id,
        tie_break=TIE_BREAK,
        ranked=[entry(s, i) for i, s in enumerate(above, start=1)],
        below_threshold=[entry(s, None) for s in below],
        not_scored=len(waiting),
    )


def ranking_table(db: Session, call: CallRow) -> Table:
    """The ranked list, then those below a threshold, each with its means per criterion."""
    result, grid = call_ranking(db, call), call_state(call).spec.grid
    header = (
        ["Rang", "Candidature", "Cluster", "Secteur", "Étape", "Score pondéré"]
        + [c.label for c in grid.criteria]
        + ["Écart entre évaluateurs", "Consensus à discuter", "Seuils atteints"]
    )
    rows = [
        [item.rank or "sous le seuil", item.application_id, item.cluster_name, item.sector]
        + [STAGE_LABELS_FR[ApplicationStage(item.stage)], item.result.weighted_score]
        + [item.result.criterion_means[c.code] for c in grid.criteria]
        + [item.result.spread, item.result.consensus_needed, item.result.thresholds_met]
        for item in result.ranked + result.below_threshold
    ]
    return Table(f"Classement {call.id}", header, rows)
