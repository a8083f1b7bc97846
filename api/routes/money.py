"""The programme's money, read: a call's budget and allocation proposal, the ledger as a
spreadsheet, the programme's budget years and the forecast of the running contracts' needs.
Its commands (a budget set, a reserve file retained, a tranche released or paid) are the
lifecycle table's routes (api.routes.transitions)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from domain.allocation import Rule
from domain.forecast import Scenario
from projection.exports import FILE_RESPONSES, FileFormat, table_response
from projection.ledger import ledger_table, programme_years
from projection.views import CallBudget, Forecast, ProgrammeYears
from web.calls import CALLS
from web.deps import BudgetReader, CallId, Db, LedgerReader
from web.money import MAX_FORECAST_YEARS, call_budget, contracts_forecast, forecast_table

calls = APIRouter(prefix=CALLS.prefix, tags=["budget et paiements"])
finance = APIRouter(prefix="/finance", tags=["budget et paiements"])
routers = (calls, finance)


def share(description: str):  # noqa: ANN201 (a parameter's declaration)
    """A share from 0 to 1 (its bounds refuse « nan » and « inf » too, in French)."""
    return Query(ge=0, le=1, description=description)


def scenario(
    arret: Annotated[
        float, share("Part des clusters qui s'arrêtent chaque année, de 0 à 1 (0,1 : 10 %).")
    ] = 0.0,
    probation: Annotated[
        float, share("Part renouvelée sous probation chaque année, de 0 à 1.")
    ] = 0.0,
    reduction: Annotated[
        float, share("Réduction du montant d'une année sous probation, de 0 à 1.")
    ] = 0.0,
) -> Scenario:
    return Scenario(stop_share=arret, probation_share=probation, probation_cut=reduction)


Years = Annotated[
    int,
    Query(ge=1, le=MAX_FORECAST_YEARS, description="Années budgétaires prévues, de 1 à 30."),
]
Chosen = Annotated[Scenario, Depends(scenario)]


@calls.get("/{call_id}/budget", response_model=CallBudget)
def budget(
    call_id: CallId,
    _: BudgetReader,
    db: Db,
    regle: Annotated[
        Rule,
        Query(
            description="Règle de la proposition : strict (s'arrête au premier dossier qui "
            "ne tient pas) ou ajustee (passe au suivant qui tient)."
        ),
    ] = Rule.STRICT,
) -> CallBudget:
    """Per budget year the envelope and the ledger's balances; the allocation proposal of the
    files still undecided or on the reserve list within what is available; the reserve list
    and the promotions proposed. A proposal changes nothing."""
    return call_budget(db, call_id, regle)


@calls.get("/{call_id}/ledger.csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@calls.get("/{call_id}/ledger.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def call_ledger(call_id: CallId, fmt: FileFormat, _: LedgerReader, db: Db) -> Response:
    """The call's ledger, oldest movement first."""
    CALLS.row(db, call_id)  # 404 for an unknown call
    return table_response(ledger_table(db, call_id), fmt)


@finance.get("/ledger.csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@finance.get("/ledger.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def programme_ledger(fmt: FileFormat, _: LedgerReader, db: Db) -> Response:
    """Every call's ledger, oldest movement first."""
    return table_response(ledger_table(db), fmt)


@finance.get("/years", response_model=ProgrammeYears)
def years(_: BudgetReader, db: Db) -> ProgrammeYears:
    return ProgrammeYears(years=programme_years(db))


@finance.get("/forecast", response_model=Forecast)
def forecast(_: BudgetReader, db: Db, chosen: Chosen, annees: Years = 5) -> Forecast:
    """The running contracts' needs from the current budget year: as planned, and as expected
    when a share stops each year and a share is renewed on probation with a cut."""
    return contracts_forecast(db, chosen, annees)


@finance.get("/forecast.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def forecast_file(
    fmt: FileFormat, _: BudgetReader, db: Db, chosen: Chosen, annees: Years = 5
) -> Response:
    return table_response(forecast_table(contracts_forecast(db, chosen, annees)), fmt)
