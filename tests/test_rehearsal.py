"""A small scenario rehearsed end to end: the report must say what the scenario implies."""

from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from rehearsal.__main__ import Progress, main, rehearse
from rehearsal.report import write
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
    mail = {row["courrier"]: row for row in report.mail}
    assert mail["registered"]["envoyés"] == 6 and mail["result_published"]["envoyés"] == 5
    assert all(row["en échec"] == 0 and row["en attente"] == 0 for row in report.mail)

    write(report, tmp_path)
    assert (
        (tmp_path / "candidatures.csv").read_text(encoding="utf-8-sig").startswith("candidature;")
    )
    assert {p.name for p in tmp_path.iterdir()} >= {"rapport.json", "classement.csv", "soutien.csv"}


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
