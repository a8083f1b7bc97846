"""The money through the console, as its people use it, on the time-skipping server and on both
databases: the admin sets a call's budget by its form (a change without its reason refused
beside the field) and reads its balances and the allocation proposal; a laureate's first
tranche is released by one finance officer, its payment refused to the same person and
recorded by the other; the programme's finances and the forecast's spreadsheet read back; a
form sent from another site refused. The API's reads of the same money, bounded."""

import html
import io
import re
from datetime import timedelta

import httpx
import pytest
from openpyxl import load_workbook

from console.money import REASON_NEEDED
from tests.conftest import Service
from tests.test_clusters import TARGETS, stage_is
from tests.test_committee import PANEL
from tests.test_evaluation import DRISS, EVE, NADIA, eligible_applications, ok, score
from tests.test_session_console import EVIL, moved, refused_with, submit
from web.money import this_year
from web.security import CROSS_SITE
from workflows.cluster import SEPARATION

pytestmark = pytest.mark.asyncio(loop_scope="session")
ASKED = [600_000.0, 400_000.0]  # per contract year
FIRST_SHARE = 360_000.0  # the default schedule's first tranche: 60 % of year 1


def text_of(page: httpx.Response) -> str:
    """The page's words, as a person reads them (tags out, entities decoded, spaces one)."""
    words = html.unescape(re.sub(r"<[^>]+>", " ", page.text))
    return re.sub(r"\s+", " ", words.replace("\u202f", " "))


def row_of(page: httpx.Response, year: int) -> str:
    """The words of the budget table's row of `year`."""
    found = re.search(rf"<tr><td>{year}</td>.*?</tr>", page.text, re.S)
    assert found, f"no row for {year}"
    return text_of(httpx.Response(200, text=found.group(0))).strip()


async def scored_file(service: Service) -> tuple[str, str]:
    """A call under evaluation with one file scored above every threshold, asking ASKED."""
    name = "Cluster Atlas de l'Agro-industrie"
    call_id, (application_id,) = await eligible_applications(
        service, [name], **{name: {"requested_amounts": ASKED}}
    )
    assigned = await service.post(
        f"/applications/{application_id}/assign_evaluators",
        role="admin",
        json={"evaluators": PANEL},
    )
    await ok(assigned)
    await score(service, application_id, {r: (4.5,) * 5 for r in (EVE, DRISS, NADIA)})
    return call_id, application_id


async def test_the_money_through_the_console(skipping: Service) -> None:
    service = skipping
    call_id, application_id = await scored_file(service)
    first = this_year()
    budget_page = f"/console/appels/{call_id}/budget"
    admin = await service.signed_in("t-admin")
    fatima = await service.signed_in("t-finance")
    rachid = await service.signed_in("t-finance2")
    try:
        # No budget yet: the call's money is not tracked, the page says so.
        page = await admin.get(budget_page)
        assert page.status_code == 200, page.text
        assert "Aucun budget fixé" in page.text
        call_page = await admin.get(f"/console/appels/{call_id}")
        assert f'href="{budget_page}"' in call_page.text
        assert 'id="form-set_budget"' not in call_page.text  # set on the budget page

        # The budget set by its form.
        budget = {"first_year": str(first), "envelopes": "1 000 000\n800 000", "reserve_size": "3"}
        moved(await submit(admin, budget_page, "set_budget", budget), budget_page, "fait")
        page = await admin.get(budget_page)
        assert "1 000 000 MAD" in row_of(page, first) and "800 000 MAD" in row_of(page, first + 1)
        # The proposal: the one file fits, a laureate; it changes nothing.
        words = text_of(page)
        assert "Lauréats proposés : 1 " in words and "Cluster Atlas" in words
        assert re.search(
            r"Cluster Atlas[^<]*</a></td><td>.*?</td><td>[^<]*</td><td><span", page.text
        )
        assert row_of(page, first).endswith("1 000 000 MAD")  # still all available

        # A change without its reason: refused beside the field, the form as it was typed.
        changed = {**budget, "envelopes": "1 200 000\n800 000"}
        answer = await submit(admin, budget_page, "set_budget", changed)
        shown = refused_with(answer, 422, REASON_NEEDED)
        beside = re.search(
            r'<p class="erreur-champ" id="set_budget-reason-erreur">(.*?)</p>', shown
        )
        assert beside and html.unescape(beside.group(1)) == REASON_NEEDED
        assert "1 200 000\n800 000" in html.unescape(shown)
        explained = {**changed, "reason": "Arbitrage budgétaire de la direction."}
        moved(await submit(admin, budget_page, "set_budget", explained), budget_page, "fait")
        page = await admin.get(budget_page)
        assert "1 200 000 MAD" in row_of(page, first)

        # Strangers to the budget are refused; the strict/adjusted switch is a link.
        operator = await service.signed_in("t-operator")
        try:
            assert (await operator.get(budget_page)).status_code == 403
            refused = await operator.post(f"{budget_page}/set_budget", data=explained)
            refused_with(refused, 303, "ne permet pas cette action")
        finally:
            await operator.aclose()
        assert 'href="?regle=ajustee"' in page.text
        adjusted = await fatima.get(budget_page, params={"regle": "ajustee"})
        assert adjusted.status_code == 200 and "passe au suivant qui tient" in adjusted.text
        assert 'id="form-set_budget"' not in adjusted.text  # finance reads, never sets

        # A form from another site changes nothing.
        evil = await admin.post(f"{budget_page}/set_budget", data=explained, headers=EVIL)
        assert evil.status_code == 403 and html.escape(CROSS_SITE) in evil.text

        # Labelled, published, contract signed: the money reserved, then committed.
        label = {"reason": "Retenu.", "amounts": ASKED}
        await ok(await service.post(f"/applications/{application_id}/label", "committee", label))
        published = await service.post(
            f"/calls/{call_id}/publish_results", role="admin", json={"confirme": True}
        )
        await ok(published)
        await service.env.sleep(timedelta(minutes=1))
        await stage_is(service, application_id, "awaiting_contract")
        start = (await service.env.get_current_time() + timedelta(days=10)).date().isoformat()
        contract = {"start_at": start, "planned_amounts": ASKED, "kpi_targets": TARGETS}
        cluster = f"/clusters/{application_id}"
        await ok(await service.post(f"{cluster}/sign_contract", "admin", contract), "active")
        page = await fatima.get(budget_page)
        assert "600 000 MAD" in row_of(page, first)  # engaged and committed

        # The cluster's tranches, and the actions the finance office may take on them.
        cluster_page = f"/console{cluster}"
        page = await fatima.get(cluster_page)
        assert page.status_code == 200, page.text
        words = text_of(page)
        assert "Tranches" in words and "Première tranche (1-1) 360 000 MAD exigible" in words
        assert (
            "convention signée" in words and "à remplir rapport annuel approuvé (année 1)" in words
        )
        assert re.search(r'<option value="1-1">1-1 · Première tranche', page.text)
        assert 'id="form-pay_tranche"' not in page.text  # nothing released yet
        release = {"tranche": "1-1", "budget_line": "Chap. 2.1.3", "commitment_number": "ENG-41"}
        to = f"{cluster_page}/actions"
        moved(await submit(fatima, cluster_page, "release_tranche", release, to), cluster_page, "")

        # Released by Fatima: her payment is refused, Rachid's recorded.
        payment = {"tranche": "1-1", "payment_order": "OP-117", "bank_reference": "VIR-88120"}
        page = await fatima.get(cluster_page)
        assert "ordonnancée par vous" in page.text
        refused_with(
            await submit(fatima, cluster_page, "pay_tranche", payment, to), 403, SEPARATION
        )
        moved(await submit(rachid, cluster_page, "pay_tranche", payment, to), cluster_page, "")
        words = text_of(await rachid.get(cluster_page))
        assert "payée" in words and "Ligne budgétaire Chap. 2.1.3" in words
        assert "Ordre OP-117 · virement VIR-88120" in words and "par Rachid Finances" in words
        assert "par Fatima Finances" in words  # who released it
        balances = row_of(await admin.get(budget_page), first)
        assert balances.split("MAD")[4].strip() == "360 000"  # paid

        # The programme's finances: its years and the forecast, with its spreadsheet.
        page = await fatima.get("/console/finances")
        assert page.status_code == 200, page.text
        assert "1 200 000 MAD" in row_of(page, first)
        scenario = {"arret": "10", "probation": "20", "reduction": "30", "annees": "3"}
        page = await fatima.get("/console/finances", params=scenario)
        assert page.status_code == 200 and "<svg" in page.text
        wrong = await fatima.get("/console/finances", params={**scenario, "arret": "150"})
        assert wrong.status_code == 422 and 'id="prevision-arret-erreur"' in wrong.text
        assert "de 0 à 100" in wrong.text
        xlsx = await fatima.get("/console/finances/prevision.xlsx", params=scenario)
        assert xlsx.status_code == 200, xlsx.text
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert rows[0][:3] == ["Année budgétaire", "Prévu (MAD)", "Attendu selon le scénario (MAD)"]
        needs = {r[0]: (r[1], r[2]) for r in rows[1:]}
        assert needs[first] == (ASKED[0] - FIRST_SHARE, ASKED[0] - FIRST_SHARE)
        assert needs[first + 1] == (ASKED[1], round(ASKED[1] * 0.9 * (1 - 0.2 * 0.3), 2))
        assert needs[first + 2] == (0, 0)
        ledger = await fatima.get("/console/finances/grand-livre.xlsx")
        kinds = [
            r[4]
            for r in load_workbook(io.BytesIO(ledger.content)).active.iter_rows(
                min_row=2, values_only=True
            )
            if r[1] == call_id
        ]
        assert kinds.count("payé") == 1 and "ordonnancé" in kinds and "engagé" in kinds
    finally:
        for browser in (admin, fatima, rachid):
            await browser.aclose()


async def test_the_api_reads_the_same_money_within_bounds(skipping: Service) -> None:
    service = skipping
    call_id = await service.new_call()
    path = f"/calls/{call_id}/budget"
    empty = await service.get(path, role="finance")
    assert empty.status_code == 200 and empty.json()["proposal"] is None
    budget = {"first_year": this_year(), "envelopes": [500_000, 500_000]}
    await ok(await service.post(f"/calls/{call_id}/set_budget", role="admin", json=budget))
    read = (await service.get(path, role="committee", params={"regle": "ajustee"})).json()
    assert read["proposal"]["rule"] == "ajustee" and read["proposal"]["laureates"] == []
    assert [y["available"] for y in read["years"]] == [500_000, 500_000]
    assert (await service.get(f"/calls/{call_id}", role="admin")).json()["budget"] == {
        **budget,
        "reserve_until": None,
        "reserve_size": 5,
        "tie_break": [],
    }

    # Bounded inputs, French refusals; never a 500.
    unknown = await service.get("/calls/2026-0000deadbeef/budget", role="admin")
    assert unknown.status_code == 404 and "inconnu" in unknown.json()["detail"].lower()
    for params in ({"regle": "au-hasard"},):
        assert (await service.get(path, role="admin", params=params)).status_code == 422
    forecast = "/finance/forecast"
    for params in (
        {"arret": "1.5"},
        {"probation": "-0.1"},
        {"reduction": "nan"},
        {"arret": "inf"},
        {"annees": "0"},
        {"annees": "31"},
        {"annees": "deux"},
    ):
        refused = await service.get(forecast, role="finance", params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert all(not line["msg"].startswith("Input") for line in refused.json()["detail"])
    read = await service.get(forecast, role="committee", params={"arret": "0.1", "annees": "2"})
    assert read.status_code == 200 and [n["year"] for n in read.json()["needs"]] == [
        this_year(),
        this_year() + 1,
    ]
    sheet = await service.get(f"{forecast}.xlsx", role="admin", params={"annees": "1"})
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
    csv = await service.get(f"/calls/{call_id}/ledger.csv", role="finance")
    assert csv.status_code == 200 and csv.text.startswith("\ufeffDate;Appel;Dossier")
    years = (await service.get("/finance/years", role="admin")).json()["years"]
    assert {y["year"] for y in years} >= {this_year(), this_year() + 1}
    assert (await service.get("/finance/ledger.xlsx", role="committee")).status_code == 403
