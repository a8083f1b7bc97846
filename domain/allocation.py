"""The allocation proposal: a call's ranking walked within what is left of its envelopes.

Those meeting the thresholds are ranked (`domain.scoring.rank_key` with the call's tie-break,
then the application id so that the order is total). Walking the ranking, a file whose amounts
per contract year fit what remains of each budget year is a laureate and its amounts are taken
off. With the strict rule the first file that does not fit stops the funding; with the adjusted
rule it is passed over and the next one that fits is funded. The unfunded files, in rank order,
fill the reserve up to the budget's reserve size; the others are « fonds insuffisants ».

Pure: no I/O, only the standard library and `domain`, so a workflow may call it.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.models import Grid
from domain.money import Budget, fits
from domain.scoring import rank_key

INSUFFICIENT_FUNDS = "Non retenu — fonds insuffisants"


class Rule(StrEnum):
    STRICT = "strict"
    ADJUSTED = "ajustee"


RULE_LABELS = {
    Rule.STRICT: "stricte : s'arrête au premier dossier qui ne tient pas",
    Rule.ADJUSTED: "ajustée : passe au suivant qui tient",
}
assert set(RULE_LABELS) == set(Rule)


@dataclass(frozen=True)
class Candidate:
    application_id: str
    weighted_score: float
    criterion_means: dict[str, float]
    thresholds_met: bool
    registered_at: datetime
    amounts: tuple[float, ...]  # per contract year, index 0 = the budget's first year


@dataclass(frozen=True)
class Placed:
    application_id: str
    rank: int  # 1-based, among those meeting the thresholds
    amounts: tuple[float, ...]


@dataclass(frozen=True)
class Allocation:
    rule: Rule
    laureates: list[Placed]
    reserve: list[Placed]  # in rank order: the first is proposed first when funds are freed
    insufficient: list[Placed]  # « non retenu — fonds insuffisants »
    below_threshold: list[str]  # never funded, in their own rank order
    remaining: dict[int, float]  # per budget year, once the laureates are taken off


def allocate(
    candidates: list[Candidate],
    budget: Budget,
    available: dict[int, float],
    rule: Rule,
    grid: Grid,
) -> Allocation:
    """The proposal for `candidates` within `available` (per budget year). The same
    candidates in any order give the same Allocation."""
    ids = [c.application_id for c in candidates]
    if len(set(ids)) != len(ids):
        doubles = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"candidatures en double : {', '.join(doubles)}")

    def key(c: Candidate) -> tuple:
        return (*rank_key(grid, c, c.registered_at, budget.tie_break), c.application_id)

    ranked = sorted((c for c in candidates if c.thresholds_met), key=key)
    below = sorted((c for c in candidates if not c.thresholds_met), key=key)

    remaining = dict(available)
    laureates: list[Placed] = []
    unfunded: list[Placed] = []
    stopped = False
    for rank, c in enumerate(ranked, start=1):
        placed = Placed(c.application_id, rank, tuple(c.amounts))
        if stopped or not fits(list(c.amounts), remaining, budget.first_year):
            unfunded.append(placed)
            stopped = rule == Rule.STRICT
            continue
        laureates.append(placed)
        for i, amount in enumerate(c.amounts):
            if amount:
                year = budget.year_of(i)
                # to the centime, so that sums of amounts do not drift
                remaining[year] = round(remaining.get(year, 0.0) - amount, 2)
    return Allocation(
        rule=rule,
        laureates=laureates,
        reserve=unfunded[: budget.reserve_size],
        insufficient=unfunded[budget.reserve_size :],
        below_threshold=[c.application_id for c in below],
        remaining=remaining,
    )
