"""The money in the console: a call's budget page (its envelopes and balances, the budget's form,
the allocation proposal, its reserve list and the promotions it proposed, each with its form),
the programme's finances (its budget years and the forecast of the running contracts' needs),
and the ledger as a spreadsheet."""

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from console.forms import FormError, french_problems, payload, unconfirmed
from console.pages import (
    ROLE_LABELS,
    Signed,
    as_typed,
    back,
    form_key,
    refusal,
    refused_page,
    render,
    router,
)
from domain.allocation import RULE_LABELS, Rule
from domain.clock import local
from domain.forecast import Scenario
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.money import Budget
from domain.stages import Action, Role
from projection import queries, visibility
from projection.exports import FileFormat, table_response
from projection.ledger import ledger_table, programme_years
from web.actions import ActionSpec
from web.applications import APPLICATIONS
from web.calls import CALLS
from web.deps import BUDGET_READERS, LEDGER_READERS, Db
from web.errors import ApiError
from web.money import MAX_FORECAST_YEARS, call_budget, contracts_forecast, forecast_table

FINANCES = "/console/finances"
REASON_NEEDED = (
    "Motif (obligatoire pour un changement) : le budget est déjà fixé, indiquez le motif du "
    "changement."
)
# The forecast's form: its shares in percent, as a person writes them, and its horizon.
SHARES = {
    "arret": "Part des clusters qui s'arrêtent chaque année (%)",
    "probation": "Part renouvelée sous probation chaque année (%)",
    "reduction": "Réduction du montant d'une année sous probation (%)",
}
HORIZON = "annees"
HORIZON_LABEL = "Années prévues"
DEFAULT_YEARS = 5


def budget_path(call_id: str) -> str:
    return f"/console/appels/{call_id}/budget"


def may_read(actor: Actor, roles: tuple[Role, ...], what: str) -> None:
    if actor.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{what} : votre rôle n'y a pas accès.")


def role_refused(actor: Actor) -> str:
    return f"Votre rôle ({ROLE_LABELS.get(actor.role, actor.role)}) ne permet pas cette action."


def _amount(value: float) -> str:
    """An amount as the forms read it back (console.forms): « 1 200 000 », « 99,5 »."""
    return f"{value:,.2f}".replace(",", " ").removesuffix(".00").replace(".", ",")


def amounts_text(amounts: list[float]) -> str:
    return "\n".join(_amount(a) for a in amounts)


def budget_values(budget: Budget | None) -> dict[str, list[str]]:
    """The budget's form as the budget fills it (a new one: its defaults), in the shape of a
    refused form (`typed`)."""
    if budget is None:
        return {"reserve_size": [str(Budget.model_fields["reserve_size"].default)]}
    until = local(budget.reserve_until).date().isoformat() if budget.reserve_until else ""
    values = {
        "first_year": str(budget.first_year),
        "envelopes": amounts_text(budget.envelopes),
        "reserve_until": until,
        "reserve_size": str(budget.reserve_size),
        "tie_break": "\n".join(budget.tie_break),
    }
    return {name: [value] for name, value in values.items()}


# --- a call's budget ----------------------------------------------------------------------------


@router.get("/appels/{case_id}/budget", response_class=HTMLResponse)
def budget(request: Request, case_id: str, actor: Signed, db: Db, regle: str = "") -> HTMLResponse:
    return budget_page(request, case_id, actor, db, rule=regle)


def budget_page(
    request: Request, case_id: str, actor: Actor, db: Db, rule: str = "", **form: Any
) -> HTMLResponse:
    may_read(actor, BUDGET_READERS, "Le budget d'un appel")
    chosen = Rule(rule) if rule in set(Rule) else Rule.STRICT
    money = call_budget(db, case_id, chosen)
    call = visibility.call_view(queries.call_state(CALLS.row(db, case_id)), actor)
    settable = (
        Action.SET_BUDGET in call.allowed_actions
        and actor.role in TRANSITIONS[Action.SET_BUDGET].roles
    )
    promoting = actor.role in TRANSITIONS[Action.PROMOTE].roles and not money.reserve_closed
    # The forms as the case fills them, unless one comes back refused as it was typed.
    filled = {Action.SET_BUDGET.value: budget_values(money.budget)} | {
        f"promote-{p.application_id}": {"amounts": [amounts_text(p.amounts)]}
        for p in money.promotions
    }
    filled |= form.pop("filled", None) or {}
    return render(
        request,
        "budget.html",
        actor,
        call=call,
        money=money,
        rule=chosen,
        rules=RULE_LABELS,
        settable=settable,
        promoting=promoting,
        ledger=actor.role in LEDGER_READERS,
        filled=filled,
        **form,
    )


async def _send(
    request: Request,
    case_id: str,
    actor: Actor,
    db: Db,
    spec: ActionSpec,
    name: str,
    check: Callable[[Any], None] = lambda _: None,
) -> Response:
    """The form `name` of the call's budget page sent as `spec`'s update on `case_id` (the call,
    or one of its files); a refusal shows the budget page again, the form as typed."""
    call_id = request.path_params["case_id"]
    here = budget_path(call_id)
    if actor.role not in spec.row.roles:
        return back(here, "erreur", role_refused(actor))
    form = await request.form()

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(budget_page, request, call_id, actor, db)
        return refused_page(here, page, as_typed(name, form, problems), code)

    if unconfirmed(spec.row.fields, form):
        return refused([("", f"{spec.row.command} : cochez la confirmation pour continuer.")])
    labels = {f.name: f.label for f in spec.row.fields}
    try:
        key = form_key(form)  # a forged key refused before anything else
        assert spec.row.body is not None
        body = spec.row.body.model_validate(payload(spec.row.fields, form))
        check(body)
        await spec.perform(request, case_id, actor, db, body, key)
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, labels))
    except ApiError as error:
        lines = refusal(error, actor, spec.action)
        return refused([("", line) for line in lines], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(here, "succes", f"{spec.row.command} : fait.")


@router.post("/appels/{case_id}/budget/set_budget")
async def set_budget(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """The budget set, or changed with its reason (told beside its field before anything is
    sent; the workflow checks it again)."""

    def explained(body: Any) -> None:
        if queries.call_state(CALLS.row(db, case_id)).budget is not None and not body.reason:
            raise FormError(REASON_NEEDED, "reason")

    spec = CALLS.actions[Action.SET_BUDGET]
    return await _send(request, case_id, actor, db, spec, spec.action.value, explained)


@router.post("/appels/{case_id}/budget/{application_id}/promote")
async def promote(
    request: Request, case_id: str, application_id: str, actor: Signed, db: Db
) -> Response:
    """A reserve file of this call retained on the funds that came back."""

    def of_this_call(_: Any) -> None:
        if APPLICATIONS.row(db, application_id).call_id != case_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Candidature inconnue de cet appel.")

    spec = APPLICATIONS.actions[Action.PROMOTE]
    name = f"promote-{application_id}"
    return await _send(request, application_id, actor, db, spec, name, of_this_call)


@router.get("/appels/{case_id}/grand-livre.csv")
@router.get("/appels/{case_id}/grand-livre.xlsx")
def call_ledger(case_id: str, fmt: FileFormat, actor: Signed, db: Db) -> Response:
    may_read(actor, LEDGER_READERS, "Le grand livre")
    CALLS.row(db, case_id)  # 404 for an unknown call
    return table_response(ledger_table(db, case_id), fmt)


# --- the programme's finances ---------------------------------------------------------------------


def scenario_of(values: dict[str, str]) -> tuple[Scenario, int, list[tuple[str, str]]]:
    """The forecast's scenario and horizon as the form gives them (shares in percent, empty: 0),
    and its problems, each beside its field (a wrong value counts as the default)."""
    problems: list[tuple[str, str]] = []
    shares = {}
    for name, label in SHARES.items():
        raw = values.get(name, "").strip()
        shares[name] = 0.0
        try:
            share = float(raw.replace("%", "").replace(" ", "").replace(",", ".") or "0")
        except ValueError:
            problems.append((name, f"{label} : nombre attendu (« {raw[:20]} »)."))
            continue
        if not math.isfinite(share) or not 0 <= share <= 100:
            problems.append((name, f"{label} : de 0 à 100."))
            continue
        shares[name] = share / 100
    raw = values.get(HORIZON, "").strip()
    years = DEFAULT_YEARS
    if raw:
        if raw.isdigit() and 1 <= int(raw) <= MAX_FORECAST_YEARS:
            years = int(raw)
        else:
            bound = f"{HORIZON_LABEL} : un nombre entier de 1 à {MAX_FORECAST_YEARS}"
            problems.append((HORIZON, f"{bound} (« {raw[:20]} »)."))
    scenario = Scenario(
        stop_share=shares["arret"],
        probation_share=shares["probation"],
        probation_cut=shares["reduction"],
    )
    return scenario, years, problems


def _asked(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "") for name in (*SHARES, HORIZON)}


@router.get("/finances", response_class=HTMLResponse)
def finances(request: Request, actor: Signed, db: Db) -> HTMLResponse:
    may_read(actor, BUDGET_READERS, "Les finances du programme")
    asked = _asked(request)
    scenario, years, problems = scenario_of(asked)
    context: dict[str, Any] = {}
    if problems:  # each beside its field, and all of them at the top
        context = {
            "errors": {"prevision": dict(problems)},
            "message": {"kind": "erreur", "lines": [line for _, line in problems]},
        }
    shown = render(
        request,
        "finances.html",
        actor,
        years=programme_years(db),
        forecast=contracts_forecast(db, scenario, years),
        asked={name: value[:20] for name, value in asked.items() if value},
        ledger=actor.role in LEDGER_READERS,
        shares=SHARES,
        horizon=(HORIZON, HORIZON_LABEL, DEFAULT_YEARS),
        **context,
    )
    if problems:
        shown.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return shown


@router.get("/finances/prevision.xlsx")
def forecast_file(request: Request, fmt: FileFormat, actor: Signed, db: Db) -> Response:
    may_read(actor, BUDGET_READERS, "Les finances du programme")
    scenario, years, problems = scenario_of(_asked(request))
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems[0][1])
    return table_response(forecast_table(contracts_forecast(db, scenario, years)), fmt)


@router.get("/finances/grand-livre.csv")
@router.get("/finances/grand-livre.xlsx")
def programme_ledger(fmt: FileFormat, actor: Signed, db: Db) -> Response:
    may_read(actor, LEDGER_READERS, "Le grand livre")
    return table_response(ledger_table(db), fmt)
