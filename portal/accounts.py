"""The portal's people and their associations, in the database (projection.tables): sign-in
links, sessions, associations, members and invitations.

A link's secret and a session's id are random and only their SHA-256 is stored, as for the staff
(web.identity). A link serves once, for LINK_MINUTES; opening it uses nothing (a mail scanner
may open it): only the confirmation page's button does. Links are counted in the database, so
every replica sees the same LINKS_PER_QUARTER per address and per client.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from projection.tables import (
    AssociationRow,
    MembershipRow,
    PersonRow,
    PortalSessionRow,
    SignInLinkRow,
)
from web.identity import EMAIL, digest

LINK_MINUTES = 15
LINKS_PER_QUARTER = 5  # per address and per client, over the last LINK_MINUTES
SESSION_HOURS = 12
INVITATION_DAYS = 7
SECRET_MAX = 100  # longer than any secret made here: refused without a lookup
MAX_NAME = 200


class MemberRole(StrEnum):
    REPRESENTATIVE = "representant"  # everything, members included
    CONTRIBUTOR = "contributeur"  # edits and deposits
    READER = "lecteur"  # reads


EDITORS = frozenset({MemberRole.REPRESENTATIVE, MemberRole.CONTRIBUTOR})


class AccountError(ValueError):
    """A request the portal refuses; `message` is a French source string (portal.i18n)."""


class TooManyLinks(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def now() -> datetime:
    return datetime.now(UTC)


def normal_email(text: str) -> str | None:
    """The address as stored (trimmed, lower-cased), or None when it is not one."""
    address = text.strip().lower()
    return address if len(address) <= 254 and EMAIL.fullmatch(address) else None


# --- sign-in links ---------------------------------------------------------------------------
def ask_link(db: Session, email: str, client: str, at: datetime) -> str:
    """A new link's secret for `email`, whether or not a person has it (the answer is the same);
    TooManyLinks past LINKS_PER_QUARTER for the address or the client."""
    since = at - timedelta(minutes=LINK_MINUTES)
    for column, value in ((SignInLinkRow.email, email), (SignInLinkRow.client, client)):
        recent = db.exec(
            select(SignInLinkRow.created_at)
            .where(column == value, col(SignInLinkRow.created_at) > since)
            .order_by(col(SignInLinkRow.created_at))
        ).all()
        if len(recent) >= LINKS_PER_QUARTER:
            free_at = recent[-LINKS_PER_QUARTER] + timedelta(minutes=LINK_MINUTES)
            raise TooManyLinks(max(1, int((free_at - at).total_seconds()) + 1))
    secret = secrets.token_urlsafe(32)
    db.add(
        SignInLinkRow(
            digest=digest(secret),
            email=email,
            client=client[:100],
            created_at=at,
            expires_at=at + timedelta(minutes=LINK_MINUTES),
        )
    )
    db.commit()
    return secret


class LinkState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    USED = "used"
    UNKNOWN = "unknown"


def link(db: Session, secret: str, at: datetime) -> tuple[LinkState, SignInLinkRow | None]:
    """What a link is now, without using it."""
    if len(secret) > SECRET_MAX:
        return LinkState.UNKNOWN, None
    row = db.exec(select(SignInLinkRow).where(SignInLinkRow.digest == digest(secret))).first()
    if row is None:
        return LinkState.UNKNOWN, None
    if row.used_at is not None:
        return LinkState.USED, row
    if row.expires_at <= at:
        return LinkState.EXPIRED, row
    return LinkState.VALID, row


def use_link(db: Session, secret: str, at: datetime) -> tuple[LinkState, PersonRow | None]:
    """The link used, once (a second click at the same moment finds it used), and its person,
    made at their first sign-in."""
    state, row = link(db, secret, at)
    if state != LinkState.VALID or row is None:
        return state, None
    taken = db.exec(  # type: ignore[call-overload]
        update(SignInLinkRow)
        .where(col(SignInLinkRow.id) == row.id, col(SignInLinkRow.used_at).is_(None))
        .values(used_at=at)
    )
    if taken.rowcount != 1:
        db.rollback()
        return LinkState.USED, None
    person = db.exec(select(PersonRow).where(PersonRow.email == row.email)).first()
    if person is None:
        person = PersonRow(email=row.email, created_at=at)
        db.add(person)
    try:
        db.commit()
    except IntegrityError:  # made meanwhile by another link of the same address
        db.rollback()
        return use_link(db, secret, at)
    db.refresh(person)
    return LinkState.VALID, person


# --- sessions --------------------------------------------------------------------------------
def open_session(db: Session, person: PersonRow, at: datetime) -> str:
    session_id = secrets.token_urlsafe(32)
    assert person.id is not None
    expires = at + timedelta(hours=SESSION_HOURS)
    db.add(PortalSessionRow(digest=digest(session_id), person_id=person.id, expires_at=expires))
    db.commit()
    return session_id


def person_for_session(db: Session, session_id: str, at: datetime) -> PersonRow | None:
    if not session_id or len(session_id) > SECRET_MAX:
        return None
    found = db.exec(
        select(PersonRow)
        .join(PortalSessionRow)
        .where(PortalSessionRow.digest == digest(session_id), PortalSessionRow.expires_at > at)
    ).first()
    return found


def end_session(db: Session, session_id: str) -> None:
    row = db.get(PortalSessionRow, digest(session_id))
    if row is not None:
        db.delete(row)
        db.commit()


def set_profile(db: Session, person: PersonRow, name: str | None, language: str | None) -> None:
    if name is not None:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise AccountError("Indiquez votre nom (200 caractères au plus).")
        person.name = name
    if language is not None:
        person.language = language
    db.add(person)
    db.commit()


# --- associations and their members -----------------------------------------------------------
@dataclass(frozen=True)
class Membership:
    association: AssociationRow
    role: MemberRole


def memberships(db: Session, person: PersonRow) -> list[Membership]:
    rows = db.exec(
        select(MembershipRow, AssociationRow)
        .join(AssociationRow)
        .where(MembershipRow.email == person.email, col(MembershipRow.joined_at).is_not(None))
        .order_by(AssociationRow.name)
    ).all()
    return [Membership(association, MemberRole(member.role)) for member, association in rows]


def membership(db: Session, person: PersonRow, association_id: str) -> Membership | None:
    return next((m for m in memberships(db, person) if m.association.id == association_id), None)


def invitations_for(db: Session, person: PersonRow, at: datetime) -> list[Membership]:
    """The invitations waiting for this person's address (not expired)."""
    rows = db.exec(
        select(MembershipRow, AssociationRow)
        .join(AssociationRow)
        .where(
            MembershipRow.email == person.email,
            col(MembershipRow.joined_at).is_(None),
            col(MembershipRow.expires_at) > at,
        )
    ).all()
    return [Membership(association, MemberRole(member.role)) for member, association in rows]


def create_association(db: Session, person: PersonRow, name: str, at: datetime) -> AssociationRow:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise AccountError("Indiquez le nom de l'association (200 caractères au plus).")
    association = AssociationRow(id=uuid.uuid4().hex[:16], name=name, created_at=at)
    db.add(association)
    db.add(
        MembershipRow(
            association_id=association.id,
            email=person.email,
            role=MemberRole.REPRESENTATIVE,
            invited_at=at,
            joined_at=at,
        )
    )
    db.commit()
    db.refresh(association)
    return association


def members(db: Session, association_id: str) -> list[MembershipRow]:
    return list(
        db.exec(
            select(MembershipRow)
            .where(MembershipRow.association_id == association_id)
            .order_by(col(MembershipRow.joined_at).is_(None), MembershipRow.email)
        ).all()
    )


def names(db: Session, emails: list[str]) -> dict[str, str]:
    rows = db.exec(select(PersonRow).where(col(PersonRow.email).in_(emails))).all()
    return {row.email: row.name for row in rows}


def invite(
    db: Session, association_id: str, by: PersonRow, email: str, role: MemberRole, at: datetime
) -> MembershipRow:
    """An invitation for `email` (a new one replaces an invitation not yet accepted)."""
    existing = db.exec(
        select(MembershipRow).where(
            MembershipRow.association_id == association_id, MembershipRow.email == email
        )
    ).first()
    if existing is not None and existing.joined_at is not None:
        raise AccountError("Cette personne est déjà membre de l'association.")
    row = existing or MembershipRow(association_id=association_id, email=email, role=role)
    row.role, row.invited_by, row.invited_at = role, by.name or by.email, at
    row.expires_at = at + timedelta(days=INVITATION_DAYS)
    db.add(row)
    db.commit()
    db.refresh(row)
    return row


def accept(db: Session, person: PersonRow, association_id: str, at: datetime) -> Membership:
    row = db.exec(
        select(MembershipRow).where(
            MembershipRow.association_id == association_id,
            MembershipRow.email == person.email,
            col(MembershipRow.joined_at).is_(None),
        )
    ).first()
    if row is None or row.expires_at is None or row.expires_at <= at:
        raise AccountError("Cette invitation a expiré : demandez-en une nouvelle.")
    row.joined_at, row.expires_at = at, None
    db.add(row)
    db.commit()
    association = db.get(AssociationRow, association_id)
    assert association is not None
    return Membership(association, MemberRole(row.role))


def remove_member(db: Session, association_id: str, email: str) -> None:
    """A member or an invitation removed; the last representative stays."""
    row = db.exec(
        select(MembershipRow).where(
            MembershipRow.association_id == association_id, MembershipRow.email == email
        )
    ).first()
    if row is None:
        raise AccountError("Membre inconnu.")
    if row.role == MemberRole.REPRESENTATIVE and row.joined_at is not None:
        representatives = db.exec(
            select(func.count())
            .select_from(MembershipRow)
            .where(
                MembershipRow.association_id == association_id,
                MembershipRow.role == MemberRole.REPRESENTATIVE,
                col(MembershipRow.joined_at).is_not(None),
            )
        ).one()
        if representatives <= 1:
            raise AccountError("L'association garde au moins un représentant.")
    db.delete(row)
    db.commit()
