"""Staff invitations: a new person receives by e-mail a one-time link to set their own sign-in,
instead of a token the admin passes on by hand (and so knows).

The link's secret is random and only its SHA-256 is stored. A link serves once, for
INVITATION_DAYS; a new invitation for the same person replaces the previous link, and
deactivating the person ends it. Accepting it issues the person's API token (shown to them
alone, once) and opens their console session, in one transaction. The message is sent here,
during the admin's request, over the notices' SMTP relay (activities.mail.send): mail stays
outside the workflows, and a failure is told to the admin, who may send the invitation again.
"""

import dataclasses
import secrets
import smtplib
from datetime import datetime, timedelta
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import update
from sqlmodel import Session, col, select

from activities.mail import TEMPLATES, Refused, Relay, message_id, send, unbuildable
from domain.clock import local
from domain.models import Actor
from domain.stages import Role
from projection.tables import InvitationRow, UserRow
from web import identity

INVITATION_DAYS = 7
SECRET_MAX = 100  # longer than any link this module makes: refused without a lookup
SUBJECT = "Votre accès à la console du Programme d'appui aux clusters"
# What each role does, told to the newcomer in the invitation.
DUTIES = {
    Role.ADMIN: "gestionnaire du programme : appels, évaluations, contrats de soutien et comptes "
    "du personnel",
    Role.OPERATOR: "opérateur : enregistrement des candidatures, recevabilité, compléments et "
    "rapports annuels",
    Role.EVALUATOR: "évaluateur : notation des candidatures qui vous sont confiées",
    Role.COMMITTEE: "comité de pilotage : décisions de labellisation et réponses aux recours",
}


def when(moment: datetime) -> str:
    return f"{local(moment):%d/%m/%Y à %H:%M} (heure de Rabat)"


@dataclasses.dataclass(frozen=True)
class Sending:
    """What became of one invitation's message: `error` is None when the relay took it."""

    name: str
    email: str
    expires_at: datetime
    error: str | None

    def report(self) -> list[str]:
        """For the admin, in French."""
        if self.error is None:
            return [
                f"Invitation envoyée à {self.name} ({self.email}) : le lien est valable "
                f"jusqu'au {when(self.expires_at)} et ne sert qu'une fois."
            ]
        return [
            f"L'invitation de {self.name} n'a pas pu être envoyée à {self.email} : {self.error}",
            "Vérifiez l'adresse et le relais de courrier (SMTP_HOST), puis « Renvoyer "
            "l'invitation » sur sa ligne : un nouveau lien remplacera celui-ci.",
        ]


class InvitationRefused(Exception):
    """A link that opens nothing: `status` 404 (unknown) or 410 (used, replaced, expired)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text

    @property
    def known(self) -> bool:
        """The secret was a real link's: not a guess."""
        return self.status != 404


def invite(db: Session, name: str, invited_by: str, relay: Relay, public_url: str) -> Sending:
    """A new link for the active user `name` (the previous one no longer opens anything),
    mailed to their address. A failure to send is recorded and answered, not raised."""
    user = identity.user_named(db, name)
    if not user.active:
        raise identity.IdentityError(f"« {user.name} » est désactivé(e) : aucune invitation.")
    if not user.email:
        raise identity.IdentityError(
            f"« {user.name} » n'a pas d'adresse électronique : créez-lui un jeton à transmettre."
        )
    at = identity.now()
    db.exec(
        update(InvitationRow)
        .where(
            col(InvitationRow.user_id) == user.id,
            col(InvitationRow.used_at).is_(None),
            col(InvitationRow.revoked_at).is_(None),
        )
        .values(revoked_at=at)
    )
    secret = secrets.token_urlsafe(32)
    row = InvitationRow(
        user_id=user.id or 0,
        digest=identity.digest(secret),
        invited_by=invited_by,
        created_at=at,
        expires_at=at + timedelta(days=INVITATION_DAYS),
    )
    db.add(row)
    db.flush()  # its number, for the message
    sending = Sending(user.name, user.email, row.expires_at, None)
    link = f"{public_url.rstrip('/')}/console/invitation/{secret}"
    try:
        message: EmailMessage | None = _message(row, user, link, relay.sender)
        problem = None
    except Refused as refused:
        message, problem = None, str(refused)
    number = row.id
    db.commit()  # the link exists before it is sent: no transaction held while sending
    error = _deliver(relay, message) if message is not None else problem
    sent = identity.now() if error is None else None
    db.exec(
        update(InvitationRow)
        .where(col(InvitationRow.id) == number)
        .values(sent_at=sent, send_error=error)
    )
    db.commit()
    return dataclasses.replace(sending, error=error)


def _deliver(relay: Relay, message: EmailMessage) -> str | None:
    """Why the relay did not take the message, in French; None once it did."""
    try:
        send(relay, message)
    except Refused as refused:
        return str(refused)
    except smtplib.SMTPException as error:  # before OSError, its base class
        return f"échec de l'envoi ({type(error).__name__} : {error})."[:500]
    except OSError as error:
        return f"relais de courrier injoignable ({type(error).__name__} : {error})."[:500]
    return None


def _message(row: InvitationRow, user: UserRow, link: str, sender: str) -> EmailMessage:
    body = (
        f"{row.invited_by} vous a ouvert un compte sur la console du Programme d'appui aux "
        f"clusters, avec le rôle de {DUTIES.get(Role(user.role), user.role)}.\n\n"
        f"Pour définir votre accès, ouvrez ce lien personnel :\n{link}\n\n"
        f"Il est valable jusqu'au {when(row.expires_at)} et ne sert qu'une fois. La page qu'il "
        "ouvre vous demande de confirmer, puis affiche votre jeton personnel, une seule fois : "
        "conservez-le dans un gestionnaire de mots de passe. Il vous servira à vous reconnecter "
        "à la console (page « Connexion ») et à utiliser l'API. Vous serez connecté(e) aussitôt.\n\n"
        f"Si le lien a expiré, demandez à {row.invited_by} de vous renvoyer une invitation. "
        "Si vous n'attendiez pas ce message, ignorez-le : le lien expirera de lui-même."
    )
    context = {
        "subject": SUBJECT,
        "body": body,
        "greeting": f"Bonjour {user.name},",
        "reference": f"Référence : invitation n° {row.id}",
    }
    try:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = user.email or ""
        message["Subject"] = SUBJECT
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id(f"invitation-{row.id}", sender)
        message.set_content(TEMPLATES.get_template("notice.txt").render(context))
        message.add_alternative(
            TEMPLATES.get_template("notice.html").render(context), subtype="html"
        )
        message.as_bytes()  # what sending would write: refused headers show here
    except (ValueError, TypeError, MessageError) as error:
        raise Refused(unbuildable(SUBJECT, user.email or "", error)) from None
    return message


def opened(db: Session, secret: str) -> tuple[InvitationRow, UserRow]:
    """The invitation this link is, while it may still be accepted; else InvitationRefused."""
    found = None
    if len(secret) <= SECRET_MAX:
        query = select(InvitationRow, UserRow).join(UserRow)
        found = db.exec(query.where(InvitationRow.digest == identity.digest(secret))).first()
    if found is None:
        raise InvitationRefused(
            404,
            "Ce lien d'invitation est inconnu. Vérifiez qu'il a été copié en entier depuis le "
            "courriel reçu, ou demandez une nouvelle invitation à l'administrateur.",
        )
    row, user = found
    again = f"Demandez à {row.invited_by} de vous renvoyer une invitation."
    if row.used_at is not None:
        raise InvitationRefused(
            410,
            f"Cette invitation a déjà servi, le {when(row.used_at)}. Si vous avez perdu votre "
            f"jeton, demandez-en un nouveau à {row.invited_by}.",
        )
    if not user.active:
        raise InvitationRefused(410, "Ce compte est désactivé : l'invitation ne vaut plus.")
    if row.revoked_at is not None:
        raise InvitationRefused(
            410,
            "Ce lien a été remplacé par une invitation plus récente : "
            "utilisez le dernier courriel reçu.",
        )
    if row.expires_at <= identity.now():
        raise InvitationRefused(
            410, f"Cette invitation a expiré le {when(row.expires_at)}. {again}"
        )
    return row, user


@dataclasses.dataclass(frozen=True)
class Accepted:
    actor: Actor
    token: str  # shown once, to the person alone
    session_id: str


def accept(db: Session, secret: str) -> Accepted:
    """The invitation used (once: two submissions at once, one wins), a token issued and a
    console session opened with it, in one transaction."""
    row, user = opened(db, secret)
    used = db.exec(
        update(InvitationRow)
        .where(
            col(InvitationRow.id) == row.id,
            col(InvitationRow.used_at).is_(None),
            col(InvitationRow.revoked_at).is_(None),  # nor replaced meanwhile
        )
        .values(used_at=identity.now())
    )
    if used.rowcount != 1:
        db.rollback()
        raise InvitationRefused(410, "Cette invitation a déjà servi, ou vient d'être remplacée.")
    token, token_row = identity.new_token(db, user)
    session_id = identity.new_session(db, user, token_row)
    db.commit()
    return Accepted(Actor(name=user.name, role=Role(user.role)), token, session_id)


def latest(db: Session) -> dict[int, InvitationRow]:
    """Each user's most recent invitation, for the accounts page."""
    rows = db.exec(select(InvitationRow).order_by(col(InvitationRow.id)))
    return {row.user_id: row for row in rows}
