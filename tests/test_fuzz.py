"""Schemathesis against the OpenAPI schema: whatever a client sends, the service never answers 5xx.

Schemathesis and Hypothesis only generate the requests; they are sent through the test service's
own httpx client (real worker, real dev server), on the session's event loop. Hypothesis runs
synchronously in a worker thread and hands each request over to that loop.
"""

import asyncio
import copy
from collections.abc import Iterator

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, Phase, example, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from schemathesis import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation

from tests.conftest import APPLICATION, Service, auth
from tests.test_api import open_call
from web.app import app as service_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHEMA = schemathesis.openapi.from_dict(service_app.openapi())
OPERATIONS: list[APIOperation] = [result.ok() for result in SCHEMA.get_all_operations()]
ROLES = ("admin", "operator", "evaluator", "committee")
MAX_EXAMPLES = 25  # per operation and database, after the explicit cases below
REQUEST_TIMEOUT = 10.0  # seconds; every request answers in well under one
BASE_URL = "http://api"
MADE_UP_IDS = {"call": "2026-0000deadbeef", "application": "0000deadbeef"}
# Values random generation seldom reaches, planted into generated requests: a NUL character
# (PostgreSQL refuses it in text) and times at the ends of the calendar (UTC/Rabat overflow).
NASTY = ("a\x00b", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(dev_both: Service) -> Service:
    """One worker and API for every operation (their start would otherwise dominate the run), on
    each projection database: PostgreSQL refuses some strings SQLite takes (NUL characters)."""
    return dev_both


async def live_case(service: Service) -> dict[str, str]:
    """An open call and one application in it, so that requests also reach live workflows.

    A fresh pair for each operation: a request that wedges a case must not fail the next ones."""
    call_id = await open_call(service, title="Appel à projets fuzzé")
    registered = await service.post(f"/calls/{call_id}/applications", json=APPLICATION)
    assert registered.status_code == 201, registered.text
    return {"call": call_id, "application": registered.json()["id"]}


def path_ids(operation: APIOperation, ids: dict[str, str]) -> dict[str, str]:
    """The operation's path parameters filled with the real call or application id."""
    case = ids["call"] if operation.path.startswith("/calls/") else ids["application"]
    known = {
        "call_id": ids["call"],
        "application_id": ids["application"],
        "case_id": case,
        "document_id": "0" * 32,  # none deposited: a 404, never a 5xx
        "sha256": "0" * 64,  # no letter sent: a 404 too
    }
    names = [p.name for p in operation.path_parameters]
    return {name: known[name] for name in names}


def strategy(operation: APIOperation, ids: dict[str, str]) -> st.SearchStrategy[Case]:
    """Valid and invalid requests on made-up ids, and valid ones on the live call and application."""
    options = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    if operation.path_parameters:
        options.append(
            operation.as_strategy(
                generation_mode=GenerationMode.POSITIVE, path_parameters=path_ids(operation, ids)
            )
        )
    return st.one_of(options)


def explicit_cases(operation: APIOperation, ids: dict[str, str]) -> list[Case]:
    """Each NASTY value in each string of a simple valid request, and NUL in each query parameter:
    random generation seldom pairs a valid body (on a live case) with one of these values."""
    path_parameters = path_ids(operation, ids)
    cases = [
        operation.Case(path_parameters=path_parameters, query={parameter.name: NASTY[0]})
        for parameter in operation.query
    ]
    if not operation.body:
        return cases
    valid = operation.as_strategy(
        generation_mode=GenerationMode.POSITIVE, path_parameters=path_parameters
    )
    # Hypothesis tries the simplest values first: the first fitting one is simple, unshrunk.
    quick = settings(database=None, derandomize=True, phases=[Phase.generate], max_examples=20)
    try:
        simple = find(valid, lambda case: any(string_slots(case.body)), settings=quick)
    except NoSuchExample:
        return cases
    for value in NASTY:  # NUL first: a request that succeeds may move the live case on
        for spot in range(len([*string_slots(simple.body)])):
            # No headers copied: a repeated Idempotency-Key would replay the first answer.
            case = operation.Case(
                path_parameters=path_parameters,
                body=copy.deepcopy(simple.body),
                media_type=simple.media_type,
            )
            plant(case, value, spot)
            cases.append(case)
    return cases


def string_slots(value: object) -> Iterator[tuple[dict | list, str | int]]:
    """Where strings sit in a query or JSON body: (container, key) pairs, depth first."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return
    for key, item in items:
        if isinstance(item, str):
            yield value, key
        else:
            yield from string_slots(item)


def plant(case: Case, value: str | None, spot: int) -> None:
    """Put `value` in place of one string of the case's query or body (the spot-th, cyclically)."""
    slots = [*string_slots(case.query), *string_slots(case.body)]
    if value is not None and slots:
        container, key = slots[spot % len(slots)]
        container[key] = value  # type: ignore[index]


def build(http: httpx.AsyncClient, case: Case, role: str) -> httpx.Request | None:
    """The httpx request for a case, or None when httpx itself cannot encode it (not the API's
    concern: e.g. a header value outside ASCII)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth(role))
    kwargs.pop("cookies", None)  # the API reads none; httpx deprecates per-request cookies
    if "data" in kwargs:  # requests' name for a raw body
        kwargs["content"] = kwargs.pop("data")
    try:
        return http.build_request(**kwargs)
    except (UnicodeEncodeError, httpx.InvalidURL, ValueError):
        return None


def describe(request: httpx.Request) -> str:
    body = request.content.decode(errors="replace")[:2000]
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    return f"{request.method} {request.url}\nheaders: {headers}\nbody: {body}"


async def roles_past_the_role_check(http: httpx.AsyncClient, operation: APIOperation) -> list[str]:
    """Roles whose requests reach the handler: a route refuses the others before the payload.

    Probed on made-up ids (a body-less action on a live case would take it); if the refusal's
    wording changes, every role counts as let through, which only makes the run longer."""
    path = operation.path.format(**path_ids(operation, MADE_UP_IDS))
    passed = []
    for role in ROLES:
        response = await http.request(
            operation.method.upper(), path, headers=auth(role), content=b"", timeout=None
        )
        if response.status_code != 403 or "n'a pas accès" not in response.text:
            passed.append(role)
    return passed or ["admin"]  # public routes and the like


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
async def test_no_server_error(service: Service, operation: APIOperation) -> None:
    loop = asyncio.get_running_loop()
    http = service.http
    ids = await live_case(service) if operation.path_parameters else MADE_UP_IDS
    # Fuzz as each role the route lets through, so the handler's own code is what gets exercised.
    roles = await roles_past_the_role_check(http, operation)

    async def send(request: httpx.Request) -> httpx.Response:
        # Not wait_for: the app turns the cancellation into a 503, which would hide the hang.
        task = asyncio.create_task(http.send(request))
        done, _ = await asyncio.wait({task}, timeout=REQUEST_TIMEOUT)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            raise TimeoutError
        return task.result()

    @given(
        case=strategy(operation, ids),
        role=st.sampled_from(roles),
        nasty=st.sampled_from((None, *NASTY)),
        spot=st.integers(0, 30),
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # No shrinking, first failure only: a failing request may take REQUEST_TIMEOUT, and the
        # assertion prints the exact request anyway.
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case, role: str, nasty: str | None, spot: int) -> None:
        plant(case, nasty, spot)
        request = build(http, case, role)
        if request is None:
            return
        try:
            response = asyncio.run_coroutine_threadsafe(send(request), loop).result()
        except TimeoutError:
            message = f"no answer within {REQUEST_TIMEOUT:.0f} s as {role}:\n{describe(request)}"
            raise AssertionError(message) from None
        except Exception as error:  # the ASGI transport re-raises what the app did not handle
            message = f"unhandled {type(error).__name__} as {role}:\n{describe(request)}"
            raise AssertionError(message) from error
        assert response.status_code < 500, (
            f"{response.status_code} as {role}:\n{describe(request)}\nanswer: {response.text}"
        )

    for case in reversed(explicit_cases(operation, ids)):  # the last one added runs first
        fuzz = example(case=case, role=roles[0], nasty=None, spot=0)(fuzz)
    await asyncio.to_thread(fuzz)
