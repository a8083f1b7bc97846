"""Pure rules: Rabat time, due dates, pre-checks, the lifecycle table, payload validation."""

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from domain.bodies import ComplementsReply
from domain.clock import RABAT, at_deadline_time, due_after, local, to_utc
from domain.lifecycle import allowed_actions
from domain.models import DEFAULT_DOCUMENTS, Amendment, ApplicationInput, CallRules, CallSpec
from domain.rules import precheck
from domain.stages import ApplicationStage, CallStage
from domain.support import add_years
from tests.conftest import APPLICATION


def test_a_bare_date_means_15h_rabat_time_and_naive_times_are_rabat_time() -> None:
    # Summer (UTC+1) and Ramadan 2026 (Morocco returns to UTC+0).
    assert to_utc("2025-07-24") == datetime(2025, 7, 24, 14, 0, tzinfo=UTC)
    assert to_utc("2026-03-02") == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert to_utc("2025-05-19T15:00") == datetime(2025, 5, 19, 14, 0, tzinfo=UTC)
    assert to_utc("2025-05-19T15:00Z") == datetime(2025, 5, 19, 15, 0, tzinfo=UTC)


def test_response_time_ends_at_15h_rabat_time_n_days_later() -> None:
    late_evening = datetime(2025, 7, 31, 23, 30, tzinfo=UTC)  # already 1 August in Rabat
    assert due_after(late_evening, 10) == datetime(2025, 8, 11, 14, 0, tzinfo=UTC)


def test_call_rules_are_validated() -> None:
    with pytest.raises(ValidationError, match="la date limite doit suivre"):
        CallSpec(year=2025, title="AAP", opens_at="2025-07-01", deadline="2025-06-01")
    with pytest.raises(ValidationError, match="distincts"):
        CallRules(sectors=["TIC", "tic"])
    spec = CallSpec(year=2025, title="AAP", opens_at="2025-06-01", deadline="2025-07-24")
    assert spec.rules().max_support_years == 8
    assert spec.rules().evaluators_per_application == 3


def test_payloads_that_say_nothing_are_refused() -> None:
    with pytest.raises(ValidationError, match="au moins un champ"):
        Amendment(sector=None)
    with pytest.raises(ValidationError, match="au moins un fichier"):
        ComplementsReply()
    assert Amendment(sector="TIC").changes() == {"sector": "TIC"}


def checks(received: list[str] = DEFAULT_DOCUMENTS, **changes: object) -> dict[str, bool]:
    """The checklist of APPLICATION changed by `changes`, with files of the `received` kinds."""
    data = ApplicationInput.model_validate({**APPLICATION, **changes})
    return {c.code: c.passed for c in precheck(data, CallRules(), received)}


def test_prechecks_pass_for_a_complete_new_cluster() -> None:
    assert all(checks().values())


def test_prechecks_name_what_is_wrong() -> None:
    assert not checks(["dossier de candidature"])["documents_complete"]
    assert checks([d.upper() for d in DEFAULT_DOCUMENTS] + ["autre"])["documents_complete"]
    assert not checks(sector="immobilier")["sector_eligible"]
    assert checks(sector="  Aéronautique ")["sector_eligible"]
    only_companies = [{"name": "A", "type": "company"}, {"name": "B", "type": "startup"}]
    assert not checks(members=only_companies)["members_mix"]
    startup_and_school = [{"name": "A", "type": "startup"}, {"name": "B", "type": "training"}]
    assert checks(members=startup_and_school)["members_mix"]
    assert not checks(existing_cluster=True, support_years=5)["support_years"]
    assert checks(existing_cluster=True, support_years=8)["support_years"]
    detail = precheck(
        ApplicationInput.model_validate(
            {**APPLICATION, "existing_cluster": True, "support_years": 5}
        ),
        CallRules(),
        DEFAULT_DOCUMENTS,
    )[3].detail
    assert detail == "5 an(s) de soutien sur 8 requis"


def test_allowed_actions_follow_the_stage_and_exclude_the_clock() -> None:
    assert allowed_actions(CallStage.OPEN) == [
        "extend_deadline",
        "register_application",
        "set_budget",
    ]
    assert allowed_actions(ApplicationStage.RECEIVED) == ["amend", "add_document", "withdraw"]
    assert allowed_actions(ApplicationStage.COMPLEMENTS_REQUESTED) == [
        "add_document",
        "submit_complements",
    ]
    assert allowed_actions(ApplicationStage.INELIGIBLE) == []


def test_an_anniversary_keeps_the_contract_s_rabat_time_across_ramadan() -> None:
    signed = datetime(2026, 3, 15, 15, 0, tzinfo=RABAT)  # Ramadan 2026: Rabat at UTC+0
    year_end = add_years(signed, 1)  # mid-March 2027 is after Ramadan: UTC+1
    assert local(year_end).hour == 15 and local(year_end).date() == date(2027, 3, 15)
    assert add_years(datetime(2028, 2, 29, 15, 0, tzinfo=RABAT), 1) == at_deadline_time(
        date(2029, 2, 28)
    )


def test_the_new_bodies_hold_their_bounds() -> None:
    """A digest, a release and a decision's internal note: each bounded, refused beyond."""
    from pydantic import ValidationError

    from domain.bodies import AssignmentDigest, CommitteeDecision, DigestItem, EvaluatorRelease

    item = DigestItem(
        evaluator="Eve", application_id="0" * 12, cluster_name="C", due_at="2027-01-01"
    )
    assert len(AssignmentDigest(items=[item] * 1800).items) == 1800
    for refused in (
        lambda: AssignmentDigest(items=[item] * 1801),
        lambda: AssignmentDigest(items=[]),
        lambda: DigestItem(**item.model_dump() | {"application_id": "../etc"}),
        lambda: EvaluatorRelease(evaluator="x" * 201, reason="r"),
        lambda: EvaluatorRelease(evaluator="Eve", reason="r" * 2001),
        lambda: CommitteeDecision(reason="ok", internal_note="n" * 2001),
    ):
        with pytest.raises(ValidationError):
            refused()


def test_the_money_s_bodies_hold_their_bounds() -> None:
    """Amounts never negative, past ten billion, NaN or infinite; at most 30 budget years and
    6 tranches; a tranche named « année-numéro »; an accounting reference of 60 characters."""
    from domain.models import Amendment
    from domain.money import MAX_TRANCHES, MAX_YEARS, BudgetChange, Release
    from domain.support import ContractTerms

    for bad in (-1, 1e10 + 1, float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            Amendment(requested_amounts=[bad])
    with pytest.raises(ValidationError):
        BudgetChange(first_year=2027, envelopes=[1.0] * (MAX_YEARS + 1))
    assert len(BudgetChange(first_year=2027, envelopes=[1.0] * MAX_YEARS).envelopes) == MAX_YEARS
    schedule = [{"label": f"T{n}", "percent": 100 / (MAX_TRANCHES + 1)} for n in range(7)]
    with pytest.raises(ValidationError):
        ContractTerms(
            start_at=datetime(2027, 1, 1, tzinfo=RABAT),
            planned_amounts=[1.0],
            kpi_targets={},
            schedule=schedule,
        )
    with pytest.raises(ValidationError):
        Release(tranche="1-1; drop", budget_line="2.1", commitment_number="E-1")
    with pytest.raises(ValidationError):
        Release(tranche="1-1", budget_line="x" * 61, commitment_number="E-1")
