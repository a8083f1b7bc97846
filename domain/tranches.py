"""A cluster's tranches as its support moves on: their conditions made from the contract's
schedule, met as the case records what they wait for, and suspended when a report is refused.
Pure functions of the cluster's state (domain.support), so the workflow stays deterministic."""

from collections.abc import Callable
from datetime import datetime

from domain.cluster_lifecycle import CLUSTER
from domain.money import (
    Condition,
    ConditionKind,
    Tranche,
    TrancheSpec,
    TrancheStatus,
)
from domain.stages import Action
from domain.support import ClusterState
from domain.table import F

APPROVING = (Action.RENEW, Action.RENEW_ON_PROBATION)  # a renewal approves the year's report
OPEN = (TrancheStatus.PLANNED, TrancheStatus.COMMITTED, TrancheStatus.ELIGIBLE)
T = TrancheStatus
# The tranches each action that names one can take now: the workflow refuses the others, the
# console offers only these.
TAKES: dict[Action, Callable[[Tranche], bool]] = {
    Action.APPROVE_CONDITION: lambda t: any(
        c.kind == ConditionKind.MANUAL and c.met_at is None for c in t.conditions
    ),
    Action.RELEASE_TRANCHE: lambda t: t.status == T.ELIGIBLE,
    Action.PAY_TRANCHE: lambda t: t.status in (T.RELEASED, T.FAILED),
    Action.REJECT_PAYMENT: lambda t: t.status == T.RELEASED,
}
assert set(TAKES) == {
    action for action, row in CLUSTER.items() if any(f.kind == F.TRANCHE for f in row.fields)
}, "every action that names a tranche says which tranches it takes"


def conditions_for(spec: TrancheSpec, year: int) -> list[Condition]:
    """A year's tranche conditions; the first year's « previous report » is the contract."""
    conditions = []
    for c in spec.conditions:
        report_year = year + c.offset
        if c.kind == ConditionKind.REPORT_APPROVED and report_year < 1:
            conditions.append(Condition(kind=ConditionKind.CONTRACT_SIGNED))
        elif c.kind == ConditionKind.REPORT_APPROVED:
            conditions.append(Condition(kind=c.kind, year=report_year))
        else:
            conditions.append(Condition(kind=c.kind, document_kind=c.document_kind))
    return conditions


def _met(state: ClusterState, condition: Condition) -> bool:
    if condition.kind == ConditionKind.CONTRACT_SIGNED:
        return state.contract is not None
    if condition.kind == ConditionKind.REPORT_APPROVED:
        years = [y for y in state.years if y.year == condition.year]
        return bool(years) and years[0].decision in APPROVING
    if condition.kind == ConditionKind.DOCUMENT:
        return any(f.kind == condition.document_kind for f in state.files)
    return False  # MANUAL: met only by its approval


def refresh(state: ClusterState, actor: str, now: datetime) -> None:
    """Conditions met since the last transition are dated; a suspended tranche whose report is
    now approved resumes; a tranche whose conditions are all met becomes eligible."""
    for year in state.years:
        for tranche in year.tranches:
            for condition in tranche.conditions:
                if condition.met_at is None and _met(state, condition):
                    condition.met_at, condition.met_by = now, actor
            if tranche.status == TrancheStatus.SUSPENDED and tranche.conditions_met:
                tranche.status, tranche.suspended_reason = TrancheStatus.COMMITTED, None
            if tranche.status == TrancheStatus.COMMITTED and tranche.conditions_met:
                tranche.status = TrancheStatus.ELIGIBLE


def suspend_for_report(state: ClusterState, report_year: int, reason: str) -> None:
    """The tranches not yet released that wait on this year's report."""
    for year in state.years:
        for tranche in year.tranches:
            waits = any(
                c.kind == ConditionKind.REPORT_APPROVED and c.year == report_year
                for c in tranche.conditions
            )
            if waits and tranche.status in OPEN:
                tranche.status, tranche.suspended_reason = TrancheStatus.SUSPENDED, reason
