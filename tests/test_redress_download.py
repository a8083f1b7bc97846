"""The redress dossier downloaded (#27), on the time-skipping server, on SQLite and PostgreSQL: a
rejected file's result published, its review requested, the dossier the clock built served by
the API and by the console (the case page links it), the same bytes storage keeps under the
SHA-256 the case holds; it names the call and each evaluator's marks. Not before it is built
(a French 404), never to an evaluator (it names them and holds their comments)."""

import contextlib
import hashlib
import html
import re
from datetime import timedelta

import pytest
from sqlmodel import Session

from domain.models import DEFAULT_GRID
from projection.queries import application_state
from projection.tables import ApplicationRow
from tests.conftest import Service, eventually
from tests.test_authorization import console_message
from tests.test_evaluation import DRISS, EVE, NADIA, NAMES, eligible_applications, ok, score
from tests.test_result_letters import pdf_text

pytestmark = pytest.mark.asyncio(loop_scope="session")
CLUSTER = "Cluster Textile du Détroit"
MARKS = {EVE: 2.0, DRISS: 1.5, NADIA: 2.5}  # each evaluator's mark on every criterion
NOT_YET = "Le dossier de recours n'est pas encore constitué."


async def rejected_and_published(service: Service) -> tuple[str, str]:
    """A file marked below the thresholds by three evaluators, rejected by the committee, its
    result published and announced (the redress window counted): the call and the case."""
    call_id, (case,) = await eligible_applications(service, [CLUSTER])
    panel = {"evaluators": [NAMES[r] for r in MARKS]}
    await ok(await service.post(f"/applications/{case}/assign_evaluators", "admin", panel))
    await score(service, case, {role: (mark,) * 5 for role, mark in MARKS.items()})
    reason = {"reason": "Seuils non atteints sur l'innovation collaborative."}
    await ok(await service.post(f"/applications/{case}/reject", "committee", reason), "rejected")
    await ok(await service.post(f"/calls/{call_id}/publish_results", role="committee"))
    await service.env.sleep(timedelta(minutes=1))

    async def announced() -> bool:
        redress = (await service.get(f"/applications/{case}")).json()["redress"]
        return bool(redress and redress["due_at"])

    await eventually(announced, what="the rejection announced")
    return call_id, case


async def test_the_redress_dossier_is_downloaded_by_the_programme_and_the_committee(
    skipping: Service,
) -> None:
    service = skipping
    call_id, case = await rejected_and_published(service)
    url = f"/applications/{case}/redress-dossier.pdf"
    link = f"/console/candidatures/{case}/dossier-de-recours.pdf"
    page = f"/console/candidatures/{case}"
    browser = await service.signed_in("t-committee")
    async with contextlib.aclosing(browser):
        # No request yet: nothing to download, nothing linked.
        seen = (await service.get(f"/applications/{case}")).json()
        assert seen["redress"]["dossier_url"] is None
        early = await service.get(url, role="committee")
        assert early.status_code == 404 and early.json()["detail"] == NOT_YET
        refused = await browser.get(link)
        assert refused.status_code == 303 and refused.headers["location"] == page
        assert console_message(refused) == {"kind": "erreur", "lines": [NOT_YET]}
        assert link not in (await browser.get(page)).text

        # The review requested; the clock builds the dossier.
        grounds = {"reason": "Les notes ignorent l'annexe des partenariats."}
        await ok(await service.post(f"/applications/{case}/request_review", json=grounds))

        async def compiled() -> bool:
            audit = (await service.get(f"/applications/{case}")).json()["audit"]
            return audit[-1]["action"] == "compile_redress_dossier"

        await eventually(compiled, what="the redress dossier")
        with Session(service.engine) as db:
            redress = application_state(db.get(ApplicationRow, case)).redress
        assert redress is not None and redress.dossier is not None
        kept = service.storage.content(redress.dossier)

        # The API: the case names it for its readers, and serves the bytes storage keeps.
        for role in ("admin", "committee"):
            view = (await service.get(f"/applications/{case}", role=role)).json()
            assert view["redress"]["dossier_url"] == url
            served = await service.get(url, role=role)
            assert served.status_code == 200, served.text
            assert served.headers["content-type"] == "application/pdf"
            assert served.content == kept
        assert hashlib.sha256(served.content).hexdigest() == redress.dossier

        # The console: the case page links it, the link serves the same bytes.
        shown = (await browser.get(page)).text
        names = re.findall(rf'<a href="{re.escape(link)}">([^<]*)</a>', shown)
        assert [html.unescape(n) for n in names] == [
            "Dossier de recours",
            "dossier de recours (PDF)",
        ]
        downloaded = await browser.get(link)
        assert downloaded.status_code == 200 and downloaded.content == kept

        # What it says: the call, the file, each evaluator's marks and comments.
        text = pdf_text(kept)
        title = (await service.get(f"/calls/{call_id}")).json()["spec"]["title"]
        assert f"Dossier de recours — {CLUSTER} (réf. {case})" in text
        assert f"Appel « {title} »" in text
        for role, mark in MARKS.items():
            marked = f"{mark:.2f}".replace(".", ",")
            assert f"{NAMES[role]} — note pondérée {marked}" in text
            criterion = DEFAULT_GRID.criteria[0].label
            assert f"{criterion} {marked} Appréciation sur {criterion}" in text

        # Never to an operator, who reads no evaluator's comment anywhere else.
        assert (await service.get(url, role="operator")).status_code == 403
        view = (await service.get(f"/applications/{case}", role="operator")).json()
        assert view["redress"]["dossier_url"] is None

        # Never to an evaluator, though she marked the file and reads its page.
        view = (await service.get(f"/applications/{case}", role=EVE)).json()
        assert view["redress"]["dossier_url"] is None
        denied = await service.get(url, role=EVE)
        assert denied.status_code == 403, denied.text
        assert denied.json()["detail"] == (
            "Le dossier de recours est réservé à la gestion du programme et au comité."
        )
        eve = await service.signed_in("t-evaluator")
        async with contextlib.aclosing(eve):
            assert link not in (await eve.get(page)).text
            turned_away = await eve.get(link)
            assert turned_away.status_code == 303
            assert console_message(turned_away) == {
                "kind": "erreur",
                "lines": [denied.json()["detail"]],
            }
