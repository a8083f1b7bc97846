"""Calls: their list, a new call, each call's page, its ranking's files, registering applications."""

from datetime import datetime
from functools import partial
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

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
)
from domain.clock import RABAT
from domain.models import DEFAULT_SECTORS, Actor, ApplicationInput, CallSpec
from domain.stages import Action, CallStage, Role
from projection import queries
from projection.exports import FileFormat
from projection.ranking import call_ranking
from web.calls import CALLS, call_detail, ranking_file, register, start_call
from web.deps import Db
from web.errors import ApiError


@router.get("/appels", response_class=HTMLResponse)
def calls(request: Request, actor: Signed, db: Db) -> HTMLResponse:
    return calls_page(request, actor, db)


def calls_page(request: Request, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    return render(
        request,
        "appels.html",
        actor,
        calls=queries.calls_by_deadline(db),
        sectors=DEFAULT_SECTORS,
        year=datetime.now(RABAT).year,
        **form,
    )


@router.post("/appels")
async def create_call(request: Request, actor: Signed, db: Db) -> Response:
    form = await request.form()
    if actor.role != Role.ADMIN:
        return back(
            "/console/appels", "erreur", "Seul un gestionnaire du programme peut créer un appel."
        )
    body = {
        "year": str(form.get("year") or ""),
        "title": str(form.get("title") or ""),
        "opens_at": str(form.get("opens_at") or ""),
        "deadline": str(form.get("deadline") or ""),
        "sectors": [s.strip() for s in str(form.get("sectors") or "").splitlines() if s.strip()],
        "complement_response_days": str(form.get("complement_response_days") or "10"),
        "evaluators_per_application": str(form.get("evaluators_per_application") or "3"),
    }
    labels = {
        "year": "Année",
        "title": "Intitulé",
        "opens_at": "Ouverture",
        "deadline": "Date limite",
        "sectors": "Secteurs",
    }

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(calls_page, request, actor, db)
        return refused_page("/console/appels", page, as_typed("call", form, problems), code)

    try:
        spec = CallSpec.model_validate(body)
        state = await start_call(request, db, spec, actor, form_key(form))
    except ValidationError as error:
        return refused(french_problems(error, labels))
    except ApiError as error:
        return refused([("", line) for line in refusal(error, actor)], error.status_code)
    return back(
        f"/console/appels/{state.id}",
        "succes",
        "Appel créé (brouillon) : publiez-le pour qu'il s'ouvre à sa date.",
    )


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
    return render(
        request,
        "appel.html",
        actor,
        call=detail,
        ranking=ranking,
        can_register=can_register,
        member_types=list(MEMBER_TYPES_FR),
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
