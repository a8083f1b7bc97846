"""The deadline's second: a deposit completed before it is untouched by the call's closing; a
deposit begun before (its files uploaded) and completed after is refused with the moment it
arrived, in the person's language, and nothing is registered. The test's time-skipping server
starts at the wall clock, which the portal reads."""

import asyncio
import html
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from domain.models import DEFAULT_DOCUMENTS
from portal.i18n import Texts
from projection.tables import ApplicationRow
from tests.conftest import PDF_BYTES, Service
from tests.test_portal import address, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="session")
FORM = {
    "cluster_name": "Cluster de l'Oriental",
    "sector": "Agroalimentaire",
    "existing_cluster": "non",
    "member_name": ["Coopérative Oujda"],
    "member_type": ["company"],
}


def seconds(start: datetime, end: datetime) -> list[datetime]:
    """Every whole second from `start` to `end`: when a request arrived, to the second."""
    first = start.replace(microsecond=0)
    return [first + timedelta(seconds=n) for n in range(int((end - first).total_seconds()) + 1)]


async def ready_dossier(service: Service, call_id: str, who: str, language: str):
    """A signed-in person whose association's dossier is complete, not deposited."""
    browser = await signed_in(service, address(who), who.capitalize(), language)
    made = await browser.post("/portail/associations", data={"name": f"Association {who}"})
    dossier = f"{made.headers['location']}/appels/{call_id}"
    assert (
        await browser.post(dossier, data={**FORM, "cluster_name": f"Cluster {who}"})
    ).status_code == 303
    for n, kind in enumerate(DEFAULT_DOCUMENTS):
        sent = await browser.post(
            f"{dossier}/fichiers",
            data={"kind": kind},
            files={"file": (f"{n}.pdf", PDF_BYTES, "application/pdf")},
            headers={"Accept": "application/json"},
        )
        assert sent.status_code == 201, sent.text
    return browser, dossier


async def test_a_deposit_after_the_deadline_s_second_is_refused_with_its_time(
    skipping: Service,
) -> None:
    now = datetime.now(UTC)
    deadline = now.replace(microsecond=0) + timedelta(seconds=12)
    call_id = await skipping.new_call(opens_at=now - timedelta(days=1), deadline=deadline)
    assert (await skipping.post(f"/calls/{call_id}/publish", role="admin")).status_code == 200
    early, early_dossier = await ready_dossier(skipping, call_id, "amal", "fr")
    late, late_dossier = await ready_dossier(skipping, call_id, "badr", "ar")
    async with aclosing(early), aclosing(late):
        in_time = await early.post(f"{early_dossier}/deposer")
        assert in_time.status_code == 303 and "/dossiers/" in in_time.headers["location"]

        await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1)
        before = datetime.now(UTC)
        refused = await late.post(f"{late_dossier}/deposer")
        after = datetime.now(UTC)
        assert refused.status_code == 303 and refused.headers["location"] == late_dossier
        shown = (await late.get(late_dossier)).text
        arabic = Texts("ar")
        assert 'dir="rtl"' in shown and arabic.datetime(deadline, seconds=True) in shown
        assert any(
            arabic.datetime(moment, seconds=True) in shown for moment in seconds(before, after)
        )

        assert (await late.post("/portail/langue", data={"langue": "fr"})).status_code == 303
        before = datetime.now(UTC)
        await late.post(f"{late_dossier}/deposer")
        after = datetime.now(UTC)
        shown = html.unescape((await late.get(late_dossier)).text)
        french = Texts("fr")
        assert "après la clôture de l'appel" in shown
        assert any(
            french.datetime(moment, seconds=True) in shown for moment in seconds(before, after)
        )
        assert "Déposer mon dossier" not in shown  # the call is closed: no more deposit button

    with Session(skipping.engine) as db:
        names = set(db.exec(select(ApplicationRow.cluster_name)).all())
    assert "Cluster amal" in names and "Cluster badr" not in names
