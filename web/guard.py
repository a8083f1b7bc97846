"""What every request body goes through before a route sees it: the caller is known, the body is
bounded while it is read, and JSON is strict.

An ASGI middleware, so that an unknown caller is refused before one byte of its body is read,
and a body past the limit is refused while it streams in, never held whole.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BYTES = 1024 * 1024  # far above any valid body (the largest registration: ~60 KB)
# A file sent as multipart: the largest a call may allow (CallRules.max_file_bytes) and its form.
MAX_UPLOAD_BYTES = 101 * 1024 * 1024
WITH_BODY = {"POST", "PUT", "PATCH"}
CONSOLE = "/console/"  # signed in by its session cookie, checked by its own routes
EXCERPT = 80  # characters of a refused input quoted back
DATABASE_DOWN = "Base de données indisponible ; réessayez dans un instant."


class TooLarge(Exception):
    pass


class Unavailable(Exception):
    """The caller could not be looked up: the database does not answer."""


def excerpt(value: Any) -> str:
    """A short, printable quotation of what a client sent: never the whole of it."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} n'est pas un nombre JSON")


def strict_json_error(body: bytes) -> str | None:
    """Why `body` is not strict JSON (NaN, Infinity, invalid UTF-8, a lone surrogate), or None."""
    try:
        parsed = json.loads(body, parse_constant=_no_constants)
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")  # lone surrogates fail here
    except UnicodeError:
        return "Le corps de la requête n'est pas de l'UTF-8 valide."
    except ValueError as error:  # JSONDecodeError included
        return f"JSON invalide : {excerpt(str(error))}"
    return None


class RequestGuard:
    """`known(request_headers)` tells whether the bearer token is a caller's."""

    def __init__(self, app: ASGIApp, known: Callable[[Scope], Awaitable[bool]]) -> None:
        self.app = app
        self.known = known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            return await self.app(scope, receive, send)
        console = scope["path"].startswith(CONSOLE)
        try:
            known = console or await self.known(scope)
        except Unavailable:
            answer = JSONResponse(
                {"detail": DATABASE_DOWN, "code": "DatabaseUnavailable"}, status_code=503
            )
            return await answer(scope, receive, send)
        if not known:
            answer = JSONResponse(
                {"detail": "Jeton d'API manquant ou inconnu."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await answer(scope, receive, send)
        if _is_multipart(scope):  # a file: streamed to its route, which counts what it stores
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if not declared.isdigit() or int(declared) > MAX_UPLOAD_BYTES:
                answer = JSONResponse(
                    {"detail": "Fichier trop volumineux, ou taille non annoncée."}, status_code=413
                )
                return await answer(scope, receive, send)
            return await self.app(scope, receive, send)
        try:
            body = await self._read(scope, receive)
        except TooLarge:
            limit = f"{MAX_JSON_BYTES // 1024} Kio"
            answer = JSONResponse(
                {"detail": f"Corps de requête trop volumineux (au plus {limit})."},
                status_code=413,
            )
            return await answer(scope, receive, send)
        if _is_json(scope) and body and (reason := strict_json_error(body)):
            return await JSONResponse({"detail": reason}, status_code=422)(scope, receive, send)
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
            raise TooLarge
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)


def _media_type(scope: Scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


def _is_multipart(scope: Scope) -> bool:
    return _media_type(scope) == b"multipart/form-data"


def _is_json(scope: Scope) -> bool:
    kind = _media_type(scope)
    return kind == b"application/json" or kind.endswith(b"+json")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body, read once here, handed to the app as if it were streaming in; then the
    connection's own messages (its disconnection)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
