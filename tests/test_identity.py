"""Staff identity a ministry can run: users in the database, hashed and revocable tokens, console
sessions on the server, forms that only the console itself can post, pages that say how to
treat them; replayed through the API and the console on both databases."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.conftest import Service, auth, secret
from web import identity, users
from web.tokens import FIRST_PEOPLE, MIN_LENGTH, load_tokens, parse_tokens

pytestmark = pytest.mark.asyncio(loop_scope="session")
PAGE = "/console/utilisateurs"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_are_stored_hashed(dev_both: Service) -> None:
    with Session(dev_both.engine) as db:
        stored = db.exec(text("select digest from api_tokens")).all()
    assert stored and not [row for row in stored if row[0].startswith("t-")]
    assert all(len(row[0]) == 64 for row in stored)  # SHA-256, hex


async def test_an_admin_adds_a_person_whose_token_works_until_deactivated(
    dev_both: Service,
) -> None:
    async with aclosing(await dev_both.signed_in("t-admin")) as admin:
        added = await admin.post(
            PAGE,
            data={
                "action": "ajouter",
                "name": "Zineb Opératrice",
                "role": "operator",
            },
        )
        assert added.status_code == 200 and "affiché cette seule fois" in added.text
        token = added.text.split("<code>")[1].split("</code>")[0]
        calls = await dev_both.http.get("/calls", headers=bearer(token))
        assert calls.status_code == 200
        second = await admin.post(PAGE, data={"action": "jeton", "name": "Zineb Opératrice"})
        other = second.text.split("<code>")[1].split("</code>")[0]
        assert other != token  # several tokens per person
        listed = await admin.get(PAGE)
        assert "Zineb Opératrice" in listed.text
        async with aclosing(await dev_both.signed_in(token)) as zineb:
            assert (await zineb.get("/console/")).status_code == 200
            assert (await zineb.get(PAGE)).headers["location"] == "/console/"  # admins only
            off = await admin.post(PAGE, data={"action": "desactiver", "name": "Zineb Opératrice"})
            assert off.status_code == 303
            for revoked in (token, other):
                refused = await dev_both.http.get("/calls", headers=bearer(revoked))
                assert refused.status_code == 401
            ended = await zineb.get("/console/")  # her session ended with her account
            assert ended.headers["location"] == "/console/connexion"
        duplicate = await admin.post(
            PAGE, data={"action": "ajouter", "name": "Zineb Opératrice", "role": "operator"}
        )
        assert duplicate.status_code == 303  # refused, with the reason


async def test_sign_out_ends_the_session_on_the_server(dev_both: Service) -> None:
    async with aclosing(await dev_both.signed_in("t-operator")) as browser:
        kept = browser.cookies.get("console_session")
        assert kept and kept != "t-operator"  # the cookie holds a session, never the token
        await browser.post("/console/deconnexion")
        replayed = dev_both.new_session()
        async with replayed:
            replayed.cookies.set("console_session", kept)
            answer = await replayed.get("/console/")
            assert answer.headers["location"] == "/console/connexion"


async def test_a_post_from_another_site_is_refused_and_changes_nothing(dev_both: Service) -> None:
    async with aclosing(await dev_both.signed_in("t-admin")) as admin:
        before = (await dev_both.get("/calls", role="admin")).json()["total"]
        form = {
            "year": "2027",
            "title": "Appel piégé",
            "opens_at": "2027-01-01",
            "deadline": "2027-02-01",
        }
        for origin in ({"Origin": "https://evil.example"}, {"Origin": "null"}):
            answer = await admin.post("/console/appels", data=form, headers=origin)
            assert answer.status_code == 403 and "intersites" in answer.text
        bare = dev_both.new_session()
        async with bare:
            bare.headers.pop("Origin")
            bare.cookies.update(admin.cookies)
            assert (await bare.post("/console/appels", data=form)).status_code == 403
        assert (await dev_both.get("/calls", role="admin")).json()["total"] == before


async def test_pages_say_how_to_treat_them_and_ignore_malformed_cookies(
    dev_both: Service,
) -> None:
    async with aclosing(await dev_both.signed_in("t-committee")) as browser:
        browser.cookies.set("console_message", '{"kind": "erreur", "lines": 3')
        page = await browser.get("/console/appels")
        assert page.status_code == 200
        headers = page.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
        browser.cookies.set("console_session", "pas-une-session")
        assert (await browser.get("/console/")).status_code == 303


async def test_the_command_line_manages_accounts(
    dev: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("DATABASE_URL", dev.engine.url.render_as_string(hide_password=False))
    assert users.main(["add", "Hicham Comité", "committee"]) == 0
    token = capsys.readouterr().out.rsplit(" ", 1)[1].strip()
    assert (await dev.http.get("/calls", headers=bearer(token))).status_code == 200
    assert users.main(["add", "Hicham Comité", "committee"]) == 2
    assert "existe déjà" in capsys.readouterr().err
    assert users.main(["list"]) == 0
    assert "Hicham Comité\tcommittee" in capsys.readouterr().out
    assert users.main(["deactivate", "Hicham Comité"]) == 0
    assert (await dev.http.get("/calls", headers=bearer(token))).status_code == 401
    assert users.main(["token", "Personne"]) == 2


async def test_the_audit_trail_names_the_user(dev: Service) -> None:
    call = await dev.post(
        "/calls",
        role="admin",
        json={
            "year": 2027,
            "title": "Appel nommé",
            "opens_at": "2027-01-04",
            "deadline": "2027-03-01",
        },
    )
    audit = (await dev.get(f"/calls/{call.json()['id']}", role="admin")).json()["audit"]
    assert [(e["actor"], e["role"]) for e in audit] == [("Amina Admin", "admin")]
    assert auth("admin")  # the token is t-admin; the trail shows the person


async def test_api_replicas_starting_together_seed_their_users_once(any_engine) -> None:
    """Each API process seeds API_TOKENS at start; started together, they race on the rows."""
    tokens = parse_tokens(",".join(f"{secret(f'r-{i}')}=operator:Réplique {i}" for i in range(20)))
    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(identity.seed, any_engine, tokens) for _ in range(4)]:
            done.result()
    with Session(any_engine) as db:
        names = [u.name for u, _ in identity.users(db) if u.name.startswith("Réplique")]
    assert sorted(names) == sorted(f"Réplique {i}" for i in range(20))


async def test_a_short_seeded_token_is_refused_at_load_naming_its_holder(tmp_path) -> None:
    """A token shorter than 32 characters (the README once showed « s3cr3t-a ») stops the start
    with who holds it and how to make one, never the token itself; a long one loads."""
    with pytest.raises(ValueError, match="Amina Alaoui.*8 caractères.*au moins 32") as refused:
        parse_tokens(f"{secret('t-ok')}=operator:Omar,s3cr3t-a=admin:Amina Alaoui")
    assert "s3cr3t-a" not in str(refused.value) and "token_urlsafe" in str(refused.value)
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text('{"court": {"role": "admin", "name": "Gestionnaire"}}')
    with pytest.raises(ValueError, match="Gestionnaire.*5 caractères"):
        load_tokens("", tokens_file)
    made = load_tokens("", tmp_path / "made.json")  # the embedded run's first tokens
    assert len(made) == len(FIRST_PEOPLE) and min(map(len, made)) >= MIN_LENGTH
