"""Labelled clusters: their list and exports, each support case's page with its tranches and
the tranche actions the viewer's role may take."""

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from console.files import files_of
from console.mail import messages_of
from console.pages import (
    Signed,
    actions_for,
    known_sort,
    no_evaluator,
    render,
    router,
    templates,
)
from domain.ids import Kind, cluster_workflow_id
from domain.models import Actor
from domain.money import TRANCHE_LABELS, TrancheStatus, mad
from domain.stages import Action
from domain.support import SupportYear
from domain.tranches import TAKES
from projection import listings, queries
from projection.exports import FileFormat, Table, table_response
from projection.views import Paging
from web.clusters import cluster_detail
from web.deps import Db

T = TrancheStatus
# The badge of a tranche's status: green once it may move or has, amber while it waits, red
# when it is stopped (console/templates/cluster.html).
TRANCHE_TONES = {
    T.PLANNED: "attente",
    T.COMMITTED: "attente",
    T.ELIGIBLE: "",
    T.RELEASED: "",
    T.PAID: "",
    T.SUSPENDED: "retard",
    T.CANCELLED: "retard",
    T.FAILED: "retard",
}
templates.env.globals |= {"TRANCHE_LABELS": TRANCHE_LABELS, "TRANCHE_TONES": TRANCHE_TONES}


def tranche_choices(years: list[SupportYear], actor: Actor) -> dict[str, list[tuple[str, str]]]:
    """Per tranche action, the (id, label) of each tranche it can take now; the payment of a
    tranche this person released is listed with the reason it will be refused."""
    choices: dict[str, list[tuple[str, str]]] = {}
    for action, takes in TAKES.items():
        choices[action.value] = []
        for tranche in (t for year in years for t in year.tranches if takes(t)):
            text = (
                f"{tranche.id} · {tranche.label} · {mad(tranche.amount)} · "
                f"{TRANCHE_LABELS[tranche.status]}"
            )
            if action == Action.PAY_TRANCHE and tranche.released_by == actor.name:
                text += " — ordonnancée par vous : une autre personne enregistre le paiement"
            choices[action.value].append((tranche.id, text))
    return choices


@router.get("/clusters", response_class=HTMLResponse)
def clusters(request: Request, actor: Signed, db: Db, tri: str = "") -> HTMLResponse:
    no_evaluator(actor)
    sort = known_sort(queries.CLUSTER_SORTS, tri)
    listing = queries.list_clusters(db, paging=Paging(1, 200), sort=sort)
    support = queries.support_totals(db)
    filters = {"tri": tri}
    return render(
        request, "clusters.html", actor, listing=listing, support=support, filters=filters
    )


# The clusters' spreadsheets, before « /clusters/{case_id} » that would take their names for ids.
@router.get("/clusters.csv")
@router.get("/clusters.xlsx")
def clusters_export(fmt: FileFormat, actor: Signed, db: Db, tri: str = "") -> Response:
    """The list in the order it is shown."""
    no_evaluator(actor)
    return table_response(listings.clusters_table(db, known_sort(queries.CLUSTER_SORTS, tri)), fmt)


def _cluster_export(path: str, table: Callable[..., Table]) -> None:
    @router.get(f"/{path}.csv", name=f"console_{path}_csv")
    @router.get(f"/{path}.xlsx", name=f"console_{path}_xlsx")
    def export(fmt: FileFormat, actor: Signed, db: Db) -> Response:
        no_evaluator(actor)
        return table_response(table(db), fmt)


for export_path, export_table in {
    "clusters/soutien": listings.support_table,
    "clusters/indicateurs": listings.kpis_table,
}.items():
    _cluster_export(export_path, export_table)


@router.get("/clusters/{case_id}", response_class=HTMLResponse)
def cluster(request: Request, case_id: str, actor: Signed, db: Db) -> HTMLResponse:
    return cluster_page(request, case_id, actor, db)


def cluster_page(request: Request, case_id: str, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    no_evaluator(actor)
    case = cluster_detail(db, case_id)
    files = files_of(Kind.CLUSTER, db, case_id, actor)
    messages = messages_of(db, actor, cluster_workflow_id(case_id))
    allowed = actions_for(actor, case)
    choices = tranche_choices(case.years, actor)
    return render(
        request,
        "cluster.html",
        actor,
        case=case,
        files=files,
        messages=messages,
        other_actions=[a for a in allowed if a not in TAKES],
        tranche_actions=[a for a in allowed if a in TAKES and choices[a.value]],
        tranche_choices=choices,
        **form,
    )
