"""What every request goes through before a route sees it: its address (path and query) holds
no control character; for a request with a body, the caller is known (or, guessing tokens, told
to wait), the body is bounded while it is read, and JSON is strict.

An ASGI middleware, so that an unknown caller is refused before one byte of its body is read,
and a body past the limit is refused while it streams in, never held whole. The console's
refusals are its French pages (`page`), the API's JSON.
"""

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.attempts import TooManyAttempts, too_many_tokens

MAX_JSON_BYTES = 1024 * 1024  # far above any valid body (the largest registration: ~60 KB)
# A file sent as multipart: the largest a call may allow (CallRules.max_file_bytes) and its form.
MAX_UPLOAD_BYTES = 101 * 1024 * 1024
# A face's form anyone may post (a sign-in, a sign-out, a one-time link's button), or any form of
# a face posted without its session cookie (refused by its route anyway): read up to this,
# whatever its kind (multipart included), so that a stranger cannot make the service read more.
OPEN_FORM_BYTES = 4 * 1024
WITH_BODY = {"POST", "PUT", "PATCH"}
EXCERPT = 80  # characters of a refused input quoted back
DATABASE_DOWN = "Base de données indisponible ; réessayez dans un instant."
# C0 controls and DEL: no path or query parameter of the service holds one (PostgreSQL refuses
# a NUL in text), so they are refused here once for every face, before any route or query.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_TEXT = "caractère de contrôle interdit"
CONSOLE_CONTROL = "Adresse ou paramètre invalide : il contient un caractère de contrôle."
# A face's own page for a refusal: (scope, status, text) -> the page.
Page = Callable[[Scope, int, str], Awaitable[Response]]


@dataclass(frozen=True)
class Face:
    """A face for people in a browser (the staff console, the applicants' portal): signed in by
    its session cookie, checked by its own routes; its refusals are its pages."""

    prefix: str  # "/console/"
    session_cookie: str
    open_forms: frozenset[str]  # paths anyone may post to
    open_prefixes: tuple[str, ...]  # one-time links' own forms, signed in or not
    page: Page

    def holds(self, path: str) -> bool:
        return path.startswith(self.prefix)


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
    """`known(scope)` tells whether the bearer token is a caller's (it raises TooManyAttempts
    for an address past its budget of wrong tokens); `faces` are the browser faces, whose
    requests carry a session cookie instead."""

    def __init__(
        self,
        app: ASGIApp,
        known: Callable[[Scope], Awaitable[bool]],
        faces: tuple[Face, ...] = (),
    ) -> None:
        self.app = app
        self.known = known
        self.faces = faces

    def _face(self, scope: Scope) -> Face | None:
        return next((face for face in self.faces if face.holds(scope["path"])), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        face = self._face(scope)
        console = face is not None
        if problems := control_characters(scope):
            if console:
                return await self._refuse(scope, receive, send, 422, CONSOLE_CONTROL)
            answer = JSONResponse({"detail": problems}, status_code=422)
            return await answer(scope, receive, send)
        if scope["method"] not in WITH_BODY:
            return await self.app(scope, receive, send)
        try:
            known = console or await self.known(scope)
        except Unavailable:
            answer = JSONResponse(
                {"detail": DATABASE_DOWN, "code": "DatabaseUnavailable"}, status_code=503
            )
            return await answer(scope, receive, send)
        except TooManyAttempts as refused:
            answer = JSONResponse(
                {"detail": too_many_tokens(refused.retry_after), "code": "TooManyAttempts"},
                status_code=429,
                headers={"Retry-After": str(refused.retry_after)},
            )
            return await answer(scope, receive, send)
        if not known:
            answer = JSONResponse(
                {"detail": "Jeton d'API manquant ou inconnu."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await answer(scope, receive, send)
        limit = OPEN_FORM_BYTES if face and self._open_form(face, scope) else MAX_JSON_BYTES
        if _is_multipart(scope) and limit == MAX_JSON_BYTES:
            # a file: streamed to its route, which counts what it stores
            declared = _declared_length(scope)
            if declared is None or declared > MAX_UPLOAD_BYTES:
                text = "Fichier trop volumineux, ou taille non annoncée."
                return await self._refuse(scope, receive, send, 413, text)
            return await self.app(scope, receive, send)
        try:
            body = await self._read(scope, receive, limit)
        except TooLarge:
            text = f"Corps de requête trop volumineux (au plus {limit // 1024} Kio)."
            return await self._refuse(scope, receive, send, 413, text)
        if _is_json(scope) and body and (reason := strict_json_error(body)):
            return await JSONResponse({"detail": reason}, status_code=422)(scope, receive, send)
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _open_form(face: Face, scope: Scope) -> bool:
        """A face's form anyone may post, or one posted without its session cookie."""
        if scope["path"] in face.open_forms or scope["path"].startswith(face.open_prefixes):
            return True
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(dict(scope["headers"]).get(b"cookie", b"").decode("latin-1"))
        except CookieError:
            return True
        return not (face.session_cookie in cookies and cookies[face.session_cookie].value)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status_code: int, text: str
    ) -> None:
        if face := self._face(scope):
            answer = await face.page(scope, status_code, text)
        else:
            answer = JSONResponse({"detail": text}, status_code=status_code)
        await answer(scope, receive, send)

    @staticmethod
    async def _read(scope: Scope, receive: Receive, limit: int = MAX_JSON_BYTES) -> bytes:
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            raise TooLarge
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)


def control_characters(scope: Scope) -> list[dict[str, Any]]:
    """What in the request's path or query holds a control character, as a validation error
    names it (type, loc, msg, a short excerpt of the input); empty when nothing does."""
    problems = []
    if CONTROL.search(scope["path"]):
        problems.append(_control(["path"], scope["path"]))
    query = scope.get("query_string", b"").decode("latin-1")
    if "%" in query or CONTROL.search(query):
        for name, value in parse_qsl(query, keep_blank_values=True):
            if CONTROL.search(name) or CONTROL.search(value):
                problems.append(_control(["query", name], value))
    return problems


def _control(loc: list[str], value: str) -> dict[str, Any]:
    # The API's validation errors say "format invalide" for a value outside its pattern.
    return {
        "type": "string_pattern_mismatch",
        "loc": loc,
        "msg": "format invalide",
        "input": excerpt(value),
        "ctx": {"reason": CONTROL_TEXT},
    }


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


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length a client announced, if it is a number; thousands of digits count
    as too large (int() would refuse them past 4,300 digits)."""
    value = dict(scope["headers"]).get(b"content-length")
    if value is None or not value.isdigit():
        return None
    return int(value) if len(value) <= 18 else 10**18
