"""A draft call revised whole: PUT /calls/{id} in the API, and the console's spec form (the same
form as a new call's) until the call is published; every deadline of a call is a day, 15:00
Rabat time."""

import contextlib
from datetime import datetime, time, timedelta
from html.parser import HTMLParser

import pytest

from domain.clock import local
from domain.models import DEFAULT_DOCUMENTS, DEFAULT_GRID
from domain.stages import STAGE_LABELS_FR
from tests.conftest import Service, auth, utcnow
from tests.test_api import call_body
from tests.test_authorization import console_message

pytestmark = pytest.mark.asyncio(loop_scope="session")

GRID = {
    "criteria": [
        {"code": "impact", "label": "Impact régional", "weight": 60, "threshold": 3},
        {"code": "budget", "label": "Budget et pérennité", "weight": 40, "threshold": 2},
    ],
    "overall_threshold": 2.5,
}


def day(days: int) -> str:
    """A day `days` from now, in Rabat, as a date input sends it."""
    return local(utcnow() + timedelta(days=days)).date().isoformat()


def at_rabat(moment: str) -> tuple[str, time]:
    shown = local(datetime.fromisoformat(moment))
    return shown.date().isoformat(), shown.time()


class FormReader(HTMLParser):
    """What a browser would send from one form of a page, as the page fills it."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[a["name"]] = a.get("value") or ("on" if "checked" in a else "")
        elif self.inside and tag == "textarea":
            self.textarea = a["name"]
            self.fields[self.textarea] = ""

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.inside = False


def form_of(html: str, form_id: str) -> dict[str, str]:
    reader = FormReader(form_id)
    reader.feed(html)
    assert reader.fields, f"no form {form_id} on the page"
    return reader.fields


async def test_a_draft_is_revised_whole_through_the_api_until_published(dev: Service) -> None:
    created = await dev.post("/calls", role="admin", json=call_body())
    call_id = created.json()["id"]
    path = f"/calls/{call_id}"
    deadline = day(40)
    body = call_body(
        title="Appel à projets clusters 2026 — révisé",
        deadline=deadline,  # a day: 15:00 Rabat time
        required_documents=["statuts de l'association", "budget prévisionnel signé"],
        grid=GRID,
        redress_days=20,
    )
    revised = await dev.http.put(path, json=body, headers=auth("admin"))
    assert revised.status_code == 200, revised.text
    seen = (await dev.get(path)).json()
    assert seen["stage"] == "draft"
    assert seen["spec"]["title"] == "Appel à projets clusters 2026 — révisé"
    assert seen["spec"]["grid"] == GRID and seen["spec"]["redress_days"] == 20
    assert seen["spec"]["required_documents"] == body["required_documents"]
    assert at_rabat(seen["spec"]["deadline"]) == (deadline, time(15))
    assert seen["audit"][-1]["action"] == "revise_call"

    operator = await dev.http.put(path, json=body, headers=auth("operator"))
    assert operator.status_code == 403
    invalid = await dev.http.put(
        path, json=body | {"grid": {"criteria": []}}, headers=auth("admin")
    )
    assert invalid.status_code == 422
    late = body | {"deadline": body["opens_at"]}  # the deadline must follow the opening
    assert (await dev.http.put(path, json=late, headers=auth("admin"))).status_code == 422
    assert (await dev.get(path)).json()["spec"]["grid"] == GRID  # nothing changed

    assert (await dev.post(f"{path}/publish", role="admin")).status_code == 200
    refused = await dev.http.put(path, json=body | {"title": "Trop tard"}, headers=auth("admin"))
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"Action « Modifier l'appel » impossible à l'étape « {STAGE_LABELS_FR[refused.json()['stage']]} »."
    )  # scheduled, or open already: it opens now
    assert (await dev.get(path)).json()["spec"]["title"] == body["title"]


async def test_the_console_creates_edits_and_publishes_a_draft(dev: Service) -> None:
    admin, operator = await dev.signed_in("t-admin"), await dev.signed_in("t-operator")
    async with contextlib.aclosing(admin), contextlib.aclosing(operator):
        # A new call: the whole spec, its grid and documents prefilled with the defaults.
        new = form_of((await admin.get("/console/appels")).text, "form-call")
        assert new["criterion-0-label"] == DEFAULT_GRID.criteria[0].label
        assert new["required_documents"].splitlines() == DEFAULT_DOCUMENTS
        opens_at = local(utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        new |= {"title": "Appel 2027 — brouillon", "opens_at": opens_at, "deadline": day(30)}
        created = await admin.post("/console/appels", data=new)
        assert created.status_code == 303, created.text
        here = created.headers["location"]
        call_id = here.rsplit("/", 1)[1]

        # The draft's page holds the same form, filled with its spec.
        draft = (await admin.get(here)).text
        fields = form_of(draft, "form-revise_call")
        assert fields["title"] == "Appel 2027 — brouillon" and fields["deadline"] == day(30)
        assert fields["criterion-1-threshold"] == "2,5" and fields["opens_at"] == opens_at
        assert "form-revise_call" not in (await operator.get(here)).text  # admins only

        # Refused: back as typed, the error beside the criterion's threshold.
        fields |= {"title": "Appel 2027 — révisé", "criterion-1-threshold": "7"}
        refused = await admin.post(f"{here}/modifier", data=fields)
        assert refused.status_code == 422
        assert 'value="Appel 2027 — révisé"' in refused.text
        assert (
            'id="criterion-1-threshold-erreur">Critère 2 › seuil : doit être inférieur ou égal à 5'
        ) in refused.text
        # Corrected from the refused page: a threshold, a document, a criterion out, one in.
        fields = form_of(refused.text, "form-revise_call")
        documents = fields["required_documents"].replace(
            "budget prévisionnel", "budget prévisionnel signé"
        )
        fields |= {
            "criterion-1-threshold": "3,5",
            "required_documents": documents,
            "criterion-4-remove": "on",
            "criterion-5-label": "Impact régional",
            "criterion-5-weight": "15",
            "criterion-5-threshold": "2",
        }
        revised = await admin.post(f"{here}/modifier", data=fields)
        assert revised.status_code == 303, revised.text
        assert console_message(revised)["kind"] == "succes"
        spec = (await dev.get(f"/calls/{call_id}")).json()["spec"]
        assert spec["title"] == "Appel 2027 — révisé"
        assert spec["grid"]["criteria"][1]["threshold"] == 3.5
        assert [c["code"] for c in spec["grid"]["criteria"]][-2:] == [
            "ecosystem",
            "impact_regional",
        ]
        assert "budget prévisionnel signé" in spec["required_documents"]
        assert at_rabat(spec["deadline"]) == (day(30), time(15))
        page = (await admin.get(here)).text
        assert "<td>Impact régional</td><td>15,00</td><td>2,00</td>" in page

        # Published: the form is gone; a revision sent anyway is refused by the workflow.
        published = await admin.post(f"{here}/actions/publish", data={"cle": f"p-{call_id}"})
        assert published.status_code == 303
        page = (await admin.get(here)).text
        assert "form-revise_call" not in page
        late = await admin.post(f"{here}/modifier", data=fields | {"cle": f"late-{call_id}"})
        assert late.status_code == 409 and "Modifier l&#39;appel" in late.text
        assert (await dev.get(f"/calls/{call_id}")).json()["spec"]["title"] == spec["title"]

        # The extension takes a day too, said the same way: 15:00 Rabat time.
        extension = form_of(page, "form-extend_deadline")
        assert extension["deadline"] == day(30)
        assert '<input type="date" id="extend_deadline-deadline"' in page
        assert "Nouvelle date limite (15h00, heure de Rabat) *" in page
        extended = await admin.post(
            f"{here}/actions/extend_deadline",
            data=extension | {"deadline": day(45), "reason": "Demande des fédérations"},
        )
        assert extended.status_code == 303, extended.text
        spec = (await dev.get(f"/calls/{call_id}")).json()["spec"]
        assert at_rabat(spec["deadline"]) == (day(45), time(15))
