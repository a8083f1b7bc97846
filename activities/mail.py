"""Delivery of the notifications the workflows record in the outbox: one e-mail per row, over SMTP
(smtplib), by an activity its workflow schedules right after the transition (durable retries with
backoff over days). The Message-ID is derived from the row's key, so a message sent again after a
crash is the same message to every mail system on the way; a row already sent is not sent again.
A permanent refusal (a bad address, a 5xx answer, a message that cannot be composed: a line break
in its subject or its address) is recorded and not retried."""

import hashlib
import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import Engine, func, literal, update
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.ids import Kind
from domain.models import Language
from domain.notices import (
    CONSOLE,
    DUES,
    EVALUATOR,
    MAILBOX,
    PROGRAMME,
    due_text,
    language_of,
    result_published,
)
from domain.session import SessionState
from domain.session_notices import session_convened
from domain.workdays import response_due
from projection.storage import Storage
from projection.tables import CommitteeSessionRow, OutboxRow, UserRow
from settings import Settings

if TYPE_CHECKING:
    from activities.letters import Letter

NOTICE_REFUSED = "NoticeRefused"  # the error type the workflows do not retry
PACK_FILENAME = "dossier-de-seance.pdf"  # a convocation's attachment
OUTBOX = OutboxRow.__table__
# Every message in one layout, as text and as HTML (Jinja2 escapes the HTML one's values).
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
)


def linked(line: str, console: str) -> Markup:
    """A line of a notice in HTML: escaped, the console's own links made links (never a link
    someone wrote into a name or a reason)."""
    pattern = re.compile(re.escape(str(escape(console))) + r"(?:/[^\s<]*)?")
    return Markup(
        pattern.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', str(escape(line)))
    )


TEMPLATES.filters["linked"] = linked
CASES = {"application": "Candidature", "cluster": "Dossier de soutien du cluster", "call": "Appel"}
# The layout's own words around an applicant's notice, in the language the notice is worded in
# (the staff's notices are French); its fixed lines are in the templates (notice.html|txt).
AROUND: dict[Language, dict[str, str]] = {
    "fr": {
        "greeting": "Madame, Monsieur,",
        "reference": "Référence à rappeler : {case}",
        "answer": "Pour répondre ou pour toute question, répondez à ce message ou écrivez à "
        "{programme}, en rappelant la référence {case}.",
    },
    "ar": {
        "greeting": "السيدة المحترمة، السيد المحترم،",
        "reference": "المرجع الواجب التذكير به: {case}",
        "answer": "للرد أو لأي استفسار، يُرجى الرد على هذه الرسالة أو مراسلة {programme}، "
        "مع التذكير بالمرجع {case}.",
    },
}


class Refused(Exception):
    """Nobody will ever take this message as it is: retrying would not help."""


@dataclass(frozen=True)
class Relay:
    """The SMTP relay and the sender, from the environment (Settings) when the worker starts."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    sender: str = "Programme d'appui aux clusters <clusters@localhost>"
    programme: str = "programme@localhost"  # the programme managers' shared mailbox
    # The service as people reach it: the console's links in the notices (PUBLIC_URL).
    public_url: str = field(default_factory=lambda: Settings().public_url)

    @property
    def console(self) -> str:
        """The console's address, as the notices' links start."""
        return f"{self.public_url.rstrip('/')}/console"

    def environment(self) -> dict[str, str]:
        """The variables that make a worker in another process send through this relay."""
        return {
            "SMTP_HOST": self.host,
            "SMTP_PORT": str(self.port),
            "MAIL_FROM": self.sender,
            "MAIL_PROGRAMME": self.programme,
            "PUBLIC_URL": self.public_url,
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> "Relay":
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
            settings.mail_from,
            settings.mail_programme,
            settings.public_url,
        )


def unbuildable(subject: str, address: str, error: Exception) -> str:
    """Why a notice cannot be composed, for the operator who sees it failed."""
    for what, value in (("l'adresse du destinataire", address), ("l'objet", subject)):
        if "\r" in value or "\n" in value:
            shown = value.replace("\r", "\\r").replace("\n", "\\n")[:120]
            return (
                f"Courrier impossible à composer : {what} contient un saut de ligne (« {shown} »)."
            )
    return f"Courrier impossible à composer : {type(error).__name__} : {error}"[:500]


def written_in(
    body: str, relay: Relay, sent: datetime, due_days: int | None, due_working: bool
) -> str:
    """The notice's text with what only its sending knows: the end of a response time that
    runs from now (as the workflow counts it: domain.workdays.response_due), written as its
    language writes it, the console's public address, the programme's mailbox."""
    if due_days is not None:
        due = response_due(sent, due_days, due_working)
        for language, mark in DUES.items():
            body = body.replace(mark, due_text(due, language))
    return body.replace(CONSOLE, relay.console).replace(MAILBOX, relay.programme)


def message_id(key: str, sender: str) -> str:
    """The same for every attempt at one notification."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def send(relay: Relay, message: EmailMessage) -> None:
    """One message through the relay; Refused when the relay will never take it (5xx). Also
    how the staff invitations are sent (web.invitations), outside any workflow."""
    if not relay.host:
        raise smtplib.SMTPException("Aucun relais SMTP configuré (SMTP_HOST).")
    with smtplib.SMTP(relay.host, relay.port, timeout=20) as smtp:
        if relay.starttls:
            smtp.starttls()
        if relay.username:
            smtp.login(relay.username, relay.password)
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Refused(f"Adresse refusée par le serveur : {error.recipients}") from None
            raise
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
            if error.smtp_code >= 500:
                raise Refused(
                    f"Message refusé ({error.smtp_code}) : {error.smtp_error!r}"
                ) from None
            raise


class Mail:
    def __init__(self, engine: Engine, relay: Relay, storage: Storage) -> None:
        self.engine, self.relay, self.storage = engine, relay, storage

    @activity.defn
    def deliver_notice(self, key: str) -> datetime:
        """Send the outbox's notification `key` once; answer when it was sent."""
        with Session(self.engine) as db:  # read, then closed: no transaction while sending
            row = db.exec(select(OutboxRow).where(OutboxRow.key == key)).one()
            if row.sent_at is not None:
                return row.sent_at
            if row.status == "failed":
                raise ApplicationError(
                    row.last_error or "", type=NOTICE_REFUSED, non_retryable=True
                )
            refusal: Refused | None = None
            try:
                address = self._address(db, row.recipient)
            except Refused as error:
                refusal = error
        if refusal:  # recorded once the read's connection is back in the pool: 16 refusals at
            self._refused(key, refusal)  # once would otherwise hold every connection and wait
        # The engine's clock, as the workflow's: a response time counted from here ends on the
        # date the workflow counts too (and the time-skipping tests skip both).
        sent = activity.info().started_time
        body = written_in(row.body, self.relay, sent, row.due_days, row.due_working)
        letter = self._letter(row, sent)
        attached: dict[str, str] = {}
        if letter:  # storage keeps a letter under its hash: the row refers to it by the hash
            attached = {"attachment": letter.pdf.sha256, "attachment_sha256": letter.pdf.sha256}
        try:
            self._send(self._message(row, address, body, letter))
        except Refused as error:
            self._refused(key, error)
        except (OSError, smtplib.SMTPException) as error:
            self._record(key, last_error=f"{type(error).__name__}: {error}"[:500])
            raise
        self._record(
            key,
            status="sent",
            sent_at=sent,
            address=address,
            last_error=None,
            body=body,
            **attached,
        )
        return sent

    def _letter(self, row: OutboxRow, sent: datetime) -> "Letter | None":
        """The document a notice carries. A result's letter (activities.letters), kept before it
        leaves: whatever was sent is kept with the dossier, and a retry the same day builds and
        keeps the same bytes. A convocation's meeting pack, as its session built it."""
        if row.kind == session_convened.__name__:
            return self._pack(row)
        if row.kind != result_published.__name__:
            return None
        # Imported here: the API sends its invitations through this module, without WeasyPrint.
        from activities.letters import result_letter

        with Session(self.engine) as db:
            letter = result_letter(db, row.key, sent)
        self.storage.keep_document(letter.pdf.content)
        return letter

    def _pack(self, row: OutboxRow) -> "Letter | None":
        from activities.letters import Letter
        from activities.pdf import BuiltPdf

        session_id = row.key.split(":", 1)[0].removeprefix(f"{Kind.SESSION}-")
        with Session(self.engine) as db:
            found = db.get(CommitteeSessionRow, session_id)
        pack = SessionState.model_validate(found.state).pack if found else None
        if pack is None:
            return None
        content = self.storage.content(pack.sha256)
        return Letter(filename=PACK_FILENAME, pdf=BuiltPdf(content=content, sha256=pack.sha256))

    def _refused(self, key: str, error: Refused) -> NoReturn:
        self._record(key, status="failed", last_error=str(error))
        raise ApplicationError(str(error), type=NOTICE_REFUSED, non_retryable=True) from None

    @activity.defn
    def give_up_notice(self, key: str, days: int) -> None:
        """A notice still unsent after `days` of attempts: recorded as failed (its case is
        flagged by its workflow)."""
        with self.engine.begin() as db:
            db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.key == key, OUTBOX.c.status == "pending")
                .values(
                    status="failed",
                    last_error=literal(
                        f"Non remis après {days} jour(s) d'essais ; dernière erreur : "
                    )
                    + func.coalesce(OUTBOX.c.last_error, "aucune réponse du relais"),
                )
            )

    def _address(self, db: Session, recipient: str) -> str:
        """An address as written; a staff member's from their account; the programme's."""
        if recipient == PROGRAMME:
            return self.relay.programme
        if recipient.startswith(EVALUATOR):
            name = recipient.removeprefix(EVALUATOR)
            email = db.exec(select(UserRow.email).where(UserRow.name == name)).first()
            if not email:
                raise Refused(
                    f"Aucune adresse électronique pour « {name} » (compte sans courriel)."
                )
            return email
        if "@" not in parseaddr(recipient)[1]:
            raise Refused(f"Adresse invalide : « {recipient} ».")
        return recipient

    def _message(
        self, row: OutboxRow, address: str, body: str, letter: "Letter | None" = None
    ) -> EmailMessage:
        """The message, or Refused if the email library will not compose it (a header holding
        a line break, a character it cannot encode): no attempt would ever do better."""
        try:
            message = self._compose(row, address, body)
            if letter:
                message.add_attachment(
                    letter.pdf.content,
                    maintype="application",
                    subtype="pdf",
                    filename=letter.filename,
                )
            message.as_bytes()  # what sending it would write, headers checked once more
        except (ValueError, TypeError, MessageError) as error:
            raise Refused(unbuildable(row.subject, address, error)) from None
        return message

    def _compose(self, row: OutboxRow, address: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.relay.sender
        message["To"] = address
        message["Subject"] = row.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id(row.key, self.relay.sender)
        if row.recipient != PROGRAMME:  # an answer reaches the programme, not the robot
            message["Reply-To"] = self.relay.programme
        kind, _, rest = row.key.partition("-")
        case = rest.split(":", 1)[0]
        staff = row.recipient == PROGRAMME or row.recipient.startswith(EVALUATOR)
        language: Language = "fr" if staff else language_of(row.body)
        around = {
            part: words.format(case=case, programme=self.relay.programme)
            for part, words in AROUND[language].items()
        }
        if staff:
            around["reference"] = f"Dossier : {CASES.get(kind, kind)} {case}"
            around["answer"] = "Message envoyé automatiquement par la console du programme."
        context = {
            "subject": row.subject,
            "body": body,
            "console": self.relay.console,
            "language": language,
            **around,
        }
        message.set_content(TEMPLATES.get_template("notice.txt").render(context))
        message.add_alternative(
            TEMPLATES.get_template("notice.html").render(context), subtype="html"
        )
        message["Content-Language"] = language  # after the content, which resets Content-*
        return message

    def _send(self, message: EmailMessage) -> None:
        send(self.relay, message)

    def _record(self, key: str, **changes: object) -> None:
        """One attempt more, and what it changed."""
        with self.engine.begin() as db:
            db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.key == key)
                .values(attempts=OUTBOX.c.attempts + 1, **changes)
            )
