"""Staff accounts, for admins: add a person (invited by e-mail when they have an address),
send the invitation again, issue a token, revoke one token, deactivate."""

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from activities.mail import Relay
from console.pages import (
    Signed,
    back,
    render,
    router,
)
from domain.bodies import EvaluatorRelease
from domain.models import Actor
from domain.stages import Action, Role
from projection import assignments
from web import identity, invitations
from web.applications import APPLICATIONS
from web.deps import Db
from web.errors import ApiError

HERE = "/console/utilisateurs"


def users_page(request: Request, actor: Actor, db: Db, new_token: dict | None = None) -> Response:
    if actor.role != Role.ADMIN:
        return back(
            "/console/", "erreur", "Seul un gestionnaire du programme gère les utilisateurs."
        )
    return render(
        request,
        "utilisateurs.html",
        actor,
        users=identity.users(db),
        invitations=invitations.latest(db),
        new_token=new_token,
        now=identity.now(),
        invitation_days=invitations.INVITATION_DAYS,
    )


def relay(request: Request) -> Relay:
    """The notices' relay: the one the embedded run set up beside its worker (`app.state.relay`,
    its mail catcher), else SMTP_HOST and its settings."""
    chosen = getattr(request.app.state, "relay", None)
    return chosen if isinstance(chosen, Relay) else Relay.from_settings(request.app.state.settings)


async def invite(request: Request, actor: Actor, db: Db, name: str) -> Response:
    """A new one-time link mailed to `name`; the admin is told whether it left."""
    settings = request.app.state.settings
    sending = await run_in_threadpool(
        invitations.invite, db, name, actor.name, relay(request), settings.public_url
    )
    return back(HERE, "succes" if sending.error is None else "erreur", sending.report())


@router.get("/utilisateurs", response_class=HTMLResponse)
def users(request: Request, actor: Signed, db: Db) -> Response:
    return users_page(request, actor, db)


@router.post("/utilisateurs")
async def manage_user(request: Request, actor: Signed, db: Db) -> Response:
    """Add a person (invited by e-mail when they have an address, else given a first token),
    invite again, issue a token, revoke one token (the sessions it opened end with it), or
    deactivate: a new token is shown on the answering page itself, once, never carried in a
    cookie or a redirect."""
    if actor.role != Role.ADMIN:
        return users_page(request, actor, db)
    form = await request.form()
    action, name = str(form.get("action") or ""), str(form.get("name") or "")
    try:
        if action == "ajouter":
            role, email = str(form.get("role") or ""), str(form.get("email") or "").strip()
            user = await run_in_threadpool(identity.add_user, db, name, role, email or None)
            name = user.name
            if user.email:
                return await invite(request, actor, db, name)
        if action == "inviter":
            return await invite(request, actor, db, name)
        if action in ("ajouter", "jeton"):
            token = await run_in_threadpool(identity.issue_token, db, name)
            return users_page(request, actor, db, {"name": name, "token": token})
        if action == "revoquer":
            number = str(form.get("jeton") or "")
            if not number.isdigit() or len(number) > 18:
                raise identity.IdentityError("Jeton à révoquer inconnu.")
            holder = await run_in_threadpool(identity.revoke_token, db, int(number))
            return back(
                HERE,
                "succes",
                f"Jeton n° {number} de {holder} révoqué ; les sessions ouvertes avec lui sont fermées.",
            )
        if action != "desactiver":
            raise identity.IdentityError("Action inconnue.")
        await run_in_threadpool(identity.deactivate, db, name)
    except identity.IdentityError as error:
        return back(HERE, "erreur", str(error))
    released, failed = await release_open_assignments(request, actor, db, name)
    lines = f"{name} : désactivé(e) ; son invitation ne vaut plus."
    if released:
        lines += (
            f" Retiré(e) de {released} dossier(s) en cours d'évaluation : ils figurent dans "
            "« Évaluateurs manquants » (À traiter), les gestionnaires sont prévenus."
        )
    if failed:
        lines += f" {failed} dossier(s) à traiter depuis leur page (« Retirer un évaluateur »)."
    return back(HERE, "erreur" if failed else "succes", lines)


async def release_open_assignments(
    request: Request, actor: Actor, db: Db, name: str
) -> tuple[int, int]:
    """A deactivated evaluator's cases not yet scored are released, each by its own update
    (its audit event, the managers' notice): the gap shows in « À traiter » at once."""
    release = APPLICATIONS.actions[Action.RELEASE_EVALUATOR]
    body = EvaluatorRelease(evaluator=name, reason="Compte désactivé")
    released = failed = 0
    for case_id in assignments.open_assignments(db, name):
        try:
            await release.perform(request, case_id, actor, db, body, f"release-{case_id}-{name}")
            released += 1
        except (ApiError, HTTPException):
            failed += 1
    return released, failed
