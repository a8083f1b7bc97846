"""The console in headless Chromium: an operator signs in and takes a case to eligible by buttons."""

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from settings import Settings
from tests.conftest import TOKENS, auth, utcnow
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_or_skip() -> str:
    if CHROMIUM is None:
        message = "Chromium not installed (Debian package `chromium`; .ci/run installs it)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return CHROMIUM


@pytest_asyncio.fixture(loop_scope="session")
async def site(dev_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[str]:
    """The whole service over real HTTP on a free port, as a browser needs it."""
    task_queue = f"tq-{uuid.uuid4().hex}"
    app = create_app(
        Settings(task_queue=task_queue, api_tokens=",".join(TOKENS.values())),
        client=dev_env.client,
        engine=engine,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with build_worker(dev_env.client, engine, task_queue):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        await serving


async def test_operator_takes_an_application_to_eligible_with_buttons(site: str) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    async with httpx.AsyncClient(base_url=site) as api:  # the call is the admin's part
        created = await api.post(
            "/calls",
            headers=auth("admin"),
            json={
                "year": 2026,
                "title": "Appel à projets clusters — console",
                "opens_at": utcnow().isoformat(),
                "deadline": (utcnow() + timedelta(seconds=12)).isoformat(),
            },
        )
        call_id = created.json()["id"]
        await api.post(f"/calls/{call_id}/publish", headers=auth("admin"))

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 900}, locale="fr-FR")
        await page.goto(f"{site}/console/")
        await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
        await page.get_by_label("Jeton").fill("t-operator")
        await page.get_by_role("button", name="Se connecter").click()
        await expect(page.get_by_text("Bienvenue, Omar Opérateur.")).to_be_visible()

        await page.get_by_role("link", name="Appel à projets clusters — console").first.click()
        await page.get_by_label("Nom du cluster *").fill("Cluster Agro-Souss")
        await page.get_by_label("Secteur *").select_option("agro-industrie et cosmétique")
        await page.get_by_label("Contact : nom *").fill("Hind Amrani")
        await page.get_by_label("Contact : courriel *").fill("hind@agro-souss.ma")
        await page.locator("#members").fill("Argan Coop SA ; entreprise\nIAV Hassan II ; recherche")
        for box in await page.locator("input[name=documents]").all():
            await box.check()
        await page.get_by_role("button", name="Enregistrer la candidature").click()
        await expect(page.locator("#etape")).to_have_text("reçue")

        for _ in range(60):  # the deadline passes; the clock moves the case by itself
            await page.reload()
            if await page.locator("#etape").inner_text() == "examen de recevabilité":
                break
            await asyncio.sleep(0.5)
        await expect(page.locator("#etape")).to_have_text("examen de recevabilité")
        await expect(page.get_by_text("Dossier complet")).to_be_visible()

        await page.get_by_role("button", name="Déclarer irrecevable").click()  # no reason given
        await expect(page.get_by_text("Motif : obligatoire")).to_be_visible()

        await page.get_by_role("button", name="Déclarer recevable").click()
        await expect(page.locator("#etape")).to_have_text("recevable")
        await expect(page.get_by_text("Déclarer recevable : fait.")).to_be_visible()
        await expect(page.get_by_text("Omar Opérateur (opérateur)").first).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "console-recevable.png"), full_page=True)
        await browser.close()
