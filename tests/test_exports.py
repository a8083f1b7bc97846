"""Lists as CSV and XLSX files through the API: the list's filters, every row, French headers,
Rabat dates as real dates, formulas kept as text, the list's roles, 422 for what is malformed."""

import csv
import io
from datetime import datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session

from domain.clock import local
from domain.models import Actor
from domain.stages import STAGE_LABELS_FR, ApplicationStage, ClusterStage, Role
from domain.support import KPI_LABELS
from projection import exports, listings
from tests.conftest import APPLICATION, Service, utcnow
from tests.test_api import open_call
from tests.test_clusters import TARGETS, labelled_cluster

pytestmark = pytest.mark.asyncio(loop_scope="session")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA = '=HYPERLINK("http://example.com","clic")'
CALL_TITLE = "Appel à projets exporté"


@pytest.fixture
def service(dev_both: Service) -> Service:
    """One worker and API for the module, on SQLite and on PostgreSQL (filters are SQL)."""
    return dev_both


def sheet(response: httpx.Response) -> Worksheet:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    return load_workbook(io.BytesIO(response.content)).active


def cells(ws: Worksheet) -> list[list[object]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


def records(ws: Worksheet) -> list[dict[str, object]]:
    """The rows below the header, by column name."""
    header, *rows = cells(ws)
    return [dict(zip(header, row, strict=True)) for row in rows]


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.startswith("\ufeff") and "\r\n" in response.text
    return list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff")), delimiter=";"))


def attachment(response: httpx.Response, stem: str, fmt: str) -> None:
    today = local(utcnow()).date().isoformat()
    expected = f'attachment; filename="{stem}-{today}.{fmt}"'
    assert response.headers["content-disposition"] == expected


def rabat(moment: str) -> datetime:
    """A time the API answered, as the wall clock in Rabat (what a spreadsheet cell shows)."""
    return local(datetime.fromisoformat(moment)).replace(tzinfo=None)


def near(cell: object, expected: datetime) -> bool:
    """Excel keeps times to the millisecond or so."""
    return isinstance(cell, datetime) and abs(cell - expected) < timedelta(seconds=1)


async def call_with_cases(service: Service) -> tuple[str, dict[str, dict]]:
    """An open call and three applications, one named like a formula; their JSON by name."""
    call_id = await open_call(service, title=CALL_TITLE)
    names = {FORMULA: "TIC", "Cluster Export Aéro": "aéronautique", "Cluster Export TIC": "TIC"}
    for name, sector in names.items():
        body = {**APPLICATION, "cluster_name": name, "sector": sector}
        registered = await service.post(f"/calls/{call_id}/applications", json=body)
        assert registered.status_code == 201, registered.text
    listed = await service.get("/applications", params={"call_id": call_id, "page_size": 200})
    return call_id, {case["data"]["cluster_name"]: case for case in listed.json()["items"]}


async def test_applications_xlsx_has_every_matching_case_in_french(service: Service) -> None:
    call_id, cases = await call_with_cases(service)
    one_page = await service.get("/applications", params={"call_id": call_id, "page_size": 2})
    assert one_page.json()["total"] == 3 and len(one_page.json()["items"]) == 2
    answer = await service.get("/applications.xlsx", params={"call_id": call_id, "page_size": 2})
    attachment(answer, "candidatures", "xlsx")
    ws = sheet(answer)
    assert ws.title == "Candidatures" and ws.freeze_panes == "A2"
    assert cells(ws)[0] == listings.APPLICATIONS_HEADER
    assert all(cell.font.b for cell in ws[1])
    assert ws.column_dimensions["D"].width >= len(FORMULA)  # the cluster's name fits
    rows = records(ws)
    assert [r["Cluster"] for r in rows] == list(cases)  # all of them, in registration order
    aero = next(r for r in rows if r["Cluster"] == "Cluster Export Aéro")
    case = cases["Cluster Export Aéro"]
    assert aero["Identifiant"] == case["id"] and aero["Identifiant de l'appel"] == call_id
    assert aero["Appel"] == CALL_TITLE and aero["Secteur"] == "aéronautique"
    assert aero["Étape"] == STAGE_LABELS_FR["received"] and aero["En retard"] == "non"
    assert aero["Membres"] == 2 and aero["Score pondéré"] is None
    assert isinstance(aero["Reçue le"], datetime)  # a real date, not text
    assert near(aero["Reçue le"], rabat(case["registered_at"]))
    assert near(aero["Date limite de l'appel"], rabat(case["deadline"]))
    # The formula-looking name is a text cell: shown as typed, never run.
    [formula] = [c for c in ws["D"] if c.value == FORMULA]
    assert formula.data_type == "s"


async def test_applications_csv_follows_the_list_filters(service: Service) -> None:
    call_id, cases = await call_with_cases(service)
    answer = await service.get("/applications.csv", params={"call_id": call_id, "sector": "tic"})
    attachment(answer, "candidatures", "csv")
    header, *rows = csv_rows(answer)
    assert header == listings.APPLICATIONS_HEADER
    by_name = {row[header.index("Cluster")]: row for row in rows}
    assert set(by_name) == {"'" + FORMULA, "Cluster Export TIC"}  # a formula stays text
    tic = by_name["Cluster Export TIC"]
    assert tic[header.index("Identifiant")] == cases["Cluster Export TIC"]["id"]
    registered = rabat(cases["Cluster Export TIC"]["registered_at"])
    assert tic[header.index("Reçue le")] == registered.strftime("%d/%m/%Y %H:%M")
    assert tic[header.index("En retard")] == "non"
    searched = await service.get(
        "/applications.xlsx", params={"call_id": call_id, "q": "export aero"}
    )
    assert [r["Cluster"] for r in records(sheet(searched))] == ["Cluster Export Aéro"]
    scored = await service.get("/applications.csv", params={"call_id": call_id, "stage": "scored"})
    assert csv_rows(scored) == [listings.APPLICATIONS_HEADER]  # a header, and nothing matches


async def test_applications_table_shows_an_evaluator_only_their_cases(service: Service) -> None:
    """What the console exports for an evaluator: the cases assigned to them (here none)."""
    call_id, cases = await call_with_cases(service)
    with Session(service.engine) as db:
        admin = listings.applications_table(db, Actor(name="A", role=Role.ADMIN), call_id=call_id)
        eve = Actor(name="Eve Évaluatrice", role=Role.EVALUATOR)
        evaluator = listings.applications_table(db, eve, call_id=call_id)
    assert [row[0] for row in admin.rows] == [case["id"] for case in cases.values()]
    assert evaluator.rows == []


async def test_an_export_too_long_is_a_french_422(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id, _ = await call_with_cases(service)
    monkeypatch.setattr(exports, "MAX_ROWS", 2)
    monkeypatch.setattr(listings, "MAX_ROWS", 2)
    refused = await service.get("/applications.xlsx", params={"call_id": call_id})
    assert refused.status_code == 422
    assert refused.json()["detail"] == "Plus de 2 lignes à exporter : affinez les filtres."
    narrowed = await service.get("/applications.csv", params={"call_id": call_id, "sector": "tic"})
    assert len(csv_rows(narrowed)) == 3


async def test_cluster_support_and_kpis_exports(service: Service) -> None:
    cluster_id = await labelled_cluster(service, max_years=8)
    start = utcnow() - timedelta(days=1)
    signed = await service.post(
        f"/clusters/{cluster_id}/sign_contract",
        role="admin",
        json={
            "start_at": start.isoformat(),
            "planned_amounts": [1_000_000, 800_000],
            "kpi_targets": TARGETS,
        },
    )
    assert signed.status_code == 200, signed.text
    stage = (await service.get(f"/clusters/{cluster_id}")).json()["stage"]

    clusters = await service.get("/clusters.xlsx", params={"stage": stage}, role="committee")
    attachment(clusters, "clusters-labellises", "xlsx")
    [row] = [r for r in records(sheet(clusters)) if r["Identifiant"] == cluster_id]
    assert row["Cluster"] == "Cluster Textile du Nord" and row["Étape"] == STAGE_LABELS_FR[stage]
    assert row["Soutien accordé (MAD)"] == 1_000_000 and row["Années de soutien"] == 1
    assert isinstance(row["Labellisé le"], datetime)
    elsewhere = await service.get("/clusters.csv", params={"stage": "ended"})
    assert cluster_id not in [r[0] for r in csv_rows(elsewhere)]

    support = await service.get("/clusters/support.xlsx")
    attachment(support, "soutien-par-annee", "xlsx")
    [year] = [r for r in records(sheet(support)) if r["Identifiant du cluster"] == cluster_id]
    assert year["Année de soutien"] == 1 and year["Montant (MAD)"] == 1_000_000
    assert near(year["Début"], rabat(start.isoformat()))
    assert year["Année civile"] == local(start).year
    header, *lines = csv_rows(await service.get("/clusters/support.csv", params={"stage": stage}))
    [line] = [r for r in lines if r[0] == cluster_id]
    assert line[header.index("Montant (MAD)")] == "1000000,00"

    kpis = await service.get("/clusters/kpis.xlsx", params={"stage": stage}, role="operator")
    attachment(kpis, "indicateurs", "xlsx")
    ours = [r for r in records(sheet(kpis)) if r["Identifiant du cluster"] == cluster_id]
    targets = {KPI_LABELS[code]: target for code, target in TARGETS.items()}
    assert {r["Indicateur"]: r["Objectif"] for r in ours} == targets
    assert {r["Réalisé"] for r in ours} == {None} and {r["Année de soutien"] for r in ours} == {1}


async def test_ranking_as_xlsx_and_csv(service: Service) -> None:
    call_id = await open_call(service, title=CALL_TITLE)
    xlsx = await service.get(f"/calls/{call_id}/ranking.xlsx", role="committee")
    attachment(xlsx, f"classement-{call_id}", "xlsx")
    [header] = cells(sheet(xlsx))  # nothing scored yet
    assert header[:6] == ["Rang", "Candidature", "Cluster", "Secteur", "Étape", "Score pondéré"]
    as_csv = await service.get(f"/calls/{call_id}/ranking.csv", role="admin")
    assert csv_rows(as_csv) == [header]
    unknown = await service.get("/calls/2026-0000deadbeef/ranking.xlsx", role="admin")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "Appel à projets inconnu."


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("evaluator", "/applications.csv"),
        ("evaluator", "/applications.xlsx"),
        ("evaluator", "/clusters.xlsx"),
        ("evaluator", "/clusters/support.csv"),
        ("evaluator", "/clusters/kpis.xlsx"),
        ("operator", "/calls/2026-0000deadbeef/ranking.xlsx"),
        ("evaluator", "/calls/2026-0000deadbeef/ranking.csv"),
    ],
)
async def test_the_list_s_roles_only(service: Service, role: str, path: str) -> None:
    refused = await service.get(path, role=role)
    assert refused.status_code == 403
    assert refused.json()["detail"] == f"Le rôle « {role} » n'a pas accès à cette opération."
    assert (await service.http.get(path)).status_code == 401


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/applications.csv", {"stage": "foo"}, "stage"),
        ("/applications.xlsx", {"overdue": "peut-être"}, "overdue"),
        ("/applications.xlsx", {"call_id": "pas-un-appel"}, "call_id"),
        ("/applications.csv", {"q": "a\x00b"}, "q"),
        ("/applications.csv", {"sector": "x" * 201}, "sector"),
        ("/clusters.xlsx", {"renewal_within_days": "0"}, "renewal_within_days"),
        ("/clusters.csv", {"can_reapply": "bof"}, "can_reapply"),
        ("/clusters/support.csv", {"stage": "foo"}, "stage"),
        ("/calls/pas-un-appel/ranking.csv", {}, "call_id"),
    ],
)
async def test_malformed_filters_are_422_never_500(
    service: Service, path: str, params: dict, field: str
) -> None:
    answer = await service.get(path, params=params, role="admin")
    assert answer.status_code == 422, answer.text
    assert field in [error["loc"][-1] for error in answer.json()["detail"]]
    said = {error["loc"][-1]: error["msg"] for error in answer.json()["detail"]}[field]
    assert said in FRENCH_SAID, said  # told in French, as the console would tell it


def _expected(stages: type) -> str:
    """pydantic's list of a kind's stages, as the French table words it (derived from the
    stages' declaration, so a new stage needs no change here)."""
    names = [f"'{s.value}'" for s in stages]
    return f"valeur non prévue (attendu : {', '.join(names[:-1])} ou {names[-1]})"


FRENCH_SAID = {
    _expected(ApplicationStage),
    _expected(ClusterStage),
    "oui ou non attendu (true, false)",
    "format invalide",
    "au plus 200 caractères",
    "doit être supérieur ou égal à 1",
}


@pytest.mark.parametrize(
    "path",
    [
        "/applications.pdf",
        "/clusters.json",
        "/clusters/kpis.ods",
        "/calls/2026-0000deadbeef/ranking.pdf",
    ],
)
async def test_no_other_format(service: Service, path: str) -> None:
    """Only .csv and .xlsx are routes: another suffix is no route (or no well-formed id)."""
    answer = await service.get(path, role="admin")
    assert answer.status_code in (404, 422), answer.text


async def test_lists_sort_by_their_columns_and_their_exports_follow(service: Service) -> None:
    call_id, cases = await call_with_cases(service)
    by_name = await service.get("/applications", params={"call_id": call_id, "sort": "-cluster"})
    names = [a["data"]["cluster_name"] for a in by_name.json()["items"]]
    assert names == sorted(cases, key=str.casefold, reverse=True) and len(names) == 3
    exported = await service.get(
        "/applications.csv", params={"call_id": call_id, "sort": "-cluster"}
    )
    header, *rows = csv_rows(exported)
    assert [r[header.index("Cluster")].removeprefix("'") for r in rows] == names

    signed = []
    for amount in (300_000, 900_000):
        cluster_id = await labelled_cluster(service, max_years=8)
        answer = await service.post(
            f"/clusters/{cluster_id}/sign_contract",
            role="admin",
            json={
                "start_at": (utcnow() - timedelta(days=1)).isoformat(),
                "planned_amounts": [amount],
                "kpi_targets": TARGETS,
            },
        )
        assert answer.status_code == 200, answer.text
        signed.append(cluster_id)
    listing = await service.get("/clusters", params={"sort": "-soutien", "page_size": 200})
    order = [c["id"] for c in listing.json()["items"] if c["id"] in signed]
    assert order == signed[::-1]  # the larger support first
    totals = [c["total_support"] for c in listing.json()["items"]]
    assert totals == sorted(totals, reverse=True)
    ascending = records(sheet(await service.get("/clusters.xlsx", params={"sort": "soutien"})))
    assert [r["Identifiant"] for r in ascending if r["Identifiant"] in signed] == signed
    refused = await service.get("/clusters", params={"sort": "nom"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["msg"] == "format invalide"
