"""A small scenario rehearsed end to end: the report must say what the scenario implies."""

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from projection.database import make_engine
from projection.ledger import YearBalance, call_balances, programme_years
from rehearsal.__main__ import Progress, main, rehearse
from rehearsal.report import Report, render, write
from rehearsal.scenario import Scenario, ScenarioError, load

session_loop = pytest.mark.asyncio(loop_scope="session")
SCENARIO = {
    "name": "Petit appel",
    "seed": 3,
    "call": {
        "year": 2025,
        "title": "Répétition",
        "opens_at": "2025-06-02T09:00",
        "deadline": "2025-07-24",
        "rules": {"evaluators_per_application": 2, "complement_response_days": 5},
    },
    "applicants": {
        "count": 5,
        "missing_documents": 0,
        "companies_only": 0,
        "existing_clusters": 0,
        "listed": [
            {
                "cluster_name": "Cluster Immobilier",
                "sector": "immobilier",
                "members": [{"name": "A", "type": "company"}, {"name": "B", "type": "research"}],
                "contact": {"name": "C", "email": "c@immo.ma"},
            }
        ],
    },
    "evaluators": {"mean": 4.2, "spread": 0.2, "late": 0},
    "committee": {"labelled": 2, "reserve": 1},
    "support": {"years": 1, "amount": 1000000, "decrease": 0, "late_reports": 0},
}


def ledger_of(report: Report) -> list[YearBalance]:
    """The rehearsal's own ledger, summed by the projection (its database outlives the run)."""
    engine = make_engine(report.database)
    with Session(engine) as db:
        balances = call_balances(db, report.call_id)
    engine.dispose()
    return balances


def money_matches_the_ledger(report: Report) -> list[YearBalance]:
    """The report's money per budget year is the ledger's, year by year, in its text too."""
    balances = ledger_of(report)
    assert balances and len(report.money) == len(balances)
    for row, balance in zip(report.money, balances, strict=True):
        assert row["année budgétaire"] == balance.year
        assert row["enveloppe"] == balance.envelope
        assert row["réservé net"] == balance.engaged <= balance.envelope + 0.005
        assert row["engagé net"] == round(balance.committed - balance.returned, 2)
        assert row["ordonnancé"] == balance.released and row["payé"] == balance.paid
        assert row["disponible"] == balance.available
        assert balance.paid <= balance.released <= balance.committed + 0.005
    text = render(report)
    assert "Budget par année budgétaire" in text and "Prévision des besoins" in text
    return balances


@session_loop
async def test_report_matches_the_scenario(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    scenario = Scenario.model_validate(SCENARIO)
    report = await rehearse(skipping_env, scenario, "règles du scénario", Progress(10))

    assert len(report.outcomes) == 6
    listed = next(o for o in report.outcomes if o["cluster"] == "Cluster Immobilier")
    assert listed["étape"] == "irrecevable" and "immobilier" in listed["pourquoi"]
    finals = report.final_counts()
    assert finals == {"irrecevable": 1, "labellisée": 2, "liste d'attente": 1, "rejet définitif": 2}
    assert [r["rang"] for r in report.ranking] == [1, 2, 3, 4, 5]
    assert report.stages[0]["reçue"] == 6
    assert report.stages[1]["examen de recevabilité"] == 6
    assert {
        "date": "24/07/2025 15:00",
        "événement": "Date limite atteinte",
        "par": "horloge",
    } in report.timeline
    assert sum(report.support.values()) == 2 * 1_000_000
    # No envelope stated: it funds as many files as the committee labels, no more.
    [year] = money_matches_the_ledger(report)
    assert year.year == 2025 and year.envelope == 2 * 1_000_000 == year.engaged
    assert year.available == 0 and year.paid > 0  # the first tranches paid
    assert [f["année budgétaire"] for f in report.forecast] == [2025, 2026, 2027]
    assert report.forecast[0]["prévu"] == round(year.committed - year.paid, 2)
    mail = {row["courrier"]: row for row in report.mail}
    assert mail["registered"]["envoyés"] == 6 and mail["result_published"]["envoyés"] == 5
    assert all(row["en échec"] == 0 and row["en attente"] == 0 for row in report.mail)

    write(report, tmp_path)
    assert (
        (tmp_path / "candidatures.csv").read_text(encoding="utf-8-sig").startswith("candidature;")
    )
    assert {p.name for p in tmp_path.iterdir()} >= {
        "rapport.json",
        "classement.csv",
        "soutien.csv",
        "budget.csv",
        "prevision.csv",
    }
    budget = (tmp_path / "budget.csv").read_text(encoding="utf-8-sig").splitlines()
    assert budget[0].startswith("année budgétaire;enveloppe;") and len(budget) == 2


@session_loop
@pytest.mark.parametrize("fate", ["probation", "stopped"])
async def test_a_short_envelope_labels_fewer_and_the_forecast_counts_the_reviews(
    skipping_env: WorkflowEnvironment, fate: str
) -> None:
    """An envelope for two files and a half: two labelled, the next waits for want of funds;
    two years of a four-year contract, every cluster renewed on probation (its year cut by
    20 %) or stopped at the first review (its money not released given back)."""
    requested = [1_000_000, 900_000, 800_000, 700_000]
    scenario = Scenario.model_validate(
        SCENARIO
        | {
            "committee": {"labelled": 3, "reserve": 1},
            "support": {
                "years": 2,
                "contract_years": 4,
                "amount": 1_000_000,
                "decrease": 100_000,
                "late_reports": 0,
                "envelope": [a * 2.5 for a in requested],
                "stopped": 1.0 if fate == "stopped" else 0.0,
                "probation": 1.0 if fate == "probation" else 0.0,
                "probation_cut": 0.2,
            },
        }
    )
    report = await rehearse(skipping_env, scenario, fate, Progress(12))
    finals = report.final_counts()
    assert finals["labellisée"] == 2 and finals["liste d'attente"] == 1
    waiting = next(o for o in report.outcomes if o["étape"] == "liste d'attente")
    assert "fonds insuffisants" in waiting["pourquoi"]
    balances = money_matches_the_ledger(report)
    assert [b.year for b in balances] == [2025, 2026, 2027, 2028]
    first_tranches = 2 * 0.6 * requested[0]
    if fate == "probation":
        # The second year's cut went back to the envelope: its renewal is 20 % lower.
        cut = [2 * a * (0.8 if year == 1 else 1) for year, a in enumerate(requested)]
        assert [b.engaged for b in balances] == [round(a, 2) for a in cut]
        assert balances[0].released == balances[0].paid == 2 * requested[0]  # year 1 in full
        assert balances[1].paid == round(2 * 0.6 * requested[1] * 0.8, 2)  # cut by 20 %
    else:  # stopped: what was not released goes back to the envelope
        assert [b.engaged for b in balances] == [first_tranches, 0, 0, 0]
        assert [b.available for b in balances] == [
            2.5 * requested[0] - first_tranches,
            *(2.5 * a for a in requested[1:]),
        ]
    # The forecast from the second contract year on: planned as programme_years sees the
    # needs, expected with the scenario's shares (domain.forecast).
    engine = make_engine(report.database)
    with Session(engine) as db:
        needs = {y.year: y.needs for y in programme_years(db)}
    engine.dispose()
    forecast = {f["année budgétaire"]: f for f in report.forecast}
    assert list(forecast) == [2026, 2027, 2028]
    for year, row in forecast.items():
        assert row["prévu"] == needs.get(year, 0.0)
    assert forecast[2026]["attendu"] == forecast[2026]["prévu"]  # the current year: renewed
    if fate == "probation":
        assert forecast[2027]["prévu"] == 2 * requested[2]
        assert forecast[2027]["attendu"] == round(2 * requested[2] * 0.8, 2)
    else:
        assert all(row["prévu"] == row["attendu"] == 0 for row in forecast.values())
    assert report.shares["réduction sous probation"] == 0.2


def test_a_bad_scenario_is_refused_with_every_reason(tmp_path: Path) -> None:
    broken = {**SCENARIO, "call": {**SCENARIO["call"], "rules": {"evaluators_per_applicaton": 2}}}
    broken["applicants"] = {"count": -1}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True))
    with pytest.raises(ScenarioError) as error:
        load(path)
    assert "call › rules › evaluators_per_applicaton : champ inconnu" in str(error.value)
    assert "applicants › count : doit être supérieur ou égal à 0" in str(error.value)


@session_loop
async def test_the_command_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    assert await main(["absent.yaml"]) == 2
    assert "fichier introuvable" in capsys.readouterr().err


def test_shipped_scenarios_are_valid() -> None:
    for path in (Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"):
        assert load(path).name


@session_loop
async def test_the_shipped_2025_call_runs_and_accounts_for_every_applicant(
    skipping_env: WorkflowEnvironment,
) -> None:
    scenario = load(Path(__file__).resolve().parent.parent / "scenarios" / "aap-2025.yaml")
    report = await rehearse(skipping_env, scenario, "2025", Progress(12))
    assert len(report.outcomes) == scenario.applicants.count
    assert {
        "date": "24/07/2025 15:00",
        "événement": "Date limite atteinte",
        "par": "horloge",
    } in report.timeline
    assert report.final_counts()["labellisée"] == scenario.committee.labelled
    assert report.final_counts()["liste d'attente"] == scenario.committee.reserve
    assert len(report.support) == scenario.support.years
    first_year = next(iter(report.support.values()))
    assert first_year == scenario.committee.labelled * scenario.support.amount
    # Its envelope as the scenario states it, the money per year as the ledger sums it.
    balances = money_matches_the_ledger(report)
    assert [b.envelope for b in balances] == scenario.support.envelope
    assert [b.year for b in balances][0] == scenario.support.first_year
