"""Automatic eligibility pre-checks, run when the call closes and when complements arrive."""

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from domain.models import ApplicationInput, CallRules, CheckItem
from domain.rules import precheck
from domain.support import ClusterState
from projection.tables import ClusterRow


class Prechecks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def run_prechecks(
        self, data: ApplicationInput, rules: CallRules, received: list[str]
    ) -> list[CheckItem]:
        """`received`: the kinds of the files the dossier holds."""
        return precheck(data, rules, received, self._years_supported(data.previous_cluster_id))

    def _years_supported(self, cluster_id: str | None) -> int | None:
        """The programme's own record of a returning cluster's years of support."""
        if cluster_id is None:
            return None
        with Session(self.engine) as session:
            row = session.get(ClusterRow, cluster_id)
        return len(ClusterState.model_validate(row.state).years) if row else 0
