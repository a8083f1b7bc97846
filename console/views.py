"""The console: each module of its pages adds its routes to one router (`pages.router`);
importing them here registers them all. Within a module a fixed path (an export's
« /clusters.csv ») comes before the pattern that would take it for a case id."""

from console import (  # noqa: F401 (each module adds its routes to the router)
    actions,
    applications,
    assigning,
    calls,
    clusters,
    dashboard,
    decisions,
    evaluator,
    files,
    lists,
    mail,
    money,
    session,
    sessions,
    sitting,
    users,
)
from console.actions import RESOURCES
from console.pages import error_page, router

__all__ = ["RESOURCES", "error_page", "router"]
