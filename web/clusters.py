"""Labelled clusters' support cases as both faces read them: their resource and a case's page."""

from domain.ids import Kind, cluster_workflow_id
from projection import queries, visibility
from projection.views import ClusterDetail
from web.actions import Resource
from web.deps import Db
from workflows.cluster import ClusterWorkflow

CLUSTERS = Resource(prefix="/clusters", kind=Kind.CLUSTER, workflow=ClusterWorkflow)


def cluster_detail(db: Db, cluster_id: str) -> ClusterDetail:
    """The support case, its KPIs, the cases of the same cluster before and after, its trail."""
    state = queries.cluster_state(CLUSTERS.row(db, cluster_id))
    return ClusterDetail(
        **visibility.cluster_view(state).model_dump(),
        later_applications=queries.later_applications(db, cluster_id),
        later_clusters=queries.later_clusters(db, cluster_id),
        kpis=queries.kpi_table(state),
        audit=visibility.timeline(queries.audit_trail(db, cluster_workflow_id(cluster_id))),
        downloads=queries.downloads(db, Kind.CLUSTER, cluster_id),
    )
