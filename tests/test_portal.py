"""The applicants' portal through HTTP as a browser uses it: sign-in by link (a confirmation
page, once, 15 minutes, 5 links per quarter), an association and its people, a dossier drafted,
its files uploaded, deposited with a signed receipt that verifies offline, then followed."""

import json
import re
import uuid
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session

from domain.models import DEFAULT_DOCUMENTS
from portal.receipt import ReceiptInvalid, verify
from projection.tables import SignInLinkRow
from tests.conftest import PDF_BYTES, Service, mails_to

pytestmark = pytest.mark.asyncio(loop_scope="session")
LINK = re.compile(r"https?://[^\s\"<]+/portail/lien/[A-Za-z0-9_-]+")


def address(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@association.ma"


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


async def link_for(browser: httpx.AsyncClient, email: str, count: int = 1) -> str:
    answer = await browser.post("/portail/connexion", data={"email": email})
    assert answer.status_code == 200, answer.text
    assert len(mails_to(email)) == count  # sent during the request
    return path_of(LINK.findall(text_of(mails_to(email)[count - 1]))[0])


async def signed_in(
    service: Service, email: str, name: str, language: str = "fr"
) -> httpx.AsyncClient:
    browser = service.new_session()
    browser.cookies.set("langue", language)
    link = await link_for(browser, email)
    answer = await browser.post(link)
    assert answer.status_code == 303 and "portal_session" in answer.cookies, answer.text
    await browser.post("/portail/profil", data={"name": name})
    return browser


async def test_a_link_signs_in_once_from_its_confirmation_page(skipping: Service) -> None:
    email = address("salma")
    async with aclosing(skipping.new_session()) as browser:
        stranger = await browser.post("/portail/connexion", data={"email": address("nobody")})
        sent = await browser.post("/portail/connexion", data={"email": email})
        assert sent.status_code == stranger.status_code == 200
        assert "lien de connexion vient d'y être envoyé" in sent.text
        [message] = mails_to(email)
        assert "15 minutes" in text_of(message) and message["Content-Language"] == "fr"
        link = path_of(LINK.findall(text_of(message))[0])

        opened = await browser.get(link)  # a mail scanner opening it uses nothing
        assert opened.status_code == 200 and "Me connecter" in opened.text
        assert "portal_session" not in browser.cookies
        again = await browser.get(link)
        assert again.status_code == 200 and "Me connecter" in again.text

        used = await browser.post(link)
        assert used.status_code == 303 and "portal_session" in used.cookies
        cookie = used.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        home = await browser.get("/portail/")
        assert home.status_code == 200 and "Votre nom" in home.text

        second = await browser.post(link)
        assert second.status_code == 410 and "déjà servi" in second.text
        assert (await browser.get("/portail/lien/inconnu")).status_code == 404

        # Another site's form cannot make the signed-in browser act.
        forged = await browser.post(
            "/portail/profil", data={"name": "X"}, headers={"Origin": "https://ailleurs.example"}
        )
        assert forged.status_code == 403

        await browser.post("/portail/deconnexion")
        assert (await browser.get("/portail/")).status_code == 303


async def test_an_expired_link_offers_a_new_one_and_links_are_limited(skipping: Service) -> None:
    email = address("karim")
    async with aclosing(skipping.new_session()) as browser:
        link = await link_for(browser, email)
        with Session(skipping.engine) as db:
            db.exec(  # type: ignore[call-overload]
                update(SignInLinkRow)
                .where(SignInLinkRow.email == email)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            db.commit()
        expired = await browser.post(link)
        assert expired.status_code == 410 and "a expiré" in expired.text
        assert "Recevoir un nouveau lien" in expired.text and email in expired.text
        assert "portal_session" not in browser.cookies
        for count in range(2, 6):
            await link_for(browser, email, count)
        refused = await browser.post("/portail/connexion", data={"email": email})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "Trop de liens" in refused.text
        browser.cookies.set("langue", "ar")
        arabic = await browser.post("/portail/connexion", data={"email": email})
        assert arabic.status_code == 429 and 'dir="rtl"' in arabic.text
        assert len(mails_to(email)) == 5
        bad = await browser.post("/portail/connexion", data={"email": "pas une adresse"})
        assert bad.status_code == 422


async def test_an_association_deposits_its_dossier_and_its_receipt_verifies(
    skipping: Service, tmp_path: Path
) -> None:
    call_id = await skipping.new_call(title="Appel clusters 2027")
    published = await skipping.post(f"/calls/{call_id}/publish", role="admin")
    assert published.status_code == 200, published.text
    salma_email, omar_email = address("salma"), address("omar")
    async with (
        aclosing(await signed_in(skipping, salma_email, "Salma Bennani")) as salma,
        aclosing(await signed_in(skipping, omar_email, "Omar Idrissi", "ar")) as omar,
    ):
        made = await salma.post("/portail/associations", data={"name": "Association Souss Agro"})
        assert made.status_code == 303
        home = made.headers["location"]
        association_id = home.rsplit("/", 1)[1]
        invited = await salma.post(
            f"{home}/membres", data={"email": omar_email, "role": "contributeur"}
        )
        assert invited.status_code == 303
        invitation = mails_to(omar_email)[1]
        assert invitation["Content-Language"] == "ar"
        assert "Association Souss Agro" in text_of(invitation)
        assert "مساهم(ة)" in text_of(invitation)  # the role in the invitee's language
        assert (await omar.get(home)).status_code == 404  # not a member yet
        joined = await omar.post(f"/portail/invitations/{association_id}")
        assert joined.status_code == 303 and joined.headers["location"] == home

        page = await salma.get(home)
        assert "Appel clusters 2027" in page.text and "Omar Idrissi" in page.text
        dossier = f"{home}/appels/{call_id}"
        form = {
            "cluster_name": "Cluster Souss Agro",
            "legal_form": "association",
            "sector": "Agroalimentaire",
            "existing_cluster": "non",
            "support_years": "0",
            "phone": "+212 600 000 000",
            "requested_amounts": "500000\n400000",
            "member_name": ["Coopérative Argan", "Université Ibn Zohr", ""],
            "member_type": ["company", "research", "company"],
        }
        saved = await salma.post(dossier, data=form)
        assert saved.status_code == 303
        page = await salma.get(dossier)
        assert "Cluster Souss Agro" in page.text and page.text.count("Manquante") == len(
            DEFAULT_DOCUMENTS
        )
        incomplete = await salma.post(f"{dossier}/deposer")
        assert incomplete.status_code == 303
        assert "Pièce manquante" in (await salma.get(dossier)).text

        contents = {}
        for n, kind in enumerate(DEFAULT_DOCUMENTS):
            content = PDF_BYTES + f"% pièce {n}\n".encode()
            name = f"piece-{n}.pdf"
            contents[name] = content
            uploader = omar if n % 2 else salma  # a contributor uploads too
            sent = await uploader.post(
                f"{dossier}/fichiers",
                data={"kind": kind},
                files={"file": (name, content, "application/pdf")},
                headers={"Accept": "application/json"},
            )
            assert sent.status_code == 201, sent.text
        page = await salma.get(dossier)
        assert "Manquante" not in page.text and page.text.count("Fournie") == len(DEFAULT_DOCUMENTS)

        deposited = await omar.post(f"{dossier}/deposer")
        assert deposited.status_code == 303, deposited.text
        case = deposited.headers["location"]
        followed = await omar.get(case)
        assert followed.status_code == 200 and 'dir="rtl"' in followed.text
        again = await salma.post(f"{dossier}/deposer")  # a second click changes nothing
        assert again.status_code == 303 and again.headers["location"] == case

        receipt = await salma.get(f"{case}/recu.json")
        assert receipt.status_code == 200
        pdf = await salma.get(f"{case}/recu.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        key = await salma.get("/portail/cle-publique.pem")
        folder = tmp_path / "dossier"
        folder.mkdir()
        files = {}
        for name, content in contents.items():
            (folder / name).write_bytes(content)
            files[name] = folder / name
        checked = verify(receipt.content, files, key.content)
        assert checked.association_name == "Association Souss Agro"
        assert len(checked.files) == len(DEFAULT_DOCUMENTS)
        (folder / "piece-0.pdf").write_bytes(contents["piece-0.pdf"][:-2] + b"X\n")
        with pytest.raises(ReceiptInvalid, match="piece-0.pdf"):
            verify(receipt.content, files, key.content)
        tampered = json.loads(receipt.content)
        tampered["recu"]["deposited_at"] = tampered["recu"]["deposited_at"].replace(":", "-", 1)
        with pytest.raises(ReceiptInvalid):
            verify(json.dumps(tampered).encode(), None, key.content)

    application_id = case.rsplit("/", 1)[1]
    staff = (await skipping.get(f"/applications/{application_id}")).json()
    assert staff["stage"] == "received" and len(staff["files"]) == len(DEFAULT_DOCUMENTS)
    [registered] = [e for e in staff["audit"] if e["action"] == "register"]
    assert registered["role"] == "applicant" and "Omar Idrissi" in registered["actor"]
