"""The FastAPI application: routers, the Temporal client made once, errors as clear JSON."""

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.routes import applications, calls, clusters, deadlines, documents, evaluations
from api.routes import letters as result_letters
from api.routes import money as programme_money
from api.routes import sessions as committee_sessions
from console import views as console
from console.pages import SESSION_COOKIE
from portal import views as portal
from projection.database import make_engine, migrate
from projection.storage import Storage
from settings import Settings, storage_options
from web import identity
from web.attempts import Attempts
from web.deps import bearer_caller, engine_client
from web.errors import ENGINE_DOWN, ApiError, Problem, french
from web.guard import CONTROL, DATABASE_DOWN, Face, RequestGuard, Unavailable, excerpt
from web.security import PageHeaders
from web.tokens import load_tokens, token_emails

log = logging.getLogger(__name__)
ERRORS = {
    401: {"model": Problem, "description": "Jeton manquant ou inconnu"},
    403: {"model": Problem, "description": "Rôle non autorisé"},
    404: {"model": Problem, "description": "Dossier inconnu"},
    409: {"model": Problem, "description": "Action impossible à l'étape actuelle"},
    429: {"model": Problem, "description": "Trop de jetons erronés : réessayer après Retry-After"},
    503: {"model": Problem, "description": "Moteur de workflows ou base de données injoignable"},
}


async def _engine_ok(request: Request) -> bool:
    try:
        client = await engine_client(request)
        return await asyncio.wait_for(client.service_client.check_health(), 3)
    except Exception:  # noqa: BLE001 - any failure means not healthy
        return False


def _database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


async def _known_caller(scope: Scope) -> bool:
    """A bearer token that names an active user, checked before a request's body is read; the
    caller is kept for the route (web.deps.current_actor), so it is looked up once."""
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    try:
        actor = await bearer_caller(scope, token.strip())
    except SQLAlchemyError as error:
        log.warning("caller not looked up: %s", error)
        raise Unavailable from None
    scope.setdefault("state", {})["actor"] = actor
    return actor is not None


async def _console_page(scope: Scope, status_code: int, text: str) -> Response:
    """The guard's refusal of a console request, as the console's French page (its path, if it
    holds a control character, is not echoed into the page)."""
    if CONTROL.search(scope["path"]):
        scope = {**scope, "path": "/console/", "raw_path": b"/console/", "query_string": b""}
    return await run_in_threadpool(console.error_page, Request(scope), status_code, text)


def create_app(
    settings: Settings | None = None, client: Client | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.engine = engine or make_engine(settings.database_url)
        migrate(app.state.engine)
        tokens = load_tokens(settings.api_tokens, settings.tokens_file)
        emails = token_emails(settings.api_tokens, settings.tokens_file)
        identity.seed(app.state.engine, tokens, emails)
        app.state.client = client  # else connected on first use (web.deps.engine_client)
        app.state.storage = Storage(settings.documents_url, **storage_options(settings))
        gc.freeze()  # what startup made lives on: full collections skip it (reads' p99)
        yield

    app = FastAPI(
        title="Programme d'appui aux clusters — API",
        description="Appels à projets et candidatures. Écritures : mises à jour Temporal ; "
        "lectures : projection SQL. Heures affichées à l'heure de Rabat.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    for module in (calls, applications, documents, evaluations, clusters, deadlines, console):
        app.include_router(module.router)
    app.include_router(portal.router)  # the applicants' portal (/portail)
    app.include_router(result_letters.router)  # a case's result letters (PDF)
    app.include_router(committee_sessions.router)  # the committee's sessions, their PV and pack
    for money_router in programme_money.routers:  # a call's budget, the ledger, the forecast
        app.include_router(money_router)
    # Wrong tokens and sign-ins counted by this process (web.attempts: in memory, per replica).
    app.state.attempts = Attempts()

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/")

    faces = (
        Face(
            prefix="/console/",
            session_cookie=SESSION_COOKIE,
            open_forms=frozenset({"/console/connexion", "/console/deconnexion"}),
            open_prefixes=("/console/invitation/",),
            page=_console_page,
        ),
        portal.FACE,
    )
    app.add_middleware(RequestGuard, known=_known_caller, faces=faces)
    app.add_middleware(PageHeaders)

    def in_console(request: Request) -> bool:
        return request.url.path.startswith("/console")

    def in_portal(request: Request) -> bool:
        return request.url.path.startswith("/portail")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        """The console's refusals as French pages in its layout, the portal's in the person's
        language; the API's as JSON."""
        if in_portal(request) and error.status_code >= 400:
            return await run_in_threadpool(
                portal.error_page, request, error.status_code, error.detail
            )
        if in_console(request) and error.status_code >= 400:
            return console.error_page(request, error.status_code, error.detail)
        return await http_exception_handler(request, error)

    @app.exception_handler(Exception)
    async def _crash(request: Request, error: Exception) -> Response:
        """A failure nobody foresaw: logged whole, answered without its details."""
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if in_portal(request):
            return await run_in_threadpool(portal.error_page, request, 500, "")
        if in_console(request):
            return console.error_page(request, 500, "")
        return JSONResponse({"detail": "Erreur interne : l'incident est journalisé."}, 500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        """Pydantic's errors, each quoting at most a short excerpt of what was sent."""
        if in_portal(request):
            return await run_in_threadpool(portal.error_page, request, 422, "")
        if in_console(request):
            return console.error_page(request, 422, "Adresse ou paramètre invalide.")
        details = [
            {"type": e["type"], "loc": e["loc"], "msg": french(e)}
            | ({"input": excerpt(e["input"])} if "input" in e else {})
            for e in error.errors()
        ]
        return JSONResponse({"detail": details}, status_code=422)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        body = {"detail": error.detail, **error.extra}
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    def unavailable(detail: str, code: str):
        async def answer(_: Request, error: Exception) -> JSONResponse:
            log.warning("%s: %s", code, error)
            return JSONResponse({"detail": detail, "code": code}, status_code=503)

        return answer

    for errors, detail, code in (
        ((OperationalError, InterfaceError), DATABASE_DOWN, "DatabaseUnavailable"),
        (
            (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, ConnectionError),
            ENGINE_DOWN,
            "EngineUnavailable",
        ),
    ):
        for error in errors:
            app.add_exception_handler(error, unavailable(detail, code))

    @app.get(
        "/health", tags=["service"], responses={503: {"description": "Un composant ne répond pas"}}
    )
    async def health(request: Request) -> JSONResponse:
        """The engine and the projection database, each checked for real."""
        checks = {
            "engine": await _engine_ok(request),
            "database": await asyncio.to_thread(_database_ok, request.app.state.engine),
        }
        healthy = all(checks.values())
        body = {"status": "ok" if healthy else "degraded"} | {
            name: "ok" if ok else "unreachable" for name, ok in checks.items()
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    return app


app = create_app()
