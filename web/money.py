"""The money as both faces read it: a call's budget (its balances, the allocation proposal, its
reserve list and the promotions it proposed), the programme's years, and the forecast of what
the running contracts still need. Reads only: a proposal changes nothing."""

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from activities.money import ranked, requested
from domain.allocation import RULE_LABELS, Candidate, Placed, Rule, allocate
from domain.clock import local
from domain.forecast import Contract, Scenario, forecast
from domain.ids import call_workflow_id
from domain.models import ApplicationState, CallState
from domain.stages import FINAL_CLUSTER_STAGES, Action, ApplicationStage
from projection import ledger, queries
from projection.exports import Table
from projection.ledger import YearBalance
from projection.tables import ApplicationRow, ClusterRow
from projection.views import (
    CallBudget,
    Forecast,
    ForecastYear,
    PlacedView,
    PromotionView,
    Proposal,
)
from web.calls import CALLS

# The files a proposal ranks against what is left: undecided, or waiting on the reserve list
# (a label has reserved its amounts already: they are off the envelope).
OPEN_FILES = (ApplicationStage.SCORED, ApplicationStage.RESERVE)
# Those on the reserve list, or left on it when it closed (a promoted one is in the promotions).
RESERVE_STAGES = (ApplicationStage.RESERVE, ApplicationStage.NOT_RETAINED)
MAX_FORECAST_YEARS = 30


def call_budget(db: Session, call_id: str, rule: Rule = Rule.STRICT) -> CallBudget:
    """The call's money; 404 for an unknown call."""
    state = queries.call_state(CALLS.row(db, call_id))
    rows = db.exec(select(ApplicationRow).where(ApplicationRow.call_id == call_id))
    files = {s.id: s for s in (queries.application_state(r) for r in rows)}
    years = ledger.call_balances(db, call_id)
    grid = state.spec.grid
    on_reserve = sorted(
        (s for s in files.values() if s.stage in RESERVE_STAGES or s.id in state.promotions),
        key=lambda s: ranked(grid, s),
    )
    return CallBudget(
        call_id=call_id,
        budget=state.budget,
        years=years,
        proposal=proposal(state, files, years, rule) if state.budget else None,
        reserve=[placed(s, rank) for rank, s in enumerate(on_reserve, start=1)],
        promotions=promotions(db, call_id, files),
        reserve_closed=state.reserve_closed,
    )


def placed(state: ApplicationState, rank: int | None) -> PlacedView:
    return PlacedView(
        application_id=state.id,
        cluster_name=state.data.cluster_name,
        stage=state.stage,
        rank=rank,
        amounts=requested(state),
    )


def proposal(
    call: CallState, files: dict[str, ApplicationState], years: list[YearBalance], rule: Rule
) -> Proposal:
    """The scored files still open, allocated within what each budget year has left."""
    assert call.budget is not None
    available = {b.year: b.available for b in years if b.available is not None}
    candidates = []
    for state in files.values():
        result = state.evaluation.result if state.evaluation else None
        if state.stage in OPEN_FILES and result is not None:
            candidates.append(
                Candidate(
                    application_id=state.id,
                    weighted_score=result.weighted_score,
                    criterion_means=result.criterion_means,
                    thresholds_met=result.thresholds_met,
                    registered_at=state.registered_at,
                    amounts=tuple(requested(state)),
                )
            )
    allocation = allocate(candidates, call.budget, available, rule, call.spec.grid)

    def views(items: list[Placed]) -> list[PlacedView]:
        return [placed(files[p.application_id], p.rank) for p in items]

    return Proposal(
        rule=rule,
        rule_label=RULE_LABELS[rule],
        available=available,
        laureates=views(allocation.laureates),
        reserve=views(allocation.reserve),
        insufficient=views(allocation.insufficient),
        below_threshold=[placed(files[i], None) for i in allocation.below_threshold],
        remaining=allocation.remaining,
    )


def promotions(
    db: Session, call_id: str, files: dict[str, ApplicationState]
) -> list[PromotionView]:
    """The reserve files the call proposed, as its audit trail recorded each proposal."""
    found = []
    for event in queries.audit_trail(db, call_workflow_id(call_id)):
        if event.action != Action.PROPOSE_PROMOTION:
            continue
        state = files.get(str(event.payload.get("application_id")))
        if state is None:
            continue
        found.append(
            PromotionView(
                application_id=state.id,
                cluster_name=state.data.cluster_name,
                stage=state.stage,
                amounts=event.payload.get("amounts") or requested(state),
                freed_by=event.payload.get("freed_by"),
                proposed_at=event.at,
                pending=state.stage == ApplicationStage.RESERVE,
            )
        )
    return found


# --- the running contracts' needs ------------------------------------------------------------


def running_contracts(db: Session) -> list[Contract]:
    """Every contract still running whose call has a budget (money tracked): its amounts per
    contract year from its call's first budget year, and what the ledger has paid of each."""
    firsts = ledger.first_years(db)
    rows = db.exec(
        select(ClusterRow).where(col(ClusterRow.stage).not_in(list(FINAL_CLUSTER_STAGES)))
    )
    planned: dict[str, tuple[int, tuple[float, ...]]] = {}
    for row in rows:
        amounts = (row.state.get("contract") or {}).get("planned_amounts")
        if row.call_id in firsts and amounts:
            planned[row.application_id] = (firsts[row.call_id], tuple(amounts))
    paid = ledger.paid_by_case(db, planned)
    return [
        Contract(
            cluster_id=case,
            first_budget_year=first,
            amounts=amounts,
            paid=tuple(paid.get((case, first + i), 0.0) for i in range(len(amounts))),
        )
        for case, (first, amounts) in sorted(planned.items())
    ]


def this_year() -> int:
    """The budget year under way: the calendar year in Rabat."""
    return local(datetime.now(UTC)).year


def contracts_forecast(db: Session, scenario: Scenario, years: int) -> Forecast:
    """The next `years` budget years' needs, from the current one."""
    contracts = running_contracts(db)
    start = this_year()
    return Forecast(
        from_year=start,
        stop_share=scenario.stop_share,
        probation_share=scenario.probation_share,
        probation_cut=scenario.probation_cut,
        contracts=len(contracts),
        needs=[
            ForecastYear(year=n.year, planned=n.planned, expected=n.expected)
            for n in forecast(contracts, scenario, start, years)
        ],
    )


FORECAST_HEADER = [
    "Année budgétaire",
    "Prévu (MAD)",
    "Attendu selon le scénario (MAD)",
    "Part qui s'arrête chaque année",
    "Part sous probation",
    "Réduction sous probation",
]


def forecast_table(result: Forecast) -> Table:
    shares = [result.stop_share, result.probation_share, result.probation_cut]
    rows = [[n.year, n.planned, n.expected, *shares] for n in result.needs]
    return Table("Prévision des besoins", FORECAST_HEADER, rows)
