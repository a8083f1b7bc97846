"""Automatic eligibility pre-checks, run when the call closes and when complements arrive."""

from temporalio import activity

from domain.models import ApplicationInput, CallRules, CheckItem
from domain.rules import precheck


@activity.defn
def run_prechecks(data: ApplicationInput, rules: CallRules) -> list[CheckItem]:
    return precheck(data, rules)
