"""The portal's own e-mails (a sign-in link, an invitation), in the recipient's language, sent
during the request over the notices' relay (activities.mail.send): mail stays outside the
workflows. A failure is logged and never told apart to the requester (the sign-in form answers
the same whatever becomes of the message)."""

import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from activities.mail import Refused, Relay, message_id, send
from portal import i18n
from portal.pages import templates

log = logging.getLogger(__name__)


def relay(request: Request) -> Relay:
    """The notices' relay: the embedded run's mail catcher (`app.state.relay`), else SMTP_HOST."""
    chosen = getattr(request.app.state, "relay", None)
    return chosen if isinstance(chosen, Relay) else Relay.from_settings(request.app.state.settings)


def link_to(request: Request, path: str) -> str:
    return f"{request.app.state.settings.public_url.rstrip('/')}{path}"


def compose(
    relay: Relay, to: str, language: str, subject: str, lines: list[str], **values: object
) -> EmailMessage:
    """A message in `language`: `subject` and `lines` are French source strings (portal.i18n),
    filled with `values` once translated."""
    texts = i18n.Texts(language)
    subject_text = texts.gettext(subject) % values
    body = [texts.gettext(line) % values for line in lines]
    context = {"subject": subject_text, "lines": body}
    message = EmailMessage()
    message["From"] = relay.sender
    message["To"] = to
    message["Subject"] = subject_text
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(f"portail-{uuid.uuid4().hex}", relay.sender)
    message.set_content(i18n.render(templates, "mail.txt", language, **context))
    message.add_alternative(i18n.render(templates, "mail.html", language, **context), "html")
    message["Content-Language"] = language  # after the content, which resets Content-* headers
    return message


async def deliver(request: Request, message: EmailMessage) -> bool:
    """Sent, or logged (a relay down, an address refused): True once the relay took it."""
    try:
        await run_in_threadpool(send, relay(request), message)
        return True
    except (Refused, smtplib.SMTPException, OSError) as error:
        log.warning("portal mail to %s not sent: %s", message["To"], error)
        return False
