"""The signed-in person's pages: their name, their associations (made here, or joined by an
invitation), an association's page (its open calls, its dossiers, its people) and its members'
management by a representative."""

from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select

from domain.stages import CallStage
from portal import accounts, dossier, i18n
from portal.accounts import EDITORS, AccountError, MemberRole, Membership
from portal.i18n import N_
from portal.mail import compose, deliver, link_to, relay
from portal.pages import PREFIX, SIGN_IN, Person, back, database, render, router
from projection import queries
from projection.tables import ApplicationRow, CallRow, PersonRow

INVITE_SUBJECT = N_("Invitation à rejoindre %(association)s sur le portail des clusters")
INVITE_LINES = [
    N_("Bonjour,"),
    N_(
        "%(by)s vous invite à rejoindre l'association « %(association)s » sur le portail du "
        "Programme d'appui aux clusters, en tant que %(role)s."
    ),
    N_("Connectez-vous avec cette adresse pour accepter l'invitation :"),
    "%(link)s",
    N_("L'invitation est valable %(days)s jours."),
]
ROLE_NAMES = {
    MemberRole.REPRESENTATIVE: N_("représentant(e)"),
    MemberRole.CONTRIBUTOR: N_("contributeur(rice)"),
    MemberRole.READER: N_("lecteur(rice)"),
}
NOT_A_MEMBER = N_("Vous n'êtes pas membre de cette association.")


def member(db: Session, person: PersonRow, association_id: str, *roles: MemberRole) -> Membership:
    """The person's membership (404 when none: an association is not shown to strangers), with
    one of `roles` when given (403)."""
    found = accounts.membership(db, person, association_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_A_MEMBER)
    if roles and found.role not in roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, N_("Votre rôle dans l'association ne le permet pas.")
        )
    return found


@router.get("/", response_class=HTMLResponse)
def home(request: Request, person: Person) -> Response:
    at = accounts.now()
    with database(request) as db:
        mine = accounts.memberships(db, person)
        waiting = accounts.invitations_for(db, person, at)
    if person.name and len(mine) == 1 and not waiting:
        return RedirectResponse(f"{PREFIX}/associations/{mine[0].association.id}", 303)
    return render(request, "accueil.html", person, memberships=mine, invitations=waiting)


@router.post("/profil")
async def profile(request: Request, person: Person) -> Response:
    name = str((await request.form()).get("name") or "")
    with database(request) as db:
        try:
            accounts.set_profile(db, db.merge(person), name, None)
        except AccountError as refused:
            return back(request, f"{PREFIX}/", "erreur", str(refused))
    return back(request, f"{PREFIX}/", "succes", N_("Votre nom est enregistré."))


@router.post("/associations")
async def create_association(request: Request, person: Person) -> Response:
    name = str((await request.form()).get("name") or "")
    with database(request) as db:
        try:
            made = accounts.create_association(db, person, name, accounts.now())
        except AccountError as refused:
            return back(request, f"{PREFIX}/", "erreur", str(refused))
    return back(request, f"{PREFIX}/associations/{made.id}", "succes", N_("Association créée."))


@router.post("/invitations/{association_id}")
def accept_invitation(request: Request, association_id: str, person: Person) -> Response:
    with database(request) as db:
        try:
            joined = accounts.accept(db, person, association_id, accounts.now())
        except AccountError as refused:
            return back(request, f"{PREFIX}/", "erreur", str(refused))
    return back(
        request,
        f"{PREFIX}/associations/{joined.association.id}",
        "succes",
        N_("Vous avez rejoint l'association."),
    )


@dataclass(frozen=True)
class CallLine:
    """An open call as the association sees it: its dossier's state."""

    id: str
    title: str
    deadline: object
    draft: object | None


@router.get("/associations/{association_id}", response_class=HTMLResponse)
def association_page(request: Request, association_id: str, person: Person) -> Response:
    with database(request) as db:
        membership = member(db, person, association_id)
        drafts = {d.call_id: d for d in dossier.drafts_of(db, association_id)}
        open_calls = db.exec(
            select(CallRow).where(CallRow.stage == CallStage.OPEN).order_by(CallRow.deadline)
        ).all()
        calls = [CallLine(c.id, c.title, c.deadline, drafts.get(c.id)) for c in open_calls]
        deposited = [d.application_id for d in drafts.values() if d.application_id]
        cases = [
            queries.application_state(row)
            for row in db.exec(
                select(ApplicationRow).where(ApplicationRow.id.in_(deposited))  # type: ignore[union-attr]
            ).all()
        ]
        people = accounts.members(db, association_id)
        known = accounts.names(db, [m.email for m in people])
    return render(
        request,
        "association.html",
        person,
        membership=membership,
        calls=calls,
        cases=cases,
        people=people,
        known=known,
        roles=ROLE_NAMES,
        editors=EDITORS,
        representative=membership.role == MemberRole.REPRESENTATIVE,
    )


@router.post("/associations/{association_id}/membres")
async def invite(request: Request, association_id: str, person: Person) -> Response:
    form = await request.form()
    here = f"{PREFIX}/associations/{association_id}"
    email = accounts.normal_email(str(form.get("email") or ""))
    role = str(form.get("role") or "")
    if email is None or role not in set(MemberRole):
        return back(request, here, "erreur", N_("Indiquez une adresse valide et un rôle."))
    at = accounts.now()
    with database(request) as db:
        membership = member(db, person, association_id, MemberRole.REPRESENTATIVE)
        try:
            accounts.invite(db, association_id, person, email, MemberRole(role), at)
        except AccountError as refused:
            return back(request, here, "erreur", str(refused))
        invitee = db.exec(select(PersonRow).where(PersonRow.email == email)).first()
        language = invitee.language if invitee else person.language
    message = compose(
        relay(request),
        email,
        language,
        INVITE_SUBJECT,
        INVITE_LINES,
        by=person.name,
        association=membership.association.name,
        role=i18n.gettext(language, ROLE_NAMES[MemberRole(role)]),  # in the invitee's words
        link=link_to(request, SIGN_IN),
        days=accounts.INVITATION_DAYS,
    )
    sent = await deliver(request, message)
    if not sent:
        return back(
            request,
            here,
            "erreur",
            N_("L'invitation n'a pas pu être envoyée à %(email)s."),
            email=email,
        )
    return back(request, here, "succes", N_("Invitation envoyée à %(email)s."), email=email)


@router.post("/associations/{association_id}/membres/retirer")
async def remove(request: Request, association_id: str, person: Person) -> Response:
    email = str((await request.form()).get("email") or "")
    here = f"{PREFIX}/associations/{association_id}"
    with database(request) as db:
        member(db, person, association_id, MemberRole.REPRESENTATIVE)
        try:
            accounts.remove_member(db, association_id, email)
        except AccountError as refused:
            return back(request, here, "erreur", str(refused))
    return back(request, here, "succes", N_("Membre retiré."))
