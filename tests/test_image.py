"""The image builds: what the Dockerfile copies (the checkout less .dockerignore) installs into a
fresh virtual environment, and the worker and the API start from that install and serve, as the
compose file starts them. No Docker engine here: this stands in for `docker compose build`."""

import asyncio
import fnmatch
import os
import shutil
import subprocess
import time
import venv
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import TOKENS, auth
from tests.test_api import call_body
from tests.test_embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.asyncio(loop_scope="session")


def copied_by_the_dockerfile() -> list[str]:
    """The files `COPY . .` takes from a clean checkout: those git tracks, less .dockerignore."""
    assert "COPY . ." in (ROOT / "Dockerfile").read_text()
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, p) or fnmatch.fnmatch(prefix, p.removeprefix("**/"))
            for p in patterns
            for prefix in prefixes
        )

    return [path for path in tracked if not ignored(path)]


def started(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)


async def test_what_the_dockerfile_copies_installs_and_runs(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    app = tmp_path / "app"  # the image's WORKDIR
    files = copied_by_the_dockerfile()
    assert "pyproject.toml" in files and not [f for f in files if f.startswith("tests/")]
    for name in files:
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, app / name)
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=app,
        check=True,
        timeout=600,
    )
    port = free_port()
    env = {
        "PATH": f"{tmp_path / 'venv' / 'bin'}:{os.environ['PATH']}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'projection.db'}",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TASK_QUEUE": f"image-{port}",
        "API_TOKENS": ",".join(TOKENS.values()),
        "LOG_FORMAT": "json",
    }
    worker = started([python, "worker.py"], app, env, tmp_path / "worker.log")
    api = started(
        [python, "-m", "uvicorn", "web.app:app", "--host", "127.0.0.1", "--port", str(port)],
        app,
        env,
        tmp_path / "api.log",
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert api.poll() is None and worker.poll() is None, "a process stopped"
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()[-2000:]
                await asyncio.sleep(0.3)
            created = await http.post("/calls", json=call_body(), headers=auth("admin"))
            assert created.status_code == 201, created.text  # the worker answered the update
    finally:
        for process in (api, worker):
            process.terminate()
            process.wait(timeout=20)
