"""The allocation proposal: the ranking walked within the envelopes, under both rules."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.allocation import (
    INSUFFICIENT_FUNDS,
    RULE_LABELS,
    Allocation,
    Candidate,
    Rule,
    allocate,
)
from domain.models import Criterion, EvaluationResult, Grid
from domain.money import CENT, Budget
from domain.scoring import TIE_BREAK, rank_key

GRID = Grid(
    criteria=[
        Criterion(code="strategy", label="Stratégie", weight=40, threshold=2),
        Criterion(code="innovation", label="Innovation", weight=40, threshold=2),
        Criterion(code="budget", label="Budget", weight=20, threshold=2),
    ]
)
CODES = [c.code for c in GRID.criteria]
DEPOSIT = datetime(2025, 7, 24, 9, 0, tzinfo=UTC)
FIRST_YEAR = 2026


def candidate(
    app_id: str,
    score: float,
    amounts: tuple[float, ...] = (100_000.0,),
    *,
    means: dict[str, float] | None = None,
    met: bool = True,
    minute: int = 0,
) -> Candidate:
    return Candidate(
        application_id=app_id,
        weighted_score=score,
        criterion_means=means or dict.fromkeys(CODES, score),
        thresholds_met=met,
        registered_at=DEPOSIT + timedelta(minutes=minute),
        amounts=amounts,
    )


def budget(
    envelopes: list[float], reserve_size: int = 5, tie_break: list[str] | None = None
) -> Budget:
    return Budget(
        first_year=FIRST_YEAR,
        envelopes=envelopes,
        reserve_size=reserve_size,
        tie_break=tie_break or [],
    )


def run(
    candidates: list[Candidate], b: Budget, rule: Rule, available: dict[int, float] | None = None
) -> Allocation:
    if available is None:
        available = {FIRST_YEAR + i: e for i, e in enumerate(b.envelopes)}
    return allocate(candidates, b, available, rule, GRID)


def ids(placed: list) -> list[str]:
    return [p.application_id for p in placed]


@pytest.mark.parametrize("rule", list(Rule))
def test_a_call_of_20_with_an_envelope_for_6(rule: Rule) -> None:
    # Scores 4.9, 4.8, … : app-01 is first. Each asks 100 000 MAD; the envelope funds 6.
    candidates = [candidate(f"app-{n:02}", 5 - n / 10) for n in range(1, 21)]
    result = run(list(reversed(candidates)), budget([600_000.0], reserve_size=5), rule)
    assert ids(result.laureates) == [f"app-{n:02}" for n in range(1, 7)]
    assert [p.rank for p in result.laureates] == list(range(1, 7))
    assert ids(result.reserve) == [f"app-{n:02}" for n in range(7, 12)]
    assert [p.rank for p in result.reserve] == list(range(7, 12))
    assert ids(result.insufficient) == [f"app-{n:02}" for n in range(12, 21)]
    assert result.below_threshold == []
    assert result.remaining == {FIRST_YEAR: 0.0}
    assert result.laureates[0].amounts == (100_000.0,)


def test_a_big_file_that_does_not_fit_stops_the_strict_list() -> None:
    candidates = [
        candidate("a", 4.5, (300_000.0,)),
        candidate("big", 4.2, (500_000.0,)),
        candidate("c", 4.0, (200_000.0,)),
        candidate("d", 3.8, (100_000.0,)),
    ]
    strict = run(candidates, budget([600_000.0]), Rule.STRICT)
    assert ids(strict.laureates) == ["a"]
    assert ids(strict.reserve) == ["big", "c", "d"]  # in rank order, though c and d would fit
    assert strict.remaining == {FIRST_YEAR: 300_000.0}

    adjusted = run(candidates, budget([600_000.0]), Rule.ADJUSTED)
    assert ids(adjusted.laureates) == ["a", "c", "d"]  # big passed over, the smaller next funded
    assert [p.rank for p in adjusted.laureates] == [1, 3, 4]
    assert ids(adjusted.reserve) == ["big"]
    assert adjusted.reserve[0].rank == 2
    assert adjusted.remaining == {FIRST_YEAR: 0.0}
    assert adjusted.rule == Rule.ADJUSTED and strict.rule == Rule.STRICT


def test_a_file_below_a_threshold_is_never_funded_nor_ranked() -> None:
    candidates = [
        candidate("top-but-failed", 4.9, met=False),
        candidate("second", 4.0),
        candidate("low-failed", 2.0, met=False),
    ]
    for rule in Rule:
        result = run(candidates, budget([10_000_000.0]), rule)
        assert ids(result.laureates) == ["second"]
        assert result.laureates[0].rank == 1
        assert result.below_threshold == ["top-but-failed", "low-failed"]
        assert result.reserve == [] and result.insufficient == []
        assert result.remaining == {FIRST_YEAR: 10_000_000.0 - 100_000.0}


@pytest.mark.parametrize("size", [0, 2, 10])
def test_the_reserve_keeps_the_first_unfunded_files_up_to_its_size(size: int) -> None:
    candidates = [candidate(f"app-{n}", 5 - n / 10) for n in range(1, 7)]  # 6 files
    result = run(candidates, budget([100_000.0], reserve_size=size), Rule.STRICT)
    unfunded = [f"app-{n}" for n in range(2, 7)]
    assert ids(result.laureates) == ["app-1"]
    assert ids(result.reserve) == unfunded[:size]
    assert ids(result.insufficient) == unfunded[size:]
    assert INSUFFICIENT_FUNDS == "Non retenu — fonds insuffisants"


def test_ties_are_broken_by_the_configured_criteria_then_the_deposit_time() -> None:
    # Same weighted score; x leads on strategy, y on innovation, z equals y but came later.
    x = candidate("x", 3.8, means={"strategy": 4.5, "innovation": 3.5, "budget": 3.0}, minute=30)
    y = candidate("y", 3.8, means={"strategy": 3.5, "innovation": 4.5, "budget": 3.0}, minute=10)
    z = candidate("z", 3.8, means={"strategy": 3.5, "innovation": 4.5, "budget": 3.0}, minute=20)
    envelope = [100_000.0]  # funds one

    def order(tie_break: list[str]) -> list[str]:
        result = run([z, y, x], budget(envelope, tie_break=tie_break), Rule.STRICT)
        return ids(result.laureates + result.reserve + result.insufficient)

    assert order([]) == ["x", "y", "z"]  # the grid's order: strategy first
    assert order(["innovation"]) == ["y", "z", "x"]  # then y before z: deposited earlier
    assert order(["unknown", "innovation"]) == ["y", "z", "x"]
    # Identical in everything but the id: the id decides, so the order stays total.
    twins = [candidate("twin-b", 4.0), candidate("twin-a", 4.0)]
    assert ids(run(twins, budget(envelope), Rule.STRICT).laureates) == ["twin-a"]


def test_rank_key_keeps_the_grid_order_by_default_and_follows_a_configured_order() -> None:
    result = EvaluationResult(
        weighted_score=3.8,
        criterion_means={"strategy": 3.0, "innovation": 4.0, "budget": 5.0},
        evaluator_scores={},
        spread=0,
        consensus_needed=False,
        thresholds_met=True,
        failed_criteria=[],
    )
    assert rank_key(GRID, result, DEPOSIT) == (-3.8, -3.0, -4.0, -5.0, DEPOSIT)
    assert rank_key(GRID, result, DEPOSIT, []) == rank_key(GRID, result, DEPOSIT)
    # Named criteria first, the others after them in the grid's order; unknown codes ignored.
    assert rank_key(GRID, result, DEPOSIT, ["budget", "nope", "budget"]) == (
        -3.8, -5.0, -3.0, -4.0, DEPOSIT,
    )  # fmt: skip
    assert "dans l'ordre configuré" in TIE_BREAK


def test_a_file_must_fit_every_year_of_its_contract() -> None:
    candidates = [
        candidate("a", 4.5, (400.0, 400.0)),
        candidate("b", 4.2, (400.0, 200.0)),  # fits 2026 (600 left) but not 2027 (100 left)
        candidate("c", 4.0, (100.0, 100.0)),
        candidate("longer", 3.9, (10.0, 10.0, 10.0)),  # 2028 has no envelope
        candidate("nothing", 3.5, ()),  # asks nothing: always fits
    ]
    strict = run(candidates, budget([1_000.0, 500.0]), Rule.STRICT)
    assert ids(strict.laureates) == ["a"]
    assert ids(strict.reserve) == ["b", "c", "longer", "nothing"]
    assert strict.remaining == {2026: 600.0, 2027: 100.0}

    adjusted = run(candidates, budget([1_000.0, 500.0]), Rule.ADJUSTED)
    assert ids(adjusted.laureates) == ["a", "c", "nothing"]
    assert ids(adjusted.reserve) == ["b", "longer"]
    assert adjusted.remaining == {2026: 500.0, 2027: 0.0}


def test_what_is_available_is_what_counts_not_the_envelope() -> None:
    # 300 000 already engaged out of 600 000: only 3 files of 100 000 fit.
    candidates = [candidate(f"app-{n}", 5 - n / 10) for n in range(1, 6)]
    result = run(candidates, budget([600_000.0]), Rule.STRICT, {FIRST_YEAR: 300_000.0})
    assert ids(result.laureates) == ["app-1", "app-2", "app-3"]
    assert result.remaining == {FIRST_YEAR: 0.0}


def test_doubles_are_refused_and_the_rules_are_labelled_in_french() -> None:
    with pytest.raises(ValueError, match="candidatures en double : a"):
        run([candidate("a", 4.0), candidate("a", 3.0)], budget([1.0]), Rule.STRICT)
    assert RULE_LABELS[Rule.STRICT].startswith("stricte")
    assert RULE_LABELS[Rule.ADJUSTED].startswith("ajustée")
    assert Rule("ajustee") is Rule.ADJUSTED


# --- properties ----------------------------------------------------------------------------

marks = st.sampled_from([2.0, 3.0, 3.5, 4.0])  # few values, so ties are frequent


@st.composite
def candidate_lists(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        Candidate(
            application_id=f"app-{n}",
            weighted_score=draw(marks),
            criterion_means={code: draw(marks) for code in CODES},
            thresholds_met=draw(st.booleans()),
            registered_at=DEPOSIT + timedelta(minutes=draw(st.integers(0, 3))),
            amounts=tuple(draw(st.lists(st.integers(0, 400).map(float), min_size=0, max_size=3))),
        )
        for n in range(count)
    ]


@settings(max_examples=300, deadline=None)
@given(
    candidates=candidate_lists(),
    envelopes=st.lists(st.integers(0, 1_500).map(float), min_size=1, max_size=3),
    reserve_size=st.integers(0, 4),
    tie_break=st.lists(st.sampled_from([*CODES, "unknown"]), max_size=3, unique=True),
    rule=st.sampled_from(list(Rule)),
    data=st.data(),
)
def test_the_proposal_depends_on_the_candidates_not_their_order(
    candidates: list[Candidate],
    envelopes: list[float],
    reserve_size: int,
    tie_break: list[str],
    rule: Rule,
    data: st.DataObject,
) -> None:
    b = budget(envelopes, reserve_size=reserve_size, tie_break=tie_break)
    available = {FIRST_YEAR + i: e for i, e in enumerate(envelopes)}
    result = allocate(candidates, b, dict(available), rule, GRID)
    shuffled = data.draw(st.permutations(candidates))
    assert allocate(shuffled, b, dict(available), rule, GRID) == result

    # Every candidate lands in exactly one list; below a threshold means never funded.
    placed = ids(result.laureates + result.reserve + result.insufficient)
    every = placed + result.below_threshold
    assert sorted(every) == sorted(c.application_id for c in candidates)
    assert set(result.below_threshold) == {
        c.application_id for c in candidates if not c.thresholds_met
    }
    assert sorted(p.rank for p in result.laureates + result.reserve + result.insufficient) == list(
        range(1, len(placed) + 1)
    )
    assert len(result.reserve) <= reserve_size
    assert not result.insufficient or len(result.reserve) == reserve_size

    # The laureates' amounts never exceed what was available, year by year.
    for i, year in enumerate(b.years):
        taken = sum(p.amounts[i] for p in result.laureates if i < len(p.amounts))
        assert taken <= available[year] + CENT
        assert result.remaining[year] == pytest.approx(available[year] - taken)
    assert all(len(p.amounts) <= len(envelopes) or not any(p.amounts[len(envelopes) :])
               for p in result.laureates)  # fmt: skip

    unfunded = result.reserve + result.insufficient
    if rule == Rule.STRICT:  # the funded files are exactly the head of the ranking
        assert [p.rank for p in result.laureates] == list(range(1, len(result.laureates) + 1))
    else:  # nothing left unfunded would still fit what remains
        first = b.first_year
        for p in unfunded:
            assert any(
                a > result.remaining.get(first + i, 0.0) + CENT for i, a in enumerate(p.amounts)
            )
