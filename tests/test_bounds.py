"""Every input is bounded: the attacks of a careless or hostile client, replayed through the API on
both projection databases, get a clear refusal and change nothing."""

import json
import re

import httpx
import pytest

from domain.fields import MAX_MEMBERS
from domain.ids import call_workflow_id
from tests.conftest import APPLICATION, Service, auth
from tests.test_api import open_call
from web.app import app as service_app
from web.guard import MAX_JSON_BYTES

pytestmark = pytest.mark.asyncio(loop_scope="session")


def largest_registration(i: int) -> dict:
    """A registration at every bound: the most members and characters allowed."""
    name = f"{i:04d} " + "é" * 195
    return {
        **APPLICATION,
        "cluster_name": name,
        "legal_form": "a" * 200,
        "members": [
            {"name": f"{m:03d}" + "x" * 197, "type": "company" if m % 2 else "research"}
            for m in range(MAX_MEMBERS)
        ],
        "contact": {"name": "n" * 200, "email": "c" * 180 + "@cluster.ma", "phone": "0" * 40},
    }


async def call_count(service: Service) -> int:
    return (await service.get("/calls", role="admin")).json()["total"]


async def test_every_string_and_list_of_every_input_has_a_bound_in_the_schema() -> None:
    schema = service_app.openapi()
    components = schema["components"]["schemas"]
    bodies = {
        name
        for operations in schema["paths"].values()
        for operation in operations.values()
        for name in re.findall(
            r"#/components/schemas/([\w-]+)", json.dumps(operation.get("requestBody", {}))
        )
    }
    unbounded: list[str] = []

    def walk(node: dict, where: str, seen: set[str]) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                walk(components[name], name, seen | {name})
            return
        for choice in node.get("anyOf", []) + node.get("allOf", []):
            walk(choice, where, seen)
        kind = node.get("type")
        bounded = {
            "maxLength",
            "enum",
            "format",
            "const",
            "contentMediaType",
        }  # a file: the guard's
        if kind == "string" and not bounded & node.keys():
            unbounded.append(where)
        if kind == "array":
            if "maxItems" not in node:
                unbounded.append(where)
            walk(node.get("items", {}), f"{where}[]", seen)
        for field, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{field}", seen)

    assert bodies >= {"ApplicationInput", "ScoreSheet", "ComplementsAsk"}
    for name in bodies:
        walk(components[name], name, {name})
    assert unbounded == []


async def test_a_body_past_the_limit_is_refused_while_it_streams_in(dev_both: Service) -> None:
    before = await call_count(dev_both)
    sent: list[int] = []

    async def chunks():  # 64 KiB at a time, well past the limit in all
        for _ in range(4 * MAX_JSON_BYTES // 65536):
            sent.append(1)
            yield b" " * 65536

    headers = {**auth("admin"), "Content-Type": "application/json"}
    answer = await dev_both.http.post("/calls", content=chunks(), headers=headers)
    assert answer.status_code == 413 and "volumineux" in answer.json()["detail"]
    assert len(sent) < 4 * MAX_JSON_BYTES // 65536  # refused before the end was read
    declared = await dev_both.http.post(
        "/calls", content=b"{}", headers={**headers, "Content-Length": str(10 * MAX_JSON_BYTES)}
    )
    assert declared.status_code == 413
    assert await call_count(dev_both) == before


async def test_no_body_is_read_before_the_caller_is_known(dev_both: Service) -> None:
    read: list[int] = []

    async def chunks():
        read.append(1)
        yield b"{ not even json"

    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await dev_both.http.post(
            "/calls",
            content=chunks(),
            headers={**headers, "Content-Type": "application/json", "Content-Length": "15"},
        )
        assert answer.status_code == 401 and answer.json()["detail"].startswith("Jeton")
    assert read == []


@pytest.mark.parametrize(
    "body",
    [
        '{"reason": NaN}',
        '{"reason": Infinity}',
        '{"reason": -Infinity}',
        '{"reason": "\\ud800"}',
        b'{"reason": "\xff\xfe"}',
    ],
    ids=["nan", "infinity", "minus-infinity", "lone-surrogate", "not-utf8"],
)
async def test_strict_json_or_a_clear_422(dev_both: Service, body: str | bytes) -> None:
    call_id = await open_call(dev_both)
    registered = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    targets = [
        (f"/applications/{application_id}/withdraw", "operator"),
        (f"/calls/{call_id}/extend_deadline", "admin"),
        ("/calls", "admin"),
        (f"/calls/{call_id}/applications", "operator"),
    ]
    for path, role in targets:
        answer = await dev_both.http.post(
            path, content=body, headers={**auth(role), "Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (path, answer.text)
        assert isinstance(answer.json()["detail"], str)
    case = (await dev_both.get(f"/applications/{application_id}")).json()
    assert case["stage"] == "received" and len(case["audit"]) == 1  # registered, nothing more


async def test_a_refusal_quotes_a_short_excerpt_of_the_input(dev_both: Service) -> None:
    huge = "x" * 500_000
    answer = await dev_both.post("/calls", role="admin", json={"title": huge, "year": huge})
    assert answer.status_code == 422
    assert len(answer.content) < 4_000
    assert any(e.get("input", "").startswith("xxx") for e in answer.json()["detail"])


async def test_the_largest_valid_registration_and_a_call_s_500th(dev_both: Service) -> None:
    """Past Temporal's payload and history limits, a call's workflow would be terminated and
    every later registration refused: at every bound, 500 registrations leave it open."""
    call_id = await open_call(dev_both)
    largest = largest_registration(0)
    assert len(json.dumps(largest).encode()) < MAX_JSON_BYTES
    too_many = {**largest, "members": largest["members"] * 2}
    refused = await dev_both.post(f"/calls/{call_id}/applications", json=too_many)
    assert refused.status_code == 422

    async def register(i: int) -> httpx.Response:
        return await dev_both.post(f"/calls/{call_id}/applications", json=largest_registration(i))

    statuses = [(await register(i)).status_code for i in range(500)]
    assert statuses == [201] * 500
    call = (await dev_both.get(f"/calls/{call_id}")).json()
    assert call["stage"] == "open" and call["counts"] == {"received": 500}
    handle = dev_both.client.get_workflow_handle(call_workflow_id(call_id))
    description = await handle.describe()
    assert description.status is not None and description.status.name == "RUNNING"
    assert (await register(500)).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cluster_name": "Cluster\r\nBcc: tous@exemple.ma"}, "cluster_name"),
        ({"members": [{"name": "Entreprise\nCachée", "type": "company"}]}, "name"),
        ({"contact": {"name": "Contact", "email": "a@b.ma,root"}}, "email"),
        ({"contact": {"name": "Contact", "email": "Amina <a@b.ma>"}}, "email"),
        ({"contact": {"name": "Contact", "email": "liste: a@b.ma, c@d.ma;"}}, "email"),
    ],
    ids=["name-crlf", "member-lf", "two-recipients", "display-name", "group"],
)
async def test_a_name_is_one_line_and_a_contact_one_plain_address(
    dev_both: Service, change: dict, field: str
) -> None:
    """A line break in a name could never become a notice's header (its notices would wait
    forever); two addresses would give the relay two recipients: both refused, nothing made."""
    call_id = await open_call(dev_both)
    registered = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    refused = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION | change)
    assert refused.status_code == 422, refused.text
    assert field in {str(error["loc"][-1]) for error in refused.json()["detail"]}
    amended = await dev_both.post(f"/applications/{application_id}/amend", json=change)
    assert amended.status_code == 422, amended.text
    listed = (await dev_both.get("/applications", params={"call_id": call_id})).json()
    assert listed["total"] == 1 and listed["items"][0]["data"] == registered.json()["data"]
