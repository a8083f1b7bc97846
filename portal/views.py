"""Every portal route, registered on portal.pages.router by importing its module here."""

from pathlib import Path

from fastapi.responses import FileResponse

from portal import deposit, follow, home, receipts, signin  # noqa: F401  (their routes)
from portal.pages import FACE, error_page, router

SCRIPT = Path(__file__).parent / "static" / "portal.js"


@router.get("/portal.js", include_in_schema=False)
def script() -> FileResponse:
    """The portal's one script: the dossier's uploads, several at once, with their progress."""
    return FileResponse(SCRIPT, media_type="text/javascript")


__all__ = ["FACE", "error_page", "router"]
