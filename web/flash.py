"""A message a form leaves for the page it sends the browser to (the console's and the portal's):
text only, in a cookie that lives a minute and is read once."""

import json

from fastapi import Request
from fastapi.responses import Response


def left(request: Request, cookie: str) -> dict | None:
    """The message the last form left, if the cookie holds one (a malformed one is ignored)."""
    try:
        message = json.loads(request.cookies.get(cookie) or "null")
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("lines"), list):
        return None
    return {"kind": str(message.get("kind")), "lines": [str(line) for line in message["lines"]]}


def leave(response: Response, cookie: str, kind: str, lines: list[str], secure: bool) -> None:
    response.set_cookie(
        cookie,
        json.dumps({"kind": kind, "lines": lines}),
        max_age=60,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
