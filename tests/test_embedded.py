"""The embedded run (`./scripts/run.sh`) stops whole: no dev server left running on its port."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_api_the_worker_and_the_dev_server(
    tmp_path: Path, stop: signal.Signals
) -> None:
    api = free_port()
    env = {
        **os.environ,
        "CLUSTERS_DATA_DIR": str(tmp_path),
        "API_PORT": str(api),
        "TEMPORAL_UI_PORT": str(free_port()),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "METRICS_ADDRESS": "",
    }
    with (tmp_path / "run.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "embedded.py"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{api}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.5)
        started = children(process.pid)
        assert started, "no dev server started"
        process.send_signal(stop)
        assert process.wait(timeout=60) == 0
        time.sleep(1)
        assert not [pid for pid in started if alive(pid)]
    finally:
        if process.poll() is None:
            process.kill()
