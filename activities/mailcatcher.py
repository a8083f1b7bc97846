"""A local SMTP server that keeps what it receives (aiosmtpd): the embedded run's mail relay, each
message an `.eml` file under `data/mail/`, and the tests' SMTP server. A message is kept under its
Message-ID: one sent again (a retry after a crash) replaces its copy instead of adding one."""

import dataclasses
import email
import hashlib
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.mail import Relay

LOOPBACK = "127.0.0.1"


@dataclass
class Catcher:
    """The handler: every message by its Message-ID; `refuse` answers 550 to those addresses."""

    folder: Path | None = None
    messages: dict[str, EmailMessage] = field(default_factory=dict)
    received: int = 0  # every DATA accepted, repeats included
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Adresse inconnue"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = bytes(envelope.content or b"")
        message = email.message_from_bytes(content, policy=default)
        key = str(message["Message-ID"] or hashlib.sha256(content).hexdigest())
        self.messages[key] = message  # type: ignore[assignment]
        self.received += 1
        if self.folder is not None:
            name = hashlib.sha256(key.encode()).hexdigest()[:32]
            (self.folder / f"{name}.eml").write_bytes(content)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def start_catcher(catcher: Catcher, port: int = 0) -> Controller:
    """The catcher listening on loopback (`port`, or a free one: `controller.port`)."""
    if catcher.folder is not None:
        catcher.folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(catcher, hostname=LOOPBACK, port=port or free_port())
    controller.start()
    return controller


def relay_to(controller: Controller, relay: Relay | None = None) -> Relay:
    """`relay` (its sender, its programme's address; the defaults if none) sending through
    this catcher."""
    return dataclasses.replace(relay or Relay(host=""), host=LOOPBACK, port=controller.port)
