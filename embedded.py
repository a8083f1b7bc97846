"""The whole service on one machine: Temporal dev server on a SQLite file, the worker, the API,
and a mail catcher (unless SMTP_HOST names a relay) keeping each message under data/mail/.

State lives under the data folder (CLUSTERS_DATA_DIR, default ./data) and survives restarts.
"""

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import uvicorn
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.mail import Relay
from activities.mailcatcher import Catcher, relay_to, start_catcher
from observability import configure_logging, metrics_runtime
from projection.database import make_engine, migrate
from settings import DATA_DIR, DEV_SERVER_ARGS, Settings, bundled_binary
from web.app import create_app
from worker import build_worker

log = logging.getLogger("embedded")


class Server(uvicorn.Server):
    """uvicorn raises the stop signal again once it has shut down, which ends the process before
    the worker and the dev server are stopped (a dev server left running on its port): here the
    signal only stops the API, and the rest shuts down in order."""

    banner = ""  # printed once the API listens: the last thing a person reads

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.banner:
            print(self.banner, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


LOOPBACK = "127.0.0.1"  # the dev server acts for anyone who reaches it: this machine only
PR_SET_PDEATHSIG = 1


class PortTaken(SystemExit):
    pass


def refuse_taken(*ports: int) -> None:
    """Stop, saying why, if another process (an earlier run left behind, say) holds a port."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                raise PortTaken(
                    f"Le port {port} est déjà pris sur {LOOPBACK} : une autre instance tourne "
                    "peut-être encore. Arrêtez-la, ou choisissez d'autres ports (TEMPORAL_ADDRESS, "
                    "API_PORT, TEMPORAL_UI_PORT)."
                ) from None


def _die_with_parent() -> None:
    """In the dev server's process: stop when this one dies, even by kill -9 (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_dev_server(settings: Settings, port: int, ui_port: int) -> subprocess.Popen:
    """The Temporal dev server from the PyPI package, its state in the data folder."""
    command = [
        bundled_binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        LOOPBACK,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        settings.temporal_namespace,
        "--db-filename",
        str(DATA_DIR / "temporal.db"),
        "--log-level",
        "warn",
        *DEV_SERVER_ARGS,
    ]
    return subprocess.Popen(command, preexec_fn=_die_with_parent)


async def connect(settings: Settings, server: subprocess.Popen, address: str) -> Client:
    """The client, once the dev server answers (it starts in well under a second)."""
    runtime = metrics_runtime(settings)  # one: it holds the metrics port
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("Le serveur Temporal s'est arrêté au démarrage (voir son journal).")
        try:
            return await Client.connect(
                address,
                namespace=settings.temporal_namespace,
                data_converter=pydantic_data_converter,
                runtime=runtime,
            )
        except RuntimeError:  # the SDK's one failure of connect: not listening yet
            await asyncio.sleep(0.1)
    raise SystemExit("Le serveur Temporal ne répond pas.")


def private_data_folder() -> None:
    """Data files readable by this user alone: the folder 700, every file made in it 600."""
    os.umask(0o077)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATA_DIR.chmod(0o700)


def mail_relay(settings: Settings) -> tuple[Relay, str]:
    """The relay the worker sends through: SMTP_HOST if given, else a catcher on loopback that
    keeps every message as a file under data/mail/ (and where they are, to say so)."""
    relay = Relay.from_settings(settings)
    if relay.host:
        return relay, f"{relay.host}:{relay.port}"
    folder = DATA_DIR / "mail"
    return relay_to(start_catcher(Catcher(folder)), relay), f"{folder}/*.eml"


async def main() -> None:
    os.environ.setdefault("LOG_FORMAT", "text")  # a terminal, not a log collector
    os.environ.setdefault("METRICS_ADDRESS", "127.0.0.1:9464")
    settings = Settings()
    configure_logging(settings)
    # The mail catcher says a line per message it takes; MAIL_LOG=1 to read them.
    if os.environ.get("MAIL_LOG") != "1":
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    port = int(settings.temporal_address.rpartition(":")[2])
    api_port = int(os.environ.get("API_PORT", "8000"))
    ui_port = int(os.environ.get("TEMPORAL_UI_PORT", "8233"))
    refuse_taken(port, ui_port, api_port)
    private_data_folder()
    engine = make_engine(settings.database_url)
    migrate(engine)
    dev_server = start_dev_server(settings, port, ui_port)
    try:
        client = await connect(settings, dev_server, f"{LOOPBACK}:{port}")
        app = create_app(settings, client=client, engine=engine)
        server = Server(uvicorn.Config(app, host=LOOPBACK, port=api_port))
        relay, mail = mail_relay(settings)
        app.state.relay = relay  # the console's own mail (staff invitations) to the same catcher
        worker = build_worker(
            client,
            engine,
            settings.task_queue,
            settings.workflow_sandbox,
            relay,
            settings=settings,  # the same documents folder as the API's, the signing keys
        )
        async with worker:
            server.banner = (
                f"\nService prêt.\n"
                f"  Console      http://127.0.0.1:{api_port}/console/\n"
                f"  Jetons       {settings.tokens_file if not settings.api_tokens else 'API_TOKENS'}\n"
                f"  API          http://127.0.0.1:{api_port}/docs\n"
                f"  Temporal UI  http://127.0.0.1:{ui_port}\n"
                f"  Métriques    http://{settings.metrics_address}/metrics\n"
                f"  Courriers    {mail}\n"
            )
            await server.serve()
    finally:
        dev_server.terminate()
        try:
            dev_server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dev_server.kill()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
