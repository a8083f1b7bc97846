"""Staff accounts, for admins: add a person, issue a token, revoke one token, deactivate."""

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from console.pages import (
    Signed,
    back,
    render,
    router,
)
from domain.models import Actor
from domain.stages import Role
from web import identity
from web.deps import Db


def users_page(request: Request, actor: Actor, db: Db, new_token: dict | None = None) -> Response:
    if actor.role != Role.ADMIN:
        return back(
            "/console/", "erreur", "Seul un gestionnaire du programme gère les utilisateurs."
        )
    return render(
        request, "utilisateurs.html", actor, users=identity.users(db), new_token=new_token
    )


@router.get("/utilisateurs", response_class=HTMLResponse)
def users(request: Request, actor: Signed, db: Db) -> Response:
    return users_page(request, actor, db)


@router.post("/utilisateurs")
async def manage_user(request: Request, actor: Signed, db: Db) -> Response:
    """Add a person (and their first token), issue a token, revoke one token (the sessions it
    opened end with it), or deactivate: a new token is shown on the answering page itself,
    once, never carried in a cookie or a redirect."""
    if actor.role != Role.ADMIN:
        return users_page(request, actor, db)
    form = await request.form()
    action, name = str(form.get("action") or ""), str(form.get("name") or "")
    try:
        if action == "ajouter":
            role, email = str(form.get("role") or ""), str(form.get("email") or "").strip()
            user = await run_in_threadpool(identity.add_user, db, name, role, email or None)
            name = user.name
        if action in ("ajouter", "jeton"):
            token = await run_in_threadpool(identity.issue_token, db, name)
            return users_page(request, actor, db, {"name": name, "token": token})
        if action == "revoquer":
            number = str(form.get("jeton") or "")
            if not number.isdigit() or len(number) > 18:
                raise identity.IdentityError("Jeton à révoquer inconnu.")
            holder = await run_in_threadpool(identity.revoke_token, db, int(number))
            return back(
                "/console/utilisateurs",
                "succes",
                f"Jeton n° {number} de {holder} révoqué ; les sessions ouvertes avec lui sont fermées.",
            )
        if action != "desactiver":
            raise identity.IdentityError("Action inconnue.")
        await run_in_threadpool(identity.deactivate, db, name)
    except identity.IdentityError as error:
        return back("/console/utilisateurs", "erreur", str(error))
    return back("/console/utilisateurs", "succes", f"{name} : désactivé(e).")
