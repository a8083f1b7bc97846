"""A new staff member is invited by e-mail: the message reaches a real SMTP server (aiosmtpd on
loopback), its one-time link asks to confirm, then shows the person's own token once and signs
them in; a link used, replaced, expired or of a deactivated person opens nothing, a failure to
send is told to the admin, who sends it again; on SQLite and PostgreSQL."""

import html
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, text, update
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from activities.mailcatcher import free_port
from projection.tables import InvitationRow
from tests.conftest import CATCHER, Service, mail_relay, mails_to, running_service
from web import identity, users

pytestmark = pytest.mark.asyncio(loop_scope="session")
PAGE = "/console/utilisateurs"
PUBLIC = "https://clusters.example.ma"
LINK = re.compile(re.escape(PUBLIC) + r"/console/invitation/[A-Za-z0-9_-]+")


def sending(env: WorkflowEnvironment, engine: Engine):
    """The API sending through the tests' SMTP catcher, its links under PUBLIC."""
    relay = mail_relay()
    return running_service(
        env, engine, smtp_host=relay.host, smtp_port=relay.port, public_url=PUBLIC
    )


@pytest_asyncio.fixture(loop_scope="session")
async def service(dev_env: WorkflowEnvironment, any_engine: Engine) -> AsyncIterator[Service]:
    async with sending(dev_env, any_engine) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def on_sqlite(dev_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Service]:
    """For the command line, which reaches its database by DATABASE_URL alone (a PostgreSQL
    test schema is chosen by the engine's connection options, not by its URL)."""
    async with sending(dev_env, engine) as running:
        yield running


def address(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@mcinet.gov.ma"


def body(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def link_in(message: EmailMessage) -> str:
    """The invitation's link as the person reads it, as the path a browser opens."""
    found = LINK.search(body(message))
    assert found, body(message)
    return urlsplit(found.group()).path


async def add(admin: httpx.AsyncClient, name: str, email: str, role: str = "operator") -> str:
    """The person added from the console; the page the admin lands on."""
    form = {"action": "ajouter", "name": name, "role": role, "email": email}
    added = await admin.post(PAGE, data=form)
    assert added.status_code == 303 and added.headers["location"] == PAGE
    return seen(await admin.get(PAGE))


def seen(page: httpx.Response) -> str:
    """The page's text as the person reads it (entities decoded)."""
    return html.unescape(page.text)


def shown_token(page: httpx.Response) -> str:
    return page.text.split("<code>")[1].split("</code>")[0]


async def test_an_invited_person_sets_their_sign_in_once(service: Service) -> None:
    email = address("zineb")
    async with aclosing(await service.signed_in("t-admin")) as admin:
        page = await add(admin, "Zineb Opératrice", email)
        assert f"Invitation envoyée à Zineb Opératrice ({email})" in page
        assert "valable jusqu'au" in page and "envoyée le" in page
        assert "affiché cette seule fois" not in page  # the admin never sees her token

        [message] = mails_to(email)
        assert message["Subject"] == "Votre accès à la console du Programme d'appui aux clusters"
        said = body(message)
        assert "Bonjour Zineb Opératrice," in said
        assert "Amina Admin vous a ouvert un compte" in said and "opérateur" in said
        assert "valable jusqu'au" in said and "(heure de Rabat)" in said
        assert "ne sert qu'une fois" in said and "page « Connexion »" in said
        link = link_in(message)
        with Session(service.engine) as db:  # only its digest is kept
            digests = db.exec(text("select digest from staff_invitations")).all()
        assert link.rsplit("/", 1)[1] not in {row[0] for row in digests}

        async with aclosing(service.new_session()) as zineb:
            opened = await zineb.get(link)
            assert opened.status_code == 200
            assert "Amina Admin vous invite" in seen(opened) and "opérateur" in seen(opened)
            assert "Confirmer et obtenir mon jeton" in seen(opened)
            assert "console_session" not in zineb.cookies  # opening the link uses nothing

            forged = await zineb.post(link, headers={"Origin": "https://evil.example"})
            assert forged.status_code == 403 and "intersites" in seen(forged)

            accepted = await zineb.post(link)
            assert accepted.status_code == 200 and "affiché cette seule fois" in seen(accepted)
            assert "Authorization: Bearer" in seen(accepted) and "/console/connexion" in seen(
                accepted
            )
            token = shown_token(accepted)
            home = await zineb.get("/console/")  # signed in by the same answer
            assert home.status_code == 200 and "Zineb Opératrice" in seen(home)
            calls = await service.http.get("/calls", headers={"Authorization": f"Bearer {token}"})
            assert calls.status_code == 200

        async with aclosing(await service.signed_in(token)) as again:  # her token signs her in
            assert (await again.get("/console/appels")).status_code == 200
            for answer in (await again.get(link), await again.post(link)):
                assert answer.status_code == 410 and "déjà servi" in seen(answer)
        assert "acceptée le" in seen(await admin.get(PAGE))


async def test_an_expired_link_says_so_and_a_new_invitation_replaces_it(service: Service) -> None:
    email = address("driss")
    async with aclosing(await service.signed_in("t-admin")) as admin:
        await add(admin, "Driss Évaluateur Invité", email, role="evaluator")
        [first] = mails_to(email)
        old = link_in(first)
        with Session(service.engine) as db:
            db.exec(update(InvitationRow).values(expires_at=identity.now() - timedelta(hours=1)))
            db.commit()
        async with aclosing(service.new_session()) as driss:
            for answer in (await driss.get(old), await driss.post(old)):
                assert answer.status_code == 410 and "a expiré le" in seen(answer)
                assert "Amina Admin" in seen(answer)  # whom to ask
            assert "expirée le" in seen(await admin.get(PAGE))

            resent = await admin.post(
                PAGE, data={"action": "inviter", "name": "Driss Évaluateur Invité"}
            )
            assert resent.status_code == 303
            assert "Invitation envoyée" in seen(await admin.get(PAGE))
            [new] = [m for m in mails_to(email) if m["Message-ID"] != first["Message-ID"]]
            assert "évaluateur" in body(new)
            assert (await driss.get(link_in(new))).status_code == 200
            resent = await admin.post(
                PAGE, data={"action": "inviter", "name": "Driss Évaluateur Invité"}
            )
            replaced = await driss.get(link_in(new))  # a third invitation ended the second link
            assert replaced.status_code == 410 and "remplacé" in seen(replaced)

            await admin.post(PAGE, data={"action": "desactiver", "name": "Driss Évaluateur Invité"})
            latest = [
                m
                for m in mails_to(email)
                if m["Message-ID"] not in (first["Message-ID"], new["Message-ID"])
            ]
            ended = await driss.post(link_in(latest[0]))
            assert ended.status_code == 410 and "désactivé" in seen(ended)
            assert "console_session" not in driss.cookies


async def test_a_failure_to_send_is_told_and_the_invitation_sent_again(service: Service) -> None:
    email = address("karima")
    CATCHER.refuse.add(email)  # the relay answers 550 for her address
    try:
        async with aclosing(await service.signed_in("t-admin")) as admin:
            page = await add(admin, "Karima Comité", email, role="committee")
            assert f"L'invitation de Karima Comité n'a pas pu être envoyée à {email}" in page
            assert "Adresse refusée par le serveur" in page and "Renvoyer l'invitation" in page
            assert "non envoyée" in page and not mails_to(email)
            CATCHER.refuse.discard(email)
            resent = await admin.post(PAGE, data={"action": "inviter", "name": "Karima Comité"})
            assert resent.status_code == 303
            assert "Invitation envoyée à Karima Comité" in seen(await admin.get(PAGE))
            [message] = mails_to(email)
            async with aclosing(service.new_session()) as karima:
                accepted = await karima.post(link_in(message))
                assert accepted.status_code == 200 and "Karima Comité" in seen(accepted)
    finally:
        CATCHER.refuse.discard(email)


async def test_the_command_line_invites_too(
    on_sqlite: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    relay = mail_relay()
    monkeypatch.setenv("DATABASE_URL", on_sqlite.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SMTP_HOST", relay.host)
    monkeypatch.setenv("SMTP_PORT", str(relay.port))
    monkeypatch.setenv("PUBLIC_URL", PUBLIC + "/")
    email = address("hicham")
    assert users.main(["add", "Hicham Invité", "admin", "--email", email]) == 0
    said = capsys.readouterr().out
    assert (
        "Hicham Invité (admin) ajouté(e)." in said
        and f"Invitation envoyée à Hicham Invité ({email})" in said
    )
    [message] = mails_to(email)
    assert "l'administrateur du service vous a ouvert un compte" in body(message)
    async with aclosing(on_sqlite.new_session()) as hicham:
        accepted = await hicham.post(link_in(message))
        assert accepted.status_code == 200 and "Hicham Invité" in seen(accepted)

    monkeypatch.setenv("SMTP_PORT", str(free_port()))  # nothing listens there
    assert users.main(["invite", "Hicham Invité"]) == 1
    refused = capsys.readouterr().err
    assert "n'a pas pu être envoyée" in refused and "relais de courrier injoignable" in refused
    assert 'python -m web.users invite "Hicham Invité"' in refused
    assert users.main(["invite", "Personne"]) == 2
    assert "Utilisateur inconnu" in capsys.readouterr().err


async def test_unknown_links_are_refused_then_slowed(service: Service) -> None:
    async with aclosing(service.new_session()) as stranger:
        unknown = await stranger.get("/console/invitation/pas-une-invitation")
        assert unknown.status_code == 404 and "Ce lien d'invitation est inconnu" in seen(unknown)
        long = await stranger.post("/console/invitation/" + "x" * 500)
        assert long.status_code == 404
        answers = [await stranger.get(f"/console/invitation/essai-{n}") for n in range(12)]
        slowed = answers[-1]
        assert slowed.status_code == 429 and "lien d'invitation inconnu" in seen(slowed)
        assert int(slowed.headers["Retry-After"]) > 0
