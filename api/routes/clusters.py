"""Labelled clusters' support cases: contract, annual reports, renewals; KPIs and support paid."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from api.routes.transitions import add_transition_routes
from domain.stages import ClusterStage
from projection import listings, queries
from projection.exports import FILE_RESPONSES, FileFormat, table_response
from projection.views import ClusterDetail, ClusterView, KpiLine, Page, SupportTotals
from web.clusters import CLUSTERS, cluster_detail
from web.deps import ClusterReader, Db, PageQuery, sort_query

router = APIRouter(prefix=CLUSTERS.prefix, tags=["clusters labellisés"])
ClusterId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{1,32}$", description="id de la candidature labellisée")
]
add_transition_routes(router, CLUSTERS, ClusterId)


def cluster_filters(
    stage: ClusterStage | None = None,
    can_reapply: bool | None = None,
    renewal_within_days: Annotated[
        int | None, Query(ge=1, le=366, description="Anniversaire dans les N jours")
    ] = None,
) -> queries.ClusterFilters:
    """The cluster list's query parameters, the same for a page and for the exports."""
    return {"stage": stage, "can_reapply": can_reapply, "renewal_within": renewal_within_days}


Filters = Annotated[queries.ClusterFilters, Depends(cluster_filters)]
Sort = sort_query(queries.CLUSTER_SORTS)


@router.get("", response_model=Page[ClusterView])
def list_clusters(
    _: ClusterReader, db: Db, paging: PageQuery, filters: Filters, sort: Sort = None
) -> Page[ClusterView]:
    return queries.list_clusters(db, paging=paging, sort=sort, **filters)


# On the router's prefix itself: « /clusters.csv » is no case id.
@router.get(".csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get(".xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def export_clusters(
    fmt: FileFormat, _: ClusterReader, db: Db, filters: Filters, sort: Sort = None
) -> Response:
    """Every cluster the filters match (not one page), in the list's order, as a spreadsheet."""
    return table_response(listings.clusters_table(db, sort, **filters), fmt)


@router.get("/overdue", response_model=Page[ClusterView])
def overdue_reports(_: ClusterReader, db: Db, paging: PageQuery) -> Page[ClusterView]:
    return queries.list_clusters(db, stage=ClusterStage.REPORT_OVERDUE, paging=paging)


@router.get("/support", response_model=SupportTotals)
def support_paid(_: ClusterReader, db: Db) -> SupportTotals:
    return queries.support_totals(db)


# Before « /{case_id} », which would take « support.csv » for an id (and refuse it).
@router.get("/support.csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get("/support.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def export_support(fmt: FileFormat, _: ClusterReader, db: Db, filters: Filters) -> Response:
    """The support granted, one line per cluster and support year, for the clusters the
    filters match."""
    return table_response(listings.support_table(db, **filters), fmt)


@router.get("/kpis.csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get("/kpis.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def export_kpis(fmt: FileFormat, _: ClusterReader, db: Db, filters: Filters) -> Response:
    """Each indicator's target and actual, per cluster the filters match and support year."""
    return table_response(listings.kpis_table(db, **filters), fmt)


@router.get("/{case_id}", response_model=ClusterDetail)
def get_cluster(case_id: ClusterId, _: ClusterReader, db: Db) -> ClusterDetail:
    return cluster_detail(db, case_id)


@router.get("/{case_id}/kpis", response_model=list[KpiLine])
def kpis(case_id: ClusterId, _: ClusterReader, db: Db) -> list[KpiLine]:
    return queries.kpi_table(queries.cluster_state(CLUSTERS.row(db, case_id)))
