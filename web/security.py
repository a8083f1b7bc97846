"""The browser faces' defences (the staff console, the applicants' portal): every form post comes
from a page of the service itself, and every page tells the browser not to frame it (a file: but
in the console's own preview), sniff it, leak it in a referrer or keep it in a cache."""

from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # every page shows people's files or the operator's session
}
# The applicants' portal (portal/): the same, with its one script of its own (uploads' progress).
PORTAL_HEADERS = PAGE_HEADERS | {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}
# A file read under the console's session: shown in the case page's preview frame, nowhere else.
FILE_HEADERS = PAGE_HEADERS | {
    "Content-Security-Policy": "default-src 'none'; object-src 'self'; frame-ancestors 'self'"
}
CROSS_SITE = (
    "Requête refusée : elle ne vient pas de la console (protection contre les requêtes intersites)."
)


def same_origin(request: Request) -> None:
    """A form post must come from a console page: its Origin (or, failing that, its Referer)
    names this host. A page elsewhere cannot make a signed-in browser act."""
    if request.method != "POST":
        return
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    if urlsplit(source).netloc != request.headers.get("host", ""):
        raise HTTPException(status.HTTP_403_FORBIDDEN, CROSS_SITE)


class PageHeaders:
    """Adds PAGE_HEADERS to every answer under /console/, PORTAL_HEADERS under /portail/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path.startswith("/portail"):
            chosen = PORTAL_HEADERS
        elif path.startswith("/console"):
            chosen = FILE_HEADERS if path.startswith("/console/documents/") else PAGE_HEADERS
        else:
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in chosen.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
