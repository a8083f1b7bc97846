"""The console's charts: SVG drawn on the server, bars sized by the data, every value in words."""

import contextlib
import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from console.charts import funnel, kpi_chart, support_chart
from projection.views import KpiLine
from tests.conftest import Service
from tests.test_api import eligible_review_case
from tests.test_clusters import TARGETS, labelled_cluster

NS = "{http://www.w3.org/2000/svg}"
PHONE_CARD = 318  # px: a card's content width on a 390 px phone


def parse(markup: Markup | str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{NS}svg" and root.get("role") == "img" and root.get("width") == "100%"
    title = root.find(f"{NS}title")
    assert title is not None and title.get("id") == root.get("aria-labelledby")
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == "barre"]


def widths(root: ET.Element) -> list[float]:
    return [float(r.get("width", "")) for r in bars(root)]


def near(value: float) -> object:
    return pytest.approx(value, abs=0.5)  # lengths are written to a tenth of a unit


def kpi(year: int, actual: int | None, target: int = 4, code: str = "patents") -> KpiLine:
    """A reported year's line (`actual` None: the report left it undeclared)."""
    label = {"patents": "Brevets", "rd_jobs": "Emplois R&D"}.get(code, code)
    return KpiLine(
        year=year, indicator=code, label=label, target=target, actual=actual, reported=True
    )


def test_the_funnel_counts_what_reached_each_step() -> None:
    counts = {"withdrawn": 1, "ineligible": 2, "evaluation": 3, "rejected": 2, "labelled": 2}
    root = parse(funnel(counts))
    shown = texts(root)
    assert shown == [
        "enregistrées", "10", "examinées", "9", "recevables", "7", "évaluées", "4",
        "labellisées", "2",
    ]  # fmt: skip
    registered, examined, eligible, evaluated, labelled = widths(root)
    assert registered == near(5 * labelled) and evaluated == near(2 * labelled)
    assert examined == near(registered * 9 / 10) and eligible == near(registered * 7 / 10)
    assert root.findtext(f"{NS}title") == "Parcours des candidatures de l'appel (10 enregistrées)"


def test_kpis_put_target_and_actual_side_by_side_and_say_what_is_not_reported() -> None:
    lines = [kpi(2, None), kpi(1, 2), kpi(1, 5, target=10, code="rd_jobs")]
    root = parse(kpi_chart(lines))
    shown = texts(root)
    assert shown[:6] == ["Brevets", "année 1", "objectif 4", "réalisé 2", "année 2", "objectif 4"]
    assert shown[6:] == ["non déclaré", "Emplois R&D", "année 1", "objectif 10", "réalisé 5"]
    target, actual, target_2, jobs_target, jobs_actual = widths(root)
    assert target == target_2 and target == near(2 * actual)
    assert jobs_target == near(target) and jobs_target == near(2 * jobs_actual)  # own scale
    missing = [r for r in root.iter(f"{NS}rect") if r.get("class") == "manquant"]
    assert len(missing) == 1 and missing[0].get("stroke-dasharray")


def test_support_per_year_in_mad_with_narrow_spaces() -> None:
    root = parse(support_chart({2026: 500_000.0, 2025: 1_500_000.0}))
    assert texts(root) == ["2025", "1\u202f500\u202f000 MAD", "2026", "500\u202f000 MAD"]
    first, second = widths(root)
    assert first == near(3 * second)
    assert "(2\u202f000\u202f000 MAD au total)" in root.findtext(f"{NS}title", "")


def test_hostile_labels_are_text_and_nothing_is_fetched_or_run() -> None:
    hostile = '<script>alert("x")</script>'
    for markup in (kpi_chart([kpi(1, 1, 1, hostile)]),):
        root = parse(markup)  # well-formed: the label did not break out
        assert hostile in texts(root) and "<script" not in str(markup)
        assert not re.search(r"https?:(?!//www\.w3\.org/2000/svg)|href|<script|\bon\w+=", markup)


def test_text_stays_readable_on_a_phone() -> None:
    for markup in (funnel({"received": 1}), kpi_chart([kpi(1, 1)]), support_chart({2025: 1.0})):
        root = parse(markup)
        view_width = float(root.get("viewBox", "").split()[2])
        assert float(root.get("font-size", "")) * PHONE_CARD / view_width >= 12


def test_no_data_is_a_sentence_not_an_empty_chart() -> None:
    for markup, sentence in [
        (funnel({"received": 0}), "Aucune candidature pour cet appel."),
        (kpi_chart([]), "Aucun indicateur pour l'instant"),
        (support_chart({}), "Aucun soutien accordé pour l'instant."),
    ]:
        assert "<svg" not in markup and sentence in Markup(markup).striptags()


def chart_in(page: str) -> ET.Element:
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg, "no chart on the page"
    return parse(svg.group())


@pytest.mark.asyncio(loop_scope="session")
async def test_the_call_cluster_and_clusters_pages_show_their_charts(dev: Service) -> None:
    application_id = await eligible_review_case(dev)
    call_id = (await dev.get(f"/applications/{application_id}")).json()["call_id"]
    cluster_id = await labelled_cluster(dev)
    now = await dev.env.get_current_time()
    terms = {"start_at": now.isoformat(), "planned_amounts": [1e6, 9e5], "kpi_targets": TARGETS}
    assert (await dev.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)).is_success
    browser = await dev.signed_in("t-admin")
    async with contextlib.aclosing(browser):
        pages = [
            (await browser.get(path)).text
            for path in (
                f"/console/appels/{call_id}",
                f"/console/clusters/{cluster_id}",
                "/console/clusters",
            )
        ]
    call, cluster, clusters = (chart_in(page) for page in pages)
    assert call.findtext(f"{NS}title") == "Parcours des candidatures de l'appel (1 enregistrées)"
    assert texts(call)[:4] == ["enregistrées", "1", "examinées", "1"]
    assert cluster.findtext(f"{NS}title", "").startswith("Indicateurs du cluster")
    assert "pas encore de rapport" in texts(cluster) and "Brevets" in texts(cluster)
    assert clusters.findtext(f"{NS}title", "").startswith("Soutien accordé par année")
    assert all("<figcaption" in page for page in pages)
