"""After the deposit: the dossier's status and next step, its receipt, complements answered in
the portal, the result letter, a redress request within its window; for a labelled cluster, its
support and the yearly report. Every action is the staff's command (web.*), made as the
applicant: the workflow decides, as for an operator."""

import uuid
from datetime import datetime

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from domain.bodies import ComplementsReply, ReviewRequest
from domain.ids import Kind
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.stages import Action, ApplicationStage
from domain.support import KPI_LABELS, REPORT_FILES, AnnualReport
from portal import i18n, stages
from portal.accounts import EDITORS
from portal.deposit import applicant
from portal.home import member
from portal.i18n import N_
from portal.pages import PREFIX, Person, back, database, language, render, router
from portal.receipts import _deposited
from projection import queries
from projection.tables import ApplicationRow, ClusterRow, PersonRow
from web.applications import APPLICATIONS
from web.clusters import CLUSTERS
from web.errors import ApiError
from web.files import FILES, deposit_upload
from web.letters import letters_of

CASE = "/associations/{association_id}/dossiers/{application_id}"


def _case_path(association_id: str, application_id: str) -> str:
    return PREFIX + CASE.format(association_id=association_id, application_id=application_id)


@router.get(CASE, response_class=HTMLResponse)
def case_page(
    request: Request, association_id: str, application_id: str, person: Person
) -> Response:
    with database(request) as db:
        membership = member(db, person, association_id)
        draft = _deposited(db, association_id, application_id)
        row = db.get(ApplicationRow, application_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Dossier inconnu."))
        state = queries.application_state(row)
        cluster_row = db.get(ClusterRow, application_id)
        cluster = queries.cluster_state(cluster_row) if cluster_row else None
        letters = letters_of(db, request.app.state.storage, application_id)
        accepts = FILES[Kind.APPLICATION].accepts(db, application_id)
    label, next_step = stages.public(state)
    requested = state.complements
    answered = [f for f in state.files if requested and f.uploaded_at >= requested.requested_at]
    decision = state.decision if state.decision and state.decision.published_at else None
    published = decision.published_at if decision else None
    grounds = [f for f in state.files if published and f.uploaded_at >= published]
    return render(
        request,
        "suivi.html",
        person,
        membership=membership,
        draft=draft,
        state=state,
        label=label,
        next_step=next_step,
        due_at=state.due_at(),
        decision=decision,
        letters=letters,
        complements=requested if state.stage == ApplicationStage.COMPLEMENTS_REQUESTED else None,
        answered=answered,
        kinds=accepts.kinds if accepts.open else [],
        may_act=membership.role in EDITORS,
        may_redress=state.stage == ApplicationStage.REJECTED and decision is not None,
        grounds=grounds,
        cluster=cluster,
        cluster_words=stages.CLUSTER[cluster.stage] if cluster else None,
        tranche_words=stages.TRANCHES,
        report_open=cluster is not None and cluster.report_due() is not None,
        report_files=REPORT_FILES,
        report_names=REPORT_NAMES,
        kpi_names=KPI_NAMES,
    )


def _acting(db: Session, person: PersonRow, association_id: str, application_id: str) -> Actor:
    membership = member(db, person, association_id, *EDITORS)
    _deposited(db, association_id, application_id)
    return applicant(person, membership)


async def _file(
    request: Request, association_id: str, application_id: str, person: PersonRow, kind: Kind
) -> Response:
    """A file for the case (the application's complements, the cluster's yearly report): the
    staff's deposit path, which the case accepts only while it waits for one."""
    here = _case_path(association_id, application_id)
    with database(request) as db:
        actor = _acting(db, person, association_id, application_id)
        try:
            await deposit_upload(FILES[kind], request, application_id, actor, db, None)
        except (ApiError, HTTPException) as error:
            return back(request, here, "erreur", str(error.detail))
    return back(request, here, "succes", N_("Fichier ajouté."))


@router.post(CASE + "/complements/fichier")
@router.post(CASE + "/recours/fichier")  # the grounds of a redress request
async def application_file(
    request: Request, association_id: str, application_id: str, person: Person
) -> Response:
    return await _file(request, association_id, application_id, person, Kind.APPLICATION)


async def _command(
    request: Request,
    association_id: str,
    application_id: str,
    person: Person,
    action: Action,
    body: object,
    done: str,
) -> Response:
    here = _case_path(association_id, application_id)
    with database(request) as db:
        actor = _acting(db, person, association_id, application_id)
        state = queries.application_state(APPLICATIONS.row(db, application_id))
        if state.stage not in TRANSITIONS[action].sources or (
            action == Action.REQUEST_REVIEW and stages.public(state) == stages.AWAITING
        ):  # said in the person's words, before the desk's refusal would say it in French
            label = i18n.gettext(language(request, person), stages.public(state)[0])
            return back(request, here, "erreur", NOT_NOW, stage=label)
        path = f"{APPLICATIONS.prefix}/{application_id}/{action}"
        try:
            await APPLICATIONS.spec(action).send(
                request, application_id, actor, db, body, uuid.uuid4().hex, path
            )
        except ApiError as error:
            return back(request, here, "erreur", REFUSED, str(error.detail))
    return back(request, here, "succes", done)


NOT_NOW = N_("Cette démarche n'est pas possible à l'étape actuelle de votre dossier (%(stage)s).")
REFUSED = N_("Votre demande n'a pas été acceptée :")


@router.post(CASE + "/complements")
async def send_complements(
    request: Request, association_id: str, application_id: str, person: Person
) -> Response:
    """« Envoyer mes compléments »: the files given since the request, and a note."""
    form = await request.form()
    note = str(form.get("note") or "").strip()[:5000] or None
    with database(request) as db:
        row = db.get(ApplicationRow, application_id)
        state = queries.application_state(row) if row else None
    since: datetime | None = state.complements.requested_at if state and state.complements else None
    files = [f.id for f in (state.files if state else []) if since and f.uploaded_at >= since]
    if not files and not note:
        return back(
            request,
            _case_path(association_id, application_id),
            "erreur",
            N_("Ajoutez au moins un fichier ou un mot avant d'envoyer vos compléments."),
        )
    body = ComplementsReply(files=files, note=note)
    return await _command(
        request,
        association_id,
        application_id,
        person,
        Action.SUBMIT_COMPLEMENTS,
        body,
        N_("Compléments envoyés : le programme reprend l'examen de votre dossier."),
    )


@router.post(CASE + "/recours")
async def ask_redress(
    request: Request, association_id: str, application_id: str, person: Person
) -> Response:
    reason = str((await request.form()).get("reason") or "").strip()
    if not reason or len(reason) > 5000:
        return back(
            request,
            _case_path(association_id, application_id),
            "erreur",
            N_("Exposez les motifs de votre demande (5 000 caractères au plus)."),
        )
    return await _command(
        request,
        association_id,
        application_id,
        person,
        Action.REQUEST_REVIEW,
        ReviewRequest(reason=reason),
        N_("Demande de réexamen envoyée : le comité l'examinera."),
    )


@router.get(CASE + "/courriers/{sha256}.pdf")
def letter(
    request: Request, association_id: str, application_id: str, sha256: str, person: Person
) -> Response:
    """A result letter the case's e-mail carried (never another case's)."""
    with database(request) as db:
        member(db, person, association_id)
        _deposited(db, association_id, application_id)
        letters = letters_of(db, request.app.state.storage, application_id)
    if not any(x.sha256 == sha256 for x in letters):
        raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Courrier inconnu."))
    content = request.app.state.storage.content(sha256)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="courrier-{application_id}.pdf"'},
    )


KPI_NAMES = {
    "rd_projects": N_("Projets R&D collaboratifs"),
    "patents": N_("Brevets"),
    "startups": N_("Start-ups créées"),
    "rd_jobs": N_("Emplois R&D"),
    "trainings": N_("Formations"),
}
REPORT_NAMES = {
    "activity_report": N_("Rapport d'activité"),
    "financial_statements": N_("États financiers"),
    "indicators_table": N_("Tableau des indicateurs"),
}
assert set(KPI_NAMES) == set(KPI_LABELS) and set(REPORT_NAMES) == set(REPORT_FILES), (
    "every indicator and report file has its words in the portal"
)


@router.post(CASE + "/rapport/fichier")
async def report_file(
    request: Request, association_id: str, application_id: str, person: Person
) -> Response:
    return await _file(request, association_id, application_id, person, Kind.CLUSTER)


@router.post(CASE + "/rapport")
async def send_report(
    request: Request, association_id: str, application_id: str, person: Person
) -> Response:
    """The yearly report: the indicators as numbers (one left empty is « not declared »), the
    three files (the latest of each kind given), the next year's plan."""
    form = await request.form()
    here = _case_path(association_id, application_id)
    with database(request) as db:
        actor = _acting(db, person, association_id, application_id)
        row = db.get(ClusterRow, application_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Dossier inconnu."))
        cluster = queries.cluster_state(row)
        latest = {f.kind: f.id for f in sorted(cluster.files, key=lambda f: f.uploaded_at)}
        kpis: dict[str, int | None] = {}
        for name in KPI_NAMES:
            typed = str(form.get(name) or "").strip()
            if typed and not typed.isdigit():
                return back(request, here, "erreur", N_("Indicateurs : nombres entiers attendus."))
            kpis[name] = int(typed) if typed else None
        files = {field: latest.get(kind) for field, kind in REPORT_FILES.items()}
        if missing := [REPORT_NAMES[f] for f, found in files.items() if found is None]:
            return back(request, here, "erreur", N_("Fichier manquant :"), *missing)
        plan = str(form.get("next_year_plan") or "").strip()
        try:
            body = AnnualReport(**files, kpi_actuals=kpis, next_year_plan=plan)
        except ValidationError:
            return back(request, here, "erreur", N_("Décrivez le plan de l'année suivante."))
        path = f"{CLUSTERS.prefix}/{application_id}/{Action.RECORD_REPORT}"
        try:
            await CLUSTERS.spec(Action.RECORD_REPORT).send(
                request, application_id, actor, db, body, uuid.uuid4().hex, path
            )
        except ApiError as error:
            return back(request, here, "erreur", str(error.detail))
    return back(request, here, "succes", N_("Rapport annuel envoyé : le programme l'examinera."))
