"""Staff identity: users, their API tokens and their console sessions, in the database.

Tokens and session ids are random secrets shown once; only their SHA-256 is stored, so a copy of
the database opens no door. A deactivated user's tokens and sessions stop at once; a revoked
token stops at once, and so do the console sessions it opened.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.models import Actor
from domain.stages import Role
from projection.tables import InvitationRow, SessionRow, TokenRow, UserRow
from web.tokens import MIN_LENGTH, PERSON_ROLES

SESSION_HOURS = 12
EMAIL = re.compile(r"[^@\s]{1,100}@[^@\s]{1,99}\.[^@\s]{1,20}")


class IdentityError(ValueError):
    """A request the identity store refuses, said in French."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def _actor(user: UserRow) -> Actor:
    return Actor(name=user.name, role=Role(user.role))


def _live_token(db: Session, token: str) -> tuple[TokenRow, UserRow] | None:
    """The token's row and its active holder; none for a token too short to be one (not even
    looked up) or revoked, or whose holder is deactivated."""
    if len(token) < MIN_LENGTH:
        return None
    query = (
        select(TokenRow, UserRow)
        .join(UserRow)
        .where(TokenRow.digest == digest(token), col(TokenRow.revoked_at).is_(None), UserRow.active)
    )
    found = db.exec(query).first()
    return (found[0], found[1]) if found else None


def actor_for_token(db: Session, token: str) -> Actor | None:
    found = _live_token(db, token)
    return _actor(found[1]) if found else None


def actor_for_session(db: Session, session_id: str) -> Actor | None:
    """The session's person while it is open and unexpired, the person active and the token it
    was opened with unrevoked."""
    query = (
        select(UserRow)
        .join(SessionRow, col(SessionRow.user_id) == UserRow.id)
        .join(TokenRow, col(TokenRow.id) == SessionRow.token_id)
        .where(
            SessionRow.digest == digest(session_id),
            SessionRow.expires_at > now(),
            col(TokenRow.revoked_at).is_(None),
            UserRow.active,
        )
    )
    user = db.exec(query).first()
    return _actor(user) if user else None


def open_session(db: Session, token: str) -> tuple[str, Actor] | None:
    """A console session for the token's user: its id (for the cookie) and who it is. The
    session remembers its token, so revoking the token ends it."""
    found = _live_token(db, token)
    if found is None:
        return None
    row, user = found
    session_id = new_session(db, user, row)
    db.commit()
    return session_id, _actor(user)


def new_session(db: Session, user: UserRow, token: TokenRow) -> str:
    """A session row for `user` opened with `token`, in the caller's transaction; its id."""
    session_id = secrets.token_urlsafe(32)
    expires = now() + timedelta(hours=SESSION_HOURS)
    for expired in db.exec(select(SessionRow).where(SessionRow.expires_at <= now())):
        db.delete(expired)  # housekeeping: sessions nobody signed out of
    db.add(
        SessionRow(
            digest=digest(session_id), user_id=user.id, token_id=token.id, expires_at=expires
        )
    )
    return session_id


def end_session(db: Session, session_id: str) -> None:
    row = db.get(SessionRow, digest(session_id))
    if row is not None:
        db.delete(row)
        db.commit()


def user_named(db: Session, name: str) -> UserRow:
    """The user called `name`, or IdentityError saying there is none."""
    user = db.exec(select(UserRow).where(UserRow.name == name)).first()
    if user is None:
        raise IdentityError(f"Utilisateur inconnu : « {name} ».")
    return user


def add_user(db: Session, name: str, role: str, email: str | None = None) -> UserRow:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise IdentityError("Le nom est obligatoire (200 caractères au plus).")
    if role not in PERSON_ROLES:
        raise IdentityError(f"Rôle inconnu : « {role} » (admin, operator, evaluator, committee).")
    if email and not EMAIL.fullmatch(email):
        raise IdentityError(f"Courriel invalide : « {email[:80]} ».")
    if db.exec(select(UserRow).where(UserRow.name == name)).first() is not None:
        raise IdentityError(f"« {name} » existe déjà.")
    user = UserRow(name=name, role=role, email=email or None, created_at=now())
    db.add(user)
    db.commit()
    db.refresh(user)
    return user


def issue_token(db: Session, name: str) -> str:
    """A new API token for an active user: shown once, stored as its digest."""
    user = user_named(db, name)
    if not user.active:
        raise IdentityError(f"« {name} » est désactivé(e).")
    token, _ = new_token(db, user)
    db.commit()
    return token


def new_token(db: Session, user: UserRow) -> tuple[str, TokenRow]:
    """A token for `user`, in the caller's transaction (flushed: its row has its number)."""
    token = secrets.token_urlsafe(32)
    row = TokenRow(user_id=user.id, digest=digest(token), created_at=now())
    db.add(row)
    db.flush()
    return token, row


def deactivate(db: Session, name: str) -> None:
    """The user can no longer act: tokens revoked, console sessions ended, the invitation
    link they may not have opened yet ended too."""
    user = user_named(db, name)
    user.active = False
    for token in db.exec(select(TokenRow).where(TokenRow.user_id == user.id)):
        token.revoked_at = token.revoked_at or now()
    pending = select(InvitationRow).where(
        InvitationRow.user_id == user.id, col(InvitationRow.used_at).is_(None)
    )
    for invitation in db.exec(pending):
        invitation.revoked_at = invitation.revoked_at or now()
    for session in db.exec(select(SessionRow).where(SessionRow.user_id == user.id)):
        db.delete(session)
    db.commit()


def revoke_token(db: Session, token_id: int) -> str:
    """One token stops working, and the console sessions opened with it end; its holder's
    other tokens and sessions go on. Answers the holder's name."""
    query = select(TokenRow, UserRow).join(UserRow).where(TokenRow.id == token_id)
    found = db.exec(query).first()
    if found is None or found[0].revoked_at is not None:
        raise IdentityError(f"Aucun jeton actif n° {token_id}.")
    token, name = found[0], found[1].name
    token.revoked_at = now()
    db.add(token)
    for session in db.exec(select(SessionRow).where(SessionRow.token_id == token_id)):
        db.delete(session)
    db.commit()
    return name


def users(db: Session) -> list[tuple[UserRow, list[TokenRow]]]:
    """Every user, with the API tokens they hold now (unrevoked), oldest first."""
    rows = db.exec(select(UserRow).order_by(UserRow.role, UserRow.name)).all()
    live = select(TokenRow).where(col(TokenRow.revoked_at).is_(None)).order_by(TokenRow.id)
    held: dict[int, list[TokenRow]] = {}
    for token in db.exec(live):
        held.setdefault(token.user_id, []).append(token)
    return [(user, held.get(user.id or 0, [])) for user in rows]


def evaluator_names(db: Session) -> list[str]:
    query = select(UserRow.name).where(UserRow.role == Role.EVALUATOR, UserRow.active)
    return sorted(db.exec(query))


def seed(engine: Engine, tokens: dict[str, Actor], emails: dict[str, str] | None = None) -> None:
    """Users and tokens from API_TOKENS (or the embedded run's tokens file), added if missing.
    API replicas starting together seed at once: the one that loses a race finds the rows there."""
    for attempt in range(3):
        try:
            with Session(engine) as db:
                _seed(db, tokens, emails or {})
            return
        except IntegrityError:
            if attempt == 2:
                raise


def _seed(db: Session, tokens: dict[str, Actor], emails: dict[str, str]) -> None:
    for token, actor in tokens.items():
        user = db.exec(select(UserRow).where(UserRow.name == actor.name)).first()
        if user is None:
            email = emails.get(actor.name)
            user = UserRow(name=actor.name, role=actor.role, email=email, created_at=now())
            db.add(user)
            db.flush()
        known = db.exec(select(TokenRow).where(TokenRow.digest == digest(token))).first()
        if known is None:
            db.add(TokenRow(user_id=user.id, digest=digest(token), created_at=now()))
    db.commit()
