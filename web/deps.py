"""Dependencies of the routes: who is calling, the database session, the Temporal client."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from domain.models import Actor
from domain.stages import Role
from projection.views import Paging
from settings import connect_temporal
from web import identity
from web.attempts import TooManyAttempts, client_address, too_many_tokens
from web.errors import ENGINE_DOWN, unavailable

_bearer = HTTPBearer(
    auto_error=False, description="Jeton d'API (voir README, « Rôles et jetons »)."
)


async def session(request: Request) -> AsyncIterator[Session]:
    """A session that connects on first use, so routes that need no SQL pay nothing for it."""
    db = Session(request.app.state.engine)
    try:
        yield db
    finally:
        if db.in_transaction():  # it holds a connection: give it back off the event loop
            await run_in_threadpool(db.close)
        else:
            db.close()


Db = Annotated[Session, Depends(session)]


def caller(engine: Engine, token: str) -> Actor | None:
    """The active user whose API token this is, in a session of its own: a request that then
    waits for the engine holds no database connection."""
    with Session(engine) as db:
        return identity.actor_for_token(db, token)


async def bearer_caller(scope: Any, token: str) -> Actor | None:
    """`caller`, counted: an address past its budget of wrong tokens is told to wait (raises
    TooManyAttempts) before the token is looked up, and a wrong token is counted against it."""
    state = scope["app"].state
    address = client_address(scope)
    state.attempts.check_bearer(address)
    actor = await run_in_threadpool(caller, state.engine, token)
    if actor is None:
        state.attempts.bearer_failed(address)
    return actor


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller (already known for a request with a body: web.guard), else 401; 429 for an
    address that sent too many wrong tokens (web.attempts)."""
    actor = getattr(request.state, "actor", None)
    if actor is None and credentials:
        try:
            actor = await bearer_caller(request.scope, credentials.credentials)
        except TooManyAttempts as refused:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                too_many_tokens(refused.retry_after),
                headers={"Retry-After": str(refused.retry_after)},
            ) from None
    if not actor:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Jeton d'API manquant ou inconnu.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


def require(*roles: Role):
    """A dependency that lets only `roles` through (403 for the others)."""

    async def check(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Le rôle « {actor.role} » n'a pas accès à cette opération.",
            )
        return actor

    return check


_connecting = asyncio.Lock()


async def engine_client(request: Request) -> Client:
    """The process's Temporal client, connected on first use: the API starts, and answers 503,
    while the engine is still down."""
    state = request.app.state
    async with _connecting:
        if state.client is None:
            try:
                state.client = await connect_temporal(state.settings)
            except RuntimeError:  # the SDK's one failure of connect ("Failed client connect")
                raise unavailable(ENGINE_DOWN, "EngineUnavailable") from None
    return state.client


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="Une requête répétée avec la même clé ne change rien et renvoie la première réponse.",
    ),
]
Admin = Annotated[Actor, Depends(require(Role.ADMIN))]
Desk = Annotated[Actor, Depends(require(Role.ADMIN, Role.OPERATOR))]
READERS = (Role.ADMIN, Role.OPERATOR, Role.COMMITTEE)  # every case of the programme
Reader = Annotated[Actor, Depends(require(*READERS))]
Ranking = Annotated[Actor, Depends(require(Role.ADMIN, Role.COMMITTEE))]
# The money (domain.money): a call's budget and the programme's years are read by those who
# decide on it and by the finance office; the ledger's rows by the managers and finance alone.
BUDGET_READERS = (Role.ADMIN, Role.COMMITTEE, Role.FINANCE)
BudgetReader = Annotated[Actor, Depends(require(*BUDGET_READERS))]
LEDGER_READERS = (Role.ADMIN, Role.FINANCE)
LedgerReader = Annotated[Actor, Depends(require(*LEDGER_READERS))]
# The support cases, for those who pay their tranches too.
CLUSTER_READERS = (*READERS, Role.FINANCE)
ClusterReader = Annotated[Actor, Depends(require(*CLUSTER_READERS))]
Anyone = Annotated[Actor, Depends(current_actor)]

# Identifiers as the API makes them; anything else is a 422 before Temporal is asked.
CALL_ID = r"^[0-9]{4}-[0-9a-f]{1,32}$"
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters in a search
CallId = Annotated[str, Path(pattern=CALL_ID, description="ex. 2025-3f9a2c01b7de")]
ApplicationId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$", description="ex. 3f9a2c01b7de")]


def paging(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Paging:
    return Paging(page, page_size)


PageQuery = Annotated[Paging, Depends(paging)]


def sort_query(sorts: dict) -> Any:
    """A list's `sort` parameter: one of its sortable columns, `-` first for descending."""
    keys = ", ".join(sorts)
    return Annotated[
        str | None,
        Query(
            pattern="^-?(" + "|".join(sorts) + ")$",
            description=f"Colonne de tri (« -colonne » : décroissant) : {keys}.",
        ),
    ]
