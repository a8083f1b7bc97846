"""Calls: their list, a new call and a draft's revision (one spec form), each call's page, its
ranking's files, registering applications."""

import re
import unicodedata
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console.forms import (
    MEMBER_TYPES_FR,
    FormError,
    application_payload,
    french_problems,
)
from console.pages import (
    Signed,
    as_typed,
    back,
    form_key,
    refusal,
    refused_page,
    render,
    router,
    typed_value,
)
from domain.clock import RABAT, local
from domain.lifecycle import TRANSITIONS
from domain.models import Actor, ApplicationInput, CallRules, CallSpec, Grid
from domain.stages import Action, CallStage, Role
from projection import queries
from projection.exports import FileFormat
from projection.ranking import call_ranking
from web.calls import CALLS, call_detail, ranking_file, register, revise, start_call
from web.deps import BUDGET_READERS, Db
from web.errors import ApiError, french

# The spec form, shared by a new call and a draft's revision: its name in `as_typed`, the
# French label of each field (errors name them so), its numbers and a grid row's parts.
SPEC_FORM = "call"
SPEC_LABELS = {
    "year": "Année",
    "title": "Intitulé",
    "opens_at": "Ouverture",
    "deadline": "Date limite",
    "sectors": "Secteurs",
    "required_documents": "Pièces exigées",
    "evaluators_per_application": "Évaluateurs par candidature",
    "complement_response_days": "Délai de réponse aux compléments",
    "evaluation_days": "Délai d'évaluation",
    "redress_days": "Délai de recours",
    "grid": "Grille d'évaluation",
    "criteria": "critères",
    "overall_threshold": "Seuil global",
}
NUMBERS = (
    "year",
    "evaluators_per_application",
    "complement_response_days",
    "evaluation_days",
    "redress_days",
)
CRITERION_LABELS = {"label": "intitulé", "weight": "poids", "threshold": "seuil", "code": "code"}
MAX_CRITERIA = next(
    m.max_length for m in Grid.model_fields["criteria"].metadata if hasattr(m, "max_length")
)
SPARE_ROWS = 3  # empty grid rows to add criteria without a script


def _field(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _decimal(text: str) -> str:
    """A French decimal (« 2,5 ») as pydantic reads it; anything else is left to its check."""
    return text.replace("\u202f", "").replace(" ", "").replace(",", ".")


def _code(label: str) -> str:
    """A criterion's code made from its label when left empty (« Impact régional » →
    impact_regional): lowercase ASCII, digits and _, starting with a letter."""
    ascii_ = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    code = re.sub(r"[^a-z0-9]+", "_", ascii_).strip("_")
    return (code if code[:1].isalpha() else f"c_{code}")[:40].rstrip("_")


def _lines(form: FormData, name: str) -> list[str]:
    return [line.strip() for line in _field(form, name).splitlines() if line.strip()]


def spec_payload(form: FormData, base: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """The CallSpec the form describes, over `base` (a draft's spec as it stands, for the rules
    the form does not show; empty for a new call: their defaults), and the form row of each
    criterion kept (a row left empty, or ticked « retirer », is no criterion)."""
    body = dict(base)
    for name in ("title", "opens_at", "deadline"):
        body[name] = _field(form, name)
    for name in NUMBERS:
        if raw := _field(form, name):
            body[name] = _decimal(raw)
    body["sectors"] = _lines(form, "sectors")
    body["required_documents"] = _lines(form, "required_documents")
    rows, criteria = [], []
    for i in range(MAX_CRITERIA):
        parts = {p: _field(form, f"criterion-{i}-{p}") for p in CRITERION_LABELS}
        if not any(parts.values()) or f"criterion-{i}-remove" in form:
            continue
        criterion = {"label": parts["label"], "code": parts["code"] or _code(parts["label"])}
        criterion |= {p: _decimal(parts[p]) for p in ("weight", "threshold") if parts[p]}
        rows.append(i)
        criteria.append(criterion)
    body["grid"] = {"criteria": criteria}
    if overall := _field(form, "overall_threshold"):
        body["grid"]["overall_threshold"] = _decimal(overall)
    return body, rows


def spec_problems(error: ValidationError, rows: list[int]) -> list[tuple[str, str]]:
    """The spec's errors in French, each beside its field: a criterion's beside its row's."""
    problems = []
    for item, (field, line) in zip(
        error.errors(), french_problems(error, SPEC_LABELS), strict=True
    ):
        loc = item["loc"]
        if loc[:2] == ("grid", "criteria") and len(loc) >= 4 and isinstance(loc[2], int):
            row, part = rows[loc[2]], str(loc[3])
            field = f"criterion-{row}-{part}"
            line = f"Critère {row + 1} › {CRITERION_LABELS.get(part, part)} : {french(item)}"
        elif loc[:2] == ("grid", "overall_threshold"):
            field = "overall_threshold"
        problems.append((field, line))
    return problems


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def spec_values(rules: CallRules, spec: CallSpec | None = None) -> dict[str, list[str]]:
    """The spec form as `spec` fills it (a draft's), or as a new call starts: the rules'
    defaults; in the shape of a refused form (`typed`), so the template reads either alike."""
    values = {
        "title": spec.title if spec else "",
        "year": str(spec.year if spec else datetime.now(RABAT).year),
        "opens_at": local(spec.opens_at).strftime("%Y-%m-%dT%H:%M") if spec else "",
        "deadline": local(spec.deadline).date().isoformat() if spec else "",
        "sectors": "\n".join(rules.sectors),
        "required_documents": "\n".join(rules.required_documents),
        "overall_threshold": _number(rules.grid.overall_threshold),
    } | {name: str(getattr(rules, name)) for name in NUMBERS if name != "year"}
    for i, c in enumerate(rules.grid.criteria):
        values |= {
            f"criterion-{i}-label": c.label,
            f"criterion-{i}-weight": _number(c.weight),
            f"criterion-{i}-threshold": _number(c.threshold),
            f"criterion-{i}-code": c.code,
        }
    return {name: [value] for name, value in values.items()}


def spec_context(form: dict[str, Any], rules: CallRules, spec: CallSpec | None) -> dict:
    """The spec form's values (as typed when refused, else as the spec holds them) and its
    number of grid rows: those shown, and spare empty ones."""
    values = ((form.get("filled") or {}).get(SPEC_FORM)) or spec_values(rules, spec)
    shown = [i for i in range(MAX_CRITERIA) if f"criterion-{i}-label" in values]
    filled = [
        i for i in shown if any(typed_value(values, f"criterion-{i}-{p}") for p in CRITERION_LABELS)
    ]
    rows = min(MAX_CRITERIA, max(len(shown), len(filled) + SPARE_ROWS))
    return {"spec_values": values, "spec_rows": rows}


@router.get("/appels", response_class=HTMLResponse)
def calls(request: Request, actor: Signed, db: Db) -> HTMLResponse:
    return calls_page(request, actor, db)


def calls_page(request: Request, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    return render(
        request,
        "appels.html",
        actor,
        calls=queries.calls_by_deadline(db),
        **spec_context(form, CallRules(), None),
        **form,
    )


@router.post("/appels")
async def create_call(request: Request, actor: Signed, db: Db) -> Response:
    form = await request.form()
    if actor.role != Role.ADMIN:
        return back(
            "/console/appels", "erreur", "Seul un gestionnaire du programme peut créer un appel."
        )
    body, rows = spec_payload(form, {})

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(calls_page, request, actor, db)
        return refused_page("/console/appels", page, as_typed(SPEC_FORM, form, problems), code)

    try:
        key = form_key(form)  # a forged key refused before anything else
        spec = CallSpec.model_validate(body)
        state = await start_call(request, db, spec, actor, key)
    except ValidationError as error:
        return refused(spec_problems(error, rows))
    except ApiError as error:
        return refused([("", line) for line in refusal(error, actor)], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(
        f"/console/appels/{state.id}",
        "succes",
        "Appel créé (brouillon) : publiez-le pour qu'il s'ouvre à sa date.",
    )


@router.post("/appels/{case_id}/modifier")
async def revise_call(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """A draft's whole spec again, from the same form as a new call's."""
    form = await request.form()
    here = f"/console/appels/{case_id}"
    if actor.role not in TRANSITIONS[Action.REVISE_CALL].roles:
        return back(here, "erreur", "Seul un gestionnaire du programme peut modifier un appel.")
    current = queries.call_state(CALLS.row(db, case_id)).spec
    body, rows = spec_payload(form, current.model_dump(mode="json"))

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(call_page, request, case_id, actor, db)
        return refused_page(here, page, as_typed(SPEC_FORM, form, problems), code)

    try:
        key = form_key(form)  # a forged key refused before anything else
        spec = CallSpec.model_validate(body)
        await revise(request, db, case_id, spec, actor, key)
    except ValidationError as error:
        return refused(spec_problems(error, rows))
    except ApiError as error:
        lines = refusal(error, actor, Action.REVISE_CALL)
        return refused([("", line) for line in lines], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(here, "succes", "Appel modifié : il reste un brouillon jusqu'à sa publication.")


@router.get("/appels/{case_id}", response_class=HTMLResponse)
def call(request: Request, case_id: str, actor: Signed, db: Db) -> HTMLResponse:
    return call_page(request, case_id, actor, db)


def call_page(request: Request, case_id: str, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    detail = call_detail(db, case_id, actor)
    ranking = (
        call_ranking(db, CALLS.row(db, case_id))
        if actor.role in (Role.ADMIN, Role.COMMITTEE)
        else None
    )
    can_register = detail.stage == CallStage.OPEN and actor.role in (Role.ADMIN, Role.OPERATOR)
    # The draft's spec form, for those who may revise it while the call allows it.
    revisable = (
        Action.REVISE_CALL in detail.allowed_actions
        and actor.role in TRANSITIONS[Action.REVISE_CALL].roles
    )
    return render(
        request,
        "appel.html",
        actor,
        call=detail,
        ranking=ranking,
        # its envelopes, the allocation proposal, its reserve list (console.money)
        budget_page=f"/console/appels/{case_id}/budget" if actor.role in BUDGET_READERS else None,
        can_register=can_register,
        member_types=list(MEMBER_TYPES_FR),
        revisable=revisable,
        deadline_day=local(detail.spec.deadline).date().isoformat(),  # the extension's start
        **(spec_context(form, detail.spec, detail.spec) if revisable else {}),
        **form,
    )


@router.get("/appels/{case_id}/classement.csv")
@router.get("/appels/{case_id}/classement.xlsx")
def ranking_export(case_id: str, fmt: FileFormat, actor: Signed, db: Db) -> Response:
    if actor.role not in (Role.ADMIN, Role.COMMITTEE):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Classement indisponible.")
    return ranking_file(db, case_id, fmt)


@router.post("/appels/{case_id}/candidatures")
async def register_application(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    form = await request.form()

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        context = as_typed("register", form, problems)
        page = partial(call_page, request, case_id, actor, db)
        return refused_page(f"/console/appels/{case_id}", page, context, code)

    labels = {
        "cluster_name": "Nom du cluster",
        "sector": "Secteur",
        "contact": "Contact",
        "email": "courriel",
        "name": "nom",
        "members": "Membres",
    }
    try:
        data = ApplicationInput.model_validate(application_payload(form))
        if actor.role not in (Role.ADMIN, Role.OPERATOR):
            raise ApiError(
                status.HTTP_403_FORBIDDEN, "Seuls les opérateurs enregistrent les candidatures."
            )
        state = await register(request, db, case_id, data, actor, form_key(form))
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, labels))
    except ApiError as error:
        lines = refusal(error, actor, Action.REGISTER_APPLICATION)
        return refused([("", line) for line in lines], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(
        f"/console/candidatures/{state.id}", "succes", f"Candidature {state.id} enregistrée."
    )
