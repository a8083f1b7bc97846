"""Charts drawn on the server as SVG (no script, no CDN)."""

from collections.abc import Callable
from typing import Any

# The template functions this module gives the console's pages.
CHARTS: dict[str, Callable[..., Any]] = {}
