"""The embedded run (`./scripts/run.sh`) stops whole, even killed: no dev server left running on
its port; it refuses a port already held and keeps its data private."""

import email
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.policy import default
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPLICATION, TOKENS, auth
from tests.test_api import call_body

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stat(process: Path) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: state, parent pid, …"""
    return (process / "stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(stat(entry)[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return stat(Path("/proc") / str(pid))[0] != "Z"
    except OSError:
        return False


def embedded_env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CLUSTERS_DATA_DIR": str(data),
        "API_PORT": str(free_port()),
        "TEMPORAL_UI_PORT": str(free_port()),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "METRICS_ADDRESS": f"127.0.0.1:{free_port()}",  # the SDK metrics, as run.sh serves them
    }


@contextmanager
def embedded(data: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """The embedded run, until its API answers; killed at the end if still running."""
    with (data.parent / f"{data.name}.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "embedded.py"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{env['API_PORT']}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.5)
        yield process
    finally:
        if process.poll() is None:
            process.kill()


def gone(pids: list[int], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_api_the_worker_and_the_dev_server(
    tmp_path: Path, stop: signal.Signals
) -> None:
    env = embedded_env(tmp_path / "data")
    port = env["API_PORT"]
    with embedded(tmp_path / "data", env) as process:
        started = children(process.pid)
        assert started, "no dev server started"
        process.send_signal(stop)
        assert process.wait(timeout=60) == 0
        assert gone(started)
    # What a person read last before stopping it: where the console is and the tokens are.
    said = (tmp_path / "data.log").read_text()
    ready = said[said.index("Service prêt.") :]
    assert f"Console      http://127.0.0.1:{port}/console/" in ready
    assert "Jetons" in ready and "tokens.json" in ready
    assert "Uvicorn running" not in ready  # printed after the server's own lines


def test_kill_9_leaves_no_dev_server_and_a_held_port_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = embedded_env(data)
    with embedded(data, env) as process:
        started = children(process.pid)
        process.kill()
        process.wait(timeout=10)
        assert gone(started), "the dev server outlived its parent"
    # Its data: readable by this user alone.
    assert stat_mode(data) == 0o700
    assert {stat_mode(f) for f in data.iterdir() if f.is_file()} == {0o600}
    # A port already held (an orphan, another service): a clear refusal, no « Service prêt ».
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(env["TEMPORAL_ADDRESS"].rsplit(":", 1)[1])))
        holder.listen()
        refused = subprocess.run(
            [sys.executable, "embedded.py"], cwd=ROOT, env=env, capture_output=True, text=True
        )
    assert refused.returncode != 0
    assert "déjà pris" in refused.stderr and "Service prêt" not in refused.stderr


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_embedded_run_keeps_each_notice_as_a_mail_file(tmp_path: Path) -> None:
    """No relay configured: the embedded run's catcher receives the notices under data/mail/."""
    data = tmp_path / "data"
    env = embedded_env(data) | {"API_TOKENS": ",".join(TOKENS.values())}
    with embedded(data, env):
        api = f"http://127.0.0.1:{env['API_PORT']}"
        created = httpx.post(f"{api}/calls", json=call_body(), headers=auth("admin"))
        call_id = created.json()["id"]
        assert httpx.post(f"{api}/calls/{call_id}/publish", headers=auth("admin")).is_success
        registered = httpx.post(
            f"{api}/calls/{call_id}/applications", json=APPLICATION, headers=auth("operator")
        )
        assert registered.status_code == 201, registered.text
        deadline = time.monotonic() + 30
        while not list((data / "mail").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.3)
    [kept] = list((data / "mail").glob("*.eml"))
    message = email.message_from_bytes(kept.read_bytes(), policy=default)
    assert message["To"] == APPLICATION["contact"]["email"]
    assert message["Subject"].endswith(f" — candidature {registered.json()['id']} enregistrée")
    assert stat_mode(kept) == 0o600  # the data folder's files: this user's alone
