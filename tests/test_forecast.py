"""The running contracts' needs of the next budget years, as planned and as expected."""

import pytest

from domain.forecast import BASELINE, Contract, Scenario, forecast

# Three contracts seen from budget year 2027:
# - north started in 2025: its 2025 and 2026 are past, 2027 partly paid, 2028 and 2029 to come;
# - south starts in 2027, nothing paid;
# - east ended in 2026: nothing is needed any more.
NORTH = Contract(
    cluster_id="north",
    first_budget_year=2025,
    amounts=(1_000_000.0, 1_200_000.0, 1_500_000.0, 1_500_000.0, 800_000.0),
    paid=(1_000_000.0, 1_200_000.0, 600_000.0),
)
SOUTH = Contract(
    cluster_id="south", first_budget_year=2027, amounts=(900_000.0, 900_000.0), paid=()
)
EAST = Contract(
    cluster_id="east", first_budget_year=2024, amounts=(500_000.0, 500_000.0, 500_000.0), paid=()
)
CONTRACTS = [NORTH, SOUTH, EAST]


def by_hand_planned(year: int) -> float:
    """The inputs' unpaid amounts of `year`, summed by hand from the contracts above."""
    return {
        2027: (1_500_000.0 - 600_000.0) + 900_000.0,
        2028: 1_500_000.0 + 900_000.0,
        2029: 800_000.0,
        2030: 0.0,
    }[year]


def test_the_baseline_expects_exactly_what_is_planned_and_paid_amounts_are_excluded() -> None:
    needs = forecast(CONTRACTS, BASELINE, from_year=2027, years=4)
    assert [n.year for n in needs] == [2027, 2028, 2029, 2030]
    assert [n.planned for n in needs] == [by_hand_planned(y) for y in range(2027, 2031)]
    assert [n.expected for n in needs] == [n.planned for n in needs]


def test_past_years_are_counted_only_for_what_is_left_to_pay() -> None:
    # From 2025: north's 2025 and 2026 are paid whole; east still owes its three years.
    needs = forecast(CONTRACTS, BASELINE, from_year=2025, years=2)
    assert [n.planned for n in needs] == [500_000.0, 500_000.0]
    overpaid = Contract("x", 2025, amounts=(100.0,), paid=(150.0,))
    assert forecast([overpaid], BASELINE, 2025, 1)[0].planned == 0.0


@pytest.mark.parametrize(
    ("stop", "probation", "cut"), [(0.2, 0.0, 0.0), (0.0, 0.5, 0.3), (0.1, 0.25, 0.5)]
)
def test_stops_and_probation_lower_the_later_years_as_the_formula_says(
    stop: float, probation: float, cut: float
) -> None:
    needs = forecast(CONTRACTS, Scenario(stop, probation, cut), from_year=2027, years=4)
    for k, need in enumerate(needs):
        planned = by_hand_planned(2027 + k)
        weight = 1.0 if k == 0 else (1 - stop) ** k * (1 - probation * cut)
        assert need.planned == planned
        assert need.expected == pytest.approx(planned * weight, abs=0.01)
    # The current year is already renewed: expected as planned; the next ones lower.
    assert needs[0].expected == needs[0].planned
    assert needs[1].expected < needs[1].planned
    assert needs[2].expected < needs[2].planned


def test_a_higher_stop_share_lowers_each_later_year_more() -> None:
    mild = forecast(CONTRACTS, Scenario(0.1, 0.2, 0.3), 2027, 3)
    harsh = forecast(CONTRACTS, Scenario(0.3, 0.2, 0.3), 2027, 3)
    assert harsh[0].expected == mild[0].expected
    assert harsh[1].expected < mild[1].expected
    assert harsh[2].expected < mild[2].expected
    # Everyone stopping after this year: nothing is expected later.
    assert [n.expected for n in forecast(CONTRACTS, Scenario(1, 0, 0), 2027, 3)[1:]] == [0, 0]


def test_the_forecast_is_deterministic_and_bounds_are_checked() -> None:
    scenario = Scenario(0.15, 0.4, 0.25)
    assert forecast(CONTRACTS, scenario, 2027, 5) == forecast(CONTRACTS, scenario, 2027, 5)
    assert forecast(CONTRACTS, scenario, 2027, 0) == []
    with pytest.raises(ValueError, match="de 0 à 1"):
        Scenario(1.5, 0, 0)
    with pytest.raises(ValueError, match="de 0 à 1"):
        Scenario(0, -0.1, 0)
