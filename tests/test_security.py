"""What an attacker can send, refused and changing nothing, on SQLite and PostgreSQL: guessing
tokens (console sign-in and API), a stranger's large body, a forged form key, control characters
in an address; and what the proxy in front must make true (a `Secure` cookie), with the compose
file's and the image's own uvicorn options. Revoking one token ends the sessions it opened."""

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from projection.database import alembic_config, migrate
from projection.tables import TokenRow, UserRow
from tests.conftest import APPLICATION, CONSOLE_ORIGIN, PDF_BYTES, Service, auth, secret
from tests.test_api import call_body, open_call
from tests.test_compose import PROXY_DEFAULT, api_command, image_command
from tests.test_embedded import free_port
from web import users
from web.attempts import BEARER, SIGN_IN, SIGN_IN_ALL, Attempts, Bucket
from web.guard import OPEN_FORM_BYTES

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parent.parent
USERS = "/console/utilisateurs"
WRONG = "x" * 43  # as long as a real token, and nobody's


def fresh(service: Service) -> httpx.ASGITransport:
    """The service's app with its counts of wrong attempts forgotten (the module shares one)."""
    transport = service.http._transport
    assert isinstance(transport, httpx.ASGITransport)
    transport.app.state.attempts = Attempts()
    return transport


def from_address(service: Service, address: str, **headers: str) -> httpx.AsyncClient:
    """A client of the service connecting from `address` (a browser there, or a script)."""
    app = service.http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={**CONSOLE_ORIGIN, **headers}
    )


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"select count(*) from {table}")).scalar_one()


def retry_after(answer: httpx.Response) -> int:
    seconds = int(answer.headers["retry-after"])
    assert seconds > 0 and f"Réessayez dans {seconds} s" in answer.text, answer.text
    return seconds


# --- guessing ------------------------------------------------------------------------------


async def test_a_budget_answers_a_burst_then_one_attempt_at_a_time() -> None:
    now = [0.0]
    bucket = Bucket(SIGN_IN, clock=lambda: now[0])
    for _ in range(SIGN_IN.burst):
        assert bucket.wait("a") == 0
        bucket.failed("a")
    assert bucket.wait("a") == SIGN_IN.every and bucket.wait("b") == 0  # others unaffected
    now[0] += SIGN_IN.every - 1
    assert bucket.wait("a") == 1  # slowed: one more after `every` seconds, not a new burst
    now[0] += 1
    assert bucket.wait("a") == 0
    bucket.failed("a")
    assert bucket.wait("a") == SIGN_IN.every
    now[0] += SIGN_IN.burst * SIGN_IN.every
    assert bucket.wait("a") == 0 and bucket.level("a") == 0  # all forgotten in time


async def test_guessing_sign_ins_is_refused_and_opens_nothing(dev_both: Service) -> None:
    """200 wrong sign-ins from one address in well under a second: a few answered, the rest
    refused (429, in French, with Retry-After) before the token is even looked up, so a right
    token from there is refused as well; the same person elsewhere signs in."""
    fresh(dev_both)
    sessions = count(dev_both.engine, "console_sessions")
    async with from_address(dev_both, "198.51.100.7") as attacker:

        async def guess(token: str) -> httpx.Response:
            return await attacker.post("/console/connexion", data={"jeton": token})

        answers = await asyncio.gather(*(guess(f"{WRONG[:-3]}{i:03d}") for i in range(200)))
        codes = [answer.status_code for answer in answers]
        assert codes.count(303) == SIGN_IN.burst and codes.count(429) == 200 - SIGN_IN.burst
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert "Trop de tentatives de connexion" in refused.text
        assert retry_after(refused) <= SIGN_IN.every
        assert "console_session" not in refused.cookies
        right = await guess(secret("t-operator"))
        assert right.status_code == 429 and "console_session" not in right.cookies
    assert count(dev_both.engine, "console_sessions") == sessions  # nothing opened
    async with aclosing(await dev_both.signed_in("t-operator")) as elsewhere:
        assert (await elsewhere.get("/console/")).status_code == 200


async def test_a_scan_from_many_addresses_is_slowed_without_locking_staff_out(
    dev_both: Service,
) -> None:
    """The sign-in form names no account (a token is tried against all of them): past
    SIGN_IN_ALL's budget of wrong sign-ins from everywhere, an address that failed once waits
    before its next attempt, while a person who has not failed signs in at once."""
    fresh(dev_both)
    clients = [from_address(dev_both, f"203.0.113.{i}") for i in range(SIGN_IN_ALL.burst + 5)]
    try:
        for client in clients:  # one wrong guess each: answered
            first = await client.post("/console/connexion", data={"jeton": WRONG})
            assert first.status_code == 303
        again = await clients[0].post("/console/connexion", data={"jeton": WRONG})
        assert again.status_code == 429 and retry_after(again) <= SIGN_IN.every
        right = await clients[1].post("/console/connexion", data={"jeton": secret("t-admin")})
        assert right.status_code == 429  # not looked up: a scanner learns nothing
    finally:
        for client in clients:
            await client.aclose()
    async with aclosing(await dev_both.signed_in("t-admin")) as admin:  # another address
        assert (await admin.get(USERS)).status_code == 200


async def test_guessing_api_tokens_is_refused_and_changes_nothing(dev_both: Service) -> None:
    """200 wrong bearer tokens from one address, on reads (GET) and writes (POST, refused by the
    guard before the body is read): a budget of 401s, then 429s; no call is created, and a
    right token from another address is taken."""
    fresh(dev_both)
    before = (await dev_both.get("/calls", role="admin")).json()["total"]
    async with from_address(dev_both, "192.0.2.66") as script:

        async def guess(i: int) -> httpx.Response:
            headers = {"Authorization": f"Bearer {WRONG[:-3]}{i:03d}"}
            if i % 2:
                return await script.get("/calls", headers=headers)
            return await script.post("/calls", json=call_body(), headers=headers)

        answers = [await guess(i) for i in range(200)]
        codes = [answer.status_code for answer in answers]
        assert codes[: BEARER.burst] == [401] * BEARER.burst
        assert codes[BEARER.burst :] == [429] * (200 - BEARER.burst)
        for refused in answers[-2:]:  # a read and a write
            assert "Trop de jetons d'API inconnus" in refused.json()["detail"]
            assert retry_after(refused) <= BEARER.every
        mine = await script.get("/calls", headers=auth("admin"))
        assert mine.status_code == 429  # refused before its token is looked up
    assert (await dev_both.get("/calls", role="admin")).json()["total"] == before
    created = await dev_both.post("/calls", role="admin", json=call_body())
    assert created.status_code == 201  # another address: taken


# --- a stranger's body -----------------------------------------------------------------------


async def test_the_sign_in_form_reads_no_large_body(dev_both: Service) -> None:
    """60 MiB sent to the sign-in form, announced or streamed, as a file or a form: refused
    (413, in French) having read at most OPEN_FORM_BYTES and a chunk; no session opened. The
    same for any console form posted without a session cookie."""
    fresh(dev_both)
    sessions = count(dev_both.engine, "console_sessions")
    chunk, total = 64 * 1024, 60 * 1024 * 1024
    read = [0]

    async def body() -> AsyncIterator[bytes]:
        boundary = b'--b\r\nContent-Disposition: form-data; name="jeton"\r\n\r\n'
        read[0] += len(boundary)
        yield boundary
        while read[0] < total:
            read[0] += chunk
            yield b"a" * chunk

    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    async with from_address(dev_both, "198.51.100.99") as stranger:
        for announced in (True, False):
            read[0] = 0
            headers = multipart | ({"Content-Length": str(total)} if announced else {})
            answer = await stranger.post("/console/connexion", content=body(), headers=headers)
            assert answer.status_code == 413, answer.text
            assert "Envoi trop volumineux" in answer.text and "au plus 4 Kio" in answer.text
            assert read[0] <= (0 if announced else OPEN_FORM_BYTES) + chunk + 100
        large_form = {"jeton": "x" * (OPEN_FORM_BYTES + 1)}
        assert (await stranger.post("/console/connexion", data=large_form)).status_code == 413
        calls = {"title": "x" * OPEN_FORM_BYTES, "year": "2027"}
        assert (await stranger.post("/console/appels", data=calls)).status_code == 413
        small = await stranger.post("/console/connexion", data={"jeton": WRONG})
        assert small.status_code == 303  # a form of the usual size is still read
    assert count(dev_both.engine, "console_sessions") == sessions


async def test_a_content_length_of_thousands_of_digits_is_too_large_never_500(
    dev_both: Service,
) -> None:
    """int() refuses a number past 4,300 digits: the guard reads it as too large (413)."""
    huge = {"Content-Length": "9" * 5000}
    call_id = await open_call(dev_both)
    for path, extra in (
        ("/calls", {"Content-Type": "application/json"}),
        (f"/calls/{call_id}/applications", {"Content-Type": "application/json"}),
        (
            "/applications/0000deadbeef/documents",
            {"Content-Type": "multipart/form-data; boundary=b"},
        ),
    ):
        answer = await dev_both.http.post(
            path, content=b"{}", headers={**auth("admin"), **huge, **extra}
        )
        assert answer.status_code == 413, (path, answer.status_code, answer.text)


# --- a forged form key ----------------------------------------------------------------------


async def test_an_overlong_form_key_is_refused_before_the_engine(dev_both: Service) -> None:
    """The console's hidden `cle` is the update's idempotency key: one longer than the API's
    Idempotency-Key allows (200), or holding a space, is refused in French (422) and nothing is
    sent: no call made, none published, no file stored."""
    fresh(dev_both)
    long_key = "k" * 5000
    before = (await dev_both.get("/calls", role="admin")).json()["total"]
    created = await dev_both.post("/calls", role="admin", json=call_body())
    call_id = created.json()["id"]
    call_id_open = await open_call(dev_both)
    registered = await dev_both.post(f"/calls/{call_id_open}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    async with aclosing(await dev_both.signed_in("t-admin")) as admin:
        form = {"year": "2027", "title": "Appel forgé", "opens_at": "2027-01-04", "sectors": "TIC"}
        for key in (long_key, "a b", "k" * 201):
            new_call = await admin.post(
                "/console/appels", data={**form, "deadline": "2027-03-01", "cle": key}
            )
            assert new_call.status_code == 422, new_call.text
            assert "champ caché « cle »" in new_call.text
        publish = f"/console/appels/{call_id}/actions/publish"
        refused = await admin.post(publish, data={"cle": long_key})
        assert refused.status_code == 422 and "champ caché « cle »" in refused.text
        assert (await dev_both.get(f"/calls/{call_id}", role="admin")).json()["stage"] == "draft"
        deposit = await admin.post(
            f"/console/candidatures/{application_id}/documents",
            data={"kind": "autre", "cle": long_key},
            files={"file": ("statuts.pdf", PDF_BYTES, "application/pdf")},
        )
        assert deposit.status_code == 422 and "champ caché « cle »" in deposit.text
        files = await dev_both.get(f"/applications/{application_id}/documents", role="admin")
        assert files.json() == []
        assert (await dev_both.get("/calls", role="admin")).json()["total"] == before + 2
        fine = await admin.post(publish, data={"cle": "k" * 200})  # the bound itself is taken
        assert fine.status_code == 303
    assert (await dev_both.get(f"/calls/{call_id}", role="admin")).json()["stage"] != "draft"


# --- control characters ---------------------------------------------------------------------


async def test_control_characters_in_an_address_are_refused_on_every_face(
    dev_both: Service,
) -> None:
    """A NUL (PostgreSQL refuses it in text) or another control character in a query parameter
    or a path id: the console answers its French page, the API JSON naming the parameter, both
    422, before any route or query; a form posted to such an address changes nothing."""
    fresh(dev_both)
    before = (await dev_both.get("/calls", role="admin")).json()["total"]
    async with aclosing(await dev_both.signed_in("t-admin")) as admin:
        for path in (
            "/console/candidatures?q=a%00b",
            "/console/candidatures?sector=%1b",
            "/console/candidatures/a%00b",
            "/console/appels/2026-%7f",
            "/console/candidatures.csv?q=%00",
        ):
            page = await admin.get(path)
            assert page.status_code == 422, (path, page.status_code, page.text)
            assert "caractère de contrôle" in page.text and "<html" in page.text, path
            assert page.headers["content-security-policy"]  # the console's own page
        form = {
            "year": "2027",
            "title": "Appel",
            "opens_at": "2027-01-04",
            "deadline": "2027-03-01",
        }
        posted = await admin.post("/console/appels?x=%00", data=form)
        assert posted.status_code == 422
    for path, loc in (
        ("/applications?sector=a%00b", ["query", "sector"]),
        ("/applications?q=%0a", ["query", "q"]),
        ("/applications/a%00b", ["path"]),
        ("/calls/2026-%00/ranking.csv", ["path"]),
    ):
        answer = await dev_both.get(path, role="admin")
        assert answer.status_code == 422, (path, answer.text)
        [problem] = answer.json()["detail"]
        assert problem["loc"] == loc and problem["msg"] == "format invalide", problem
    created = await dev_both.post("/calls?x=%00", role="admin", json=call_body())
    assert created.status_code == 422
    assert (await dev_both.get("/calls", role="admin")).json()["total"] == before


# --- revoking one token ----------------------------------------------------------------------


def token_ids(engine: Engine, name: str) -> list[int]:
    with Session(engine) as db:
        query = select(TokenRow.id).join(UserRow).where(UserRow.name == name)
        return list(db.exec(query.order_by(TokenRow.id)))


async def test_revoking_one_token_on_the_console_ends_the_sessions_it_opened(
    dev_both: Service,
) -> None:
    """Zineb holds two tokens and has a session open with each. A page elsewhere (no console
    Origin) or an operator cannot revoke; the admin revokes the first on the users page: it is
    refused by the API, its session ends, the second token and its session go on."""
    fresh(dev_both)
    async with aclosing(await dev_both.signed_in("t-admin")) as admin:
        added = await admin.post(
            USERS, data={"action": "ajouter", "name": "Zineb Révocable", "role": "operator"}
        )
        first = added.text.split("<code>")[1].split("</code>")[0]
        second_page = await admin.post(USERS, data={"action": "jeton", "name": "Zineb Révocable"})
        second = second_page.text.split("<code>")[1].split("</code>")[0]
        first_id, second_id = token_ids(dev_both.engine, "Zineb Révocable")
        listed = (await admin.get(USERS)).text
        assert f'name="jeton" value="{first_id}"' in listed and "Révoquer" in listed
        revoke = {"action": "revoquer", "jeton": str(first_id)}
        async with (
            aclosing(await dev_both.signed_in(first)) as with_first,
            aclosing(await dev_both.signed_in(second)) as with_second,
        ):
            forged = await admin.post(
                USERS, data=revoke, headers={"Origin": "https://evil.example"}
            )
            assert forged.status_code == 403 and "intersites" in forged.text
            operator = await with_second.post(USERS, data=revoke)  # not an admin
            assert operator.status_code in (200, 303)
            assert (await dev_both.http.get("/calls", headers=bearer(first))).status_code == 200
            assert (await with_first.get("/console/")).status_code == 200

            done = await admin.post(USERS, data=revoke)
            assert done.status_code == 303
            assert (await dev_both.http.get("/calls", headers=bearer(first))).status_code == 401
            ended = await with_first.get("/console/")
            assert ended.headers["location"] == "/console/connexion"
            assert (await with_second.get("/console/")).status_code == 200
            assert (await dev_both.http.get("/calls", headers=bearer(second))).status_code == 200
            listed = (await admin.get(USERS)).text
            assert f'value="{first_id}"' not in listed and f'value="{second_id}"' in listed
            twice = await admin.post(USERS, data=revoke)
            assert twice.status_code == 303  # told « Aucun jeton actif », nothing else changes
            assert (await with_second.get("/console/")).status_code == 200


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def database_url(engine: Engine) -> str:
    """The URL a process of its own would use for `engine` (its PostgreSQL schema included)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "postgresql":
        return url
    with engine.connect() as connection:
        schema = connection.execute(text("select current_schema()")).scalar_one()
    return f"{url}?options=-csearch_path%3D{schema}"


async def test_the_command_line_revokes_one_token_and_its_sessions(
    dev_both: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(dev_both.engine))
    assert users.main(["add", "Hicham Révocable", "committee"]) == 0
    first = capsys.readouterr().out.rsplit(" ", 1)[1].strip()
    assert users.main(["token", "Hicham Révocable"]) == 0
    second = capsys.readouterr().out.strip()
    first_id, second_id = token_ids(dev_both.engine, "Hicham Révocable")
    assert users.main(["list"]) == 0
    assert f"n° {first_id} du " in capsys.readouterr().out
    async with (
        aclosing(await dev_both.signed_in(first)) as with_first,
        aclosing(await dev_both.signed_in(second)) as with_second,
    ):
        assert users.main(["revoke", str(first_id)]) == 0
        assert "révoqué" in capsys.readouterr().out
        assert (await with_first.get("/console/")).headers["location"] == "/console/connexion"
        assert (await with_second.get("/console/")).status_code == 200
        assert (await dev_both.http.get("/calls", headers=bearer(first))).status_code == 401
        assert (await dev_both.http.get("/calls", headers=bearer(second))).status_code == 200
        assert users.main(["revoke", str(first_id)]) == 2
        assert "Aucun jeton actif" in capsys.readouterr().err
    assert second_id > first_id


# --- behind the TLS proxy -------------------------------------------------------------------


@asynccontextmanager
async def uvicorn_as(command: list[str], tmp_path: Path, **env: str) -> AsyncIterator[str]:
    """The API started as `command` (the compose file's or the image's) on a free port of the
    loopback, with a database of its own; its address."""
    port = free_port()
    command = [
        re.sub(r"--host=\S+", "--host=127.0.0.1", re.sub(r"--port=\d+", f"--port={port}", part))
        for part in command
    ]
    environment = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"} | {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATABASE_URL": f"sqlite:///{tmp_path / f'{port}.db'}",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # the sign-in needs no engine
        "API_TOKENS": f"{secret('t-proxy')}=admin:Amina Admin",
        "DOCUMENTS_URL": str(tmp_path / "documents"),
        **env,
    }
    log = (tmp_path / f"{port}.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(200):
                try:
                    if (await http.get("/console/connexion")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, (tmp_path / f"{port}.log").read_text()[-2000:]
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


async def sign_in_through_proxy(url: str, token: str, forwarded_for: str) -> httpx.Response:
    """A sign-in as the TLS proxy on the loopback forwards it."""
    host = url.removeprefix("http://")
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.post(
            "/console/connexion",
            data={"jeton": token},
            headers={
                "Origin": f"https://{host}",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": forwarded_for,
            },
        )


def session_cookie(answer: httpx.Response) -> str:
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if "console_session=" in c]
    return cookie


async def test_behind_the_proxy_the_session_cookie_is_secure(tmp_path: Path) -> None:
    """The compose file's and the image's uvicorn, with the proxy on the loopback (their
    default FORWARDED_ALLOW_IPS): a sign-in forwarded as https gets a `Secure` cookie, and the
    client's forwarded address is the one guessing is counted by. With FORWARDED_ALLOW_IPS
    naming another proxy, the same headers are not believed."""
    token = secret("t-proxy")
    async with uvicorn_as(api_command(), tmp_path) as url:
        signed = await sign_in_through_proxy(url, token, "203.0.113.5")
        assert signed.status_code == 303
        assert "; secure" in session_cookie(signed).lower()
        for _ in range(SIGN_IN.burst):
            wrong = await sign_in_through_proxy(url, WRONG, "203.0.113.6")
            assert wrong.status_code == 303
        assert (await sign_in_through_proxy(url, WRONG, "203.0.113.6")).status_code == 429
        other = await sign_in_through_proxy(url, token, "203.0.113.7")  # another client
        assert other.status_code == 303
    # The image: its CMD, with the FORWARDED_ALLOW_IPS its ENV sets.
    async with uvicorn_as(image_command(), tmp_path, FORWARDED_ALLOW_IPS=PROXY_DEFAULT) as url:
        signed = await sign_in_through_proxy(url, token, "203.0.113.5")
        assert "; secure" in session_cookie(signed).lower()
    async with uvicorn_as(api_command("10.9.8.7"), tmp_path) as url:
        plain = await sign_in_through_proxy(url, token, "203.0.113.5")
        assert plain.status_code == 303
        assert "secure" not in session_cookie(plain).lower()


async def test_sessions_from_before_tokens_were_recorded_end_at_the_upgrade(
    empty_engine: Engine,
) -> None:
    """At 0004 a session knew its person only: 0005 ends it (its person signs in again), keeps
    the person and the token, and goes back down cleanly."""
    config = alembic_config()
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            text(
                "insert into users (id, name, role, active, created_at)"
                " values (1, 'Amina', 'admin', true, '2026-01-01 10:00:00')"
            )
        )
        connection.execute(
            text(
                "insert into api_tokens (id, user_id, digest, created_at)"
                " values (1, 1, :digest, '2026-01-01 10:00:00')"
            ),
            {"digest": "0" * 64},
        )
        connection.execute(
            text(
                "insert into console_sessions (digest, user_id, expires_at)"
                " values (:digest, 1, '2999-01-01 10:00:00')"
            ),
            {"digest": "1" * 64},
        )
    migrate(empty_engine)
    assert (count(empty_engine, "console_sessions"), count(empty_engine, "api_tokens")) == (0, 1)
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        command.upgrade(config, "head")
