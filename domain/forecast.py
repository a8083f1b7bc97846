"""The next budget years' needs of the running contracts, as planned and as expected when a
share of the clusters stops or is renewed on probation.

For a budget year `y` from `from_year` on, with `k = y - from_year`:

    planned(y)  = sum over contracts of max(0, amount(y) - paid(y))
    expected(y) = planned(y) × (1 - stop_share)^k × (1 - probation_share × probation_cut)^[k ≥ 1]

where amount(y) and paid(y) are a contract's amount and what was already paid of it for its
contract year `y - first_budget_year + 1` (0 outside the contract). The year `from_year` is the
current one: it is already renewed, so it is expected as planned. Each later year keeps only the
clusters still running (a share `stop_share` stops each year, so `(1 - stop_share)^k` survive),
and among them a share `probation_share` is renewed on probation, its year's amount cut by
`probation_cut` (a cut applies to one year's renewal, so it does not compound). Amounts are
rounded to the centime. Deterministic: no draw, the same inputs give the same figures.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Contract:
    cluster_id: str
    first_budget_year: int  # the budget year of contract year 1
    amounts: tuple[float, ...]  # per contract year
    paid: tuple[float, ...]  # per contract year, what was already paid

    def due(self, year: int) -> float:
        """What remains to be paid of the budget year `year`'s amount."""
        i = year - self.first_budget_year
        if not 0 <= i < len(self.amounts):
            return 0.0
        paid = self.paid[i] if i < len(self.paid) else 0.0
        return max(0.0, self.amounts[i] - paid)


@dataclass(frozen=True)
class Scenario:
    stop_share: float  # the share of the clusters that stops each year after the current one
    probation_share: float  # the share renewed on probation each year
    probation_cut: float  # the cut of a year's amount under probation

    def __post_init__(self) -> None:
        for name in ("stop_share", "probation_share", "probation_cut"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError("les parts et la réduction vont de 0 à 1 (0 % à 100 %)")

    def weight(self, k: int) -> float:
        """The expected share of a year's planned amount, `k` years after the current one."""
        if k <= 0:
            return 1.0
        survival = (1 - self.stop_share) ** k
        return survival * (1 - self.probation_share * self.probation_cut)


BASELINE = Scenario(0, 0, 0)


@dataclass(frozen=True)
class YearNeed:
    year: int  # a budget year
    planned: float  # the contracts' amounts not yet paid
    expected: float  # the same under the scenario


def forecast(
    contracts: list[Contract], scenario: Scenario, from_year: int, years: int
) -> list[YearNeed]:
    """The needs of budget years from_year .. from_year + years - 1."""
    needs = []
    for k in range(max(0, years)):
        year = from_year + k
        planned = sum(c.due(year) for c in contracts)
        needs.append(YearNeed(year, round(planned, 2), round(planned * scenario.weight(k), 2)))
    return needs
