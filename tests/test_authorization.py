"""Who may call what: every route of the app × every kind of caller, against explicit tables.

The tables are written out by hand rather than derived from `domain/stages.py`, so a change of the
lifecycle's roles (or a new route) has to be made here too, on purpose. The JSON API answers
401/403; the console (cookie sign-in, HTML) sends strangers to its sign-in page and refuses a role
with a message on the page it redirects to.
"""

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from temporalio.testing import WorkflowEnvironment

from console.sessions import ITEM_ACTIONS as CONSOLE_ITEM_ACTIONS
from console.views import RESOURCES  # what the console's action route dispatches
from domain.models import DEFAULT_GRID
from projection.database import make_engine, migrate
from tests.conftest import (
    APPLICATION,
    PDF_BYTES,
    Service,
    auth,
    deposit,
    eventually,
    running_service,
    utcnow,
)
from tests.test_api import open_call
from tests.test_clusters import labelled_cluster
from web.app import app as service_app
from web.sessions import SESSIONS  # what the console's session routes dispatch

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Well-formed ids (they pass the path patterns) that no test ever creates.
CALL_ID = "2026-0000deadbeef"
CASE_ID = "0000deadbeef"

ADMIN, OPERATOR, EVALUATOR, COMMITTEE = "admin", "operator", "evaluator", "committee"
FINANCE = "finance"  # the finance office: releases and pays the tranches
ROLES = (ADMIN, OPERATOR, EVALUATOR, COMMITTEE, FINANCE)
TOKEN_COOKIE = "console_session"
PUBLIC = None  # no sign-in needed

ALL = frozenset(ROLES)
ONLY_ADMIN = frozenset({ADMIN})
DESK = frozenset({ADMIN, OPERATOR})
READERS = frozenset({ADMIN, OPERATOR, COMMITTEE})
PUBLISHERS = frozenset({ADMIN, COMMITTEE})
ONLY_EVALUATOR = frozenset({EVALUATOR})
ONLY_COMMITTEE = frozenset({COMMITTEE})
SITTING = frozenset({ADMIN, COMMITTEE})  # a committee session's readers and members
ONLY_FINANCE = frozenset({FINANCE})
BUDGET = frozenset({ADMIN, COMMITTEE, FINANCE})  # a call's budget, the programme's years
LEDGER = frozenset({ADMIN, FINANCE})  # the ledger's rows
CLUSTER_READERS = READERS | {FINANCE}  # the support cases: finance pays their tranches

DEPOSITS = {
    ("POST", "/applications/{case_id}/documents"),
    ("POST", "/clusters/{case_id}/documents"),
}
SCAN = ("POST", "/sessions/{case_id}/deposit_signed_pv")  # a signed PV, scanned
MULTIPART = DEPOSITS | {SCAN}
A_FILE = {"file": ("statuts.pdf", b"%PDF-1.4\n" + b"0" * 64, "application/pdf")}
API: dict[tuple[str, str], frozenset[str] | None] = {
    # service and documentation
    ("GET", "/health"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # calls
    ("POST", "/calls"): ONLY_ADMIN,
    ("PUT", "/calls/{call_id}"): ONLY_ADMIN,  # a draft's spec, whole
    ("POST", "/calls/{case_id}/publish"): ONLY_ADMIN,
    ("POST", "/calls/{case_id}/extend_deadline"): ONLY_ADMIN,
    ("POST", "/calls/{case_id}/start_evaluation"): ONLY_ADMIN,
    ("POST", "/calls/{case_id}/publish_results"): PUBLISHERS,
    ("POST", "/calls/{case_id}/archive"): ONLY_ADMIN,
    ("POST", "/calls/{case_id}/set_budget"): ONLY_ADMIN,
    ("POST", "/calls/{call_id}/applications"): DESK,
    ("GET", "/calls"): ALL,
    ("GET", "/calls/{call_id}"): ALL,
    ("GET", "/calls/{call_id}/stats"): ALL,
    ("GET", "/calls/{call_id}/ranking"): PUBLISHERS,
    ("GET", "/calls/{call_id}/ranking.csv"): PUBLISHERS,
    ("GET", "/calls/{call_id}/ranking.xlsx"): PUBLISHERS,
    # the money: a call's budget and proposal, the ledger, the programme's years and forecast
    ("GET", "/calls/{call_id}/budget"): BUDGET,
    ("GET", "/calls/{call_id}/ledger.csv"): LEDGER,
    ("GET", "/calls/{call_id}/ledger.xlsx"): LEDGER,
    ("GET", "/finance/ledger.csv"): LEDGER,
    ("GET", "/finance/ledger.xlsx"): LEDGER,
    ("GET", "/finance/years"): BUDGET,
    ("GET", "/finance/forecast"): BUDGET,
    ("GET", "/finance/forecast.xlsx"): BUDGET,
    # applications
    ("POST", "/applications/{case_id}/amend"): DESK,
    ("POST", "/applications/{case_id}/withdraw"): DESK,
    ("POST", "/applications/{case_id}/mark_eligible"): DESK,
    ("POST", "/applications/{case_id}/mark_ineligible"): DESK,
    ("POST", "/applications/{case_id}/request_complements"): DESK,
    ("POST", "/applications/{case_id}/submit_complements"): DESK,
    ("POST", "/applications/{case_id}/assign_evaluators"): ONLY_ADMIN,
    ("POST", "/applications/{case_id}/release_evaluator"): ONLY_ADMIN,
    ("POST", "/applications/{case_id}/declare_interest"): ONLY_EVALUATOR,
    ("POST", "/applications/{case_id}/submit_scores"): ONLY_EVALUATOR,
    ("POST", "/applications/{case_id}/label"): ONLY_COMMITTEE,
    ("POST", "/applications/{case_id}/put_on_reserve"): ONLY_COMMITTEE,
    ("POST", "/applications/{case_id}/reject"): ONLY_COMMITTEE,
    ("POST", "/applications/{case_id}/request_review"): DESK,
    ("POST", "/applications/{case_id}/uphold_rejection"): ONLY_COMMITTEE,
    ("POST", "/applications/{case_id}/order_re_evaluation"): ONLY_COMMITTEE,
    ("POST", "/applications/{case_id}/promote"): ONLY_ADMIN,  # a reserve file, funds freed
    ("GET", "/applications"): READERS,
    ("GET", "/applications.csv"): READERS,
    ("GET", "/applications.xlsx"): READERS,
    ("GET", "/applications/{application_id}"): ALL,  # an evaluator: assigned cases only
    ("GET", "/applications/{case_id}/letters"): ALL,  # as the case's files
    ("GET", "/applications/{case_id}/letters/{sha256}.pdf"): ALL,
    # it names the evaluators and holds their comments
    ("GET", "/applications/{case_id}/redress-dossier.pdf"): PUBLISHERS,
    ("GET", "/evaluations"): frozenset({ADMIN, EVALUATOR, COMMITTEE}),
    # documents: an evaluator reads those of the cases assigned to them, once declared
    **dict.fromkeys(DEPOSITS, DESK),
    ("GET", "/applications/{case_id}/documents"): ALL,
    ("GET", "/applications/{case_id}/documents.zip"): ALL,
    ("GET", "/clusters/{case_id}/documents"): READERS,
    ("GET", "/clusters/{case_id}/documents.zip"): READERS,
    ("GET", "/documents/{document_id}"): ALL,
    # cluster support
    ("POST", "/clusters/{case_id}/sign_contract"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/record_report"): DESK,
    ("POST", "/clusters/{case_id}/renew"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/renew_on_probation"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/suspend"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/resume"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/terminate"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/renounce"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/refuse_report"): ONLY_ADMIN,
    ("POST", "/clusters/{case_id}/approve_condition"): ONLY_ADMIN,
    # the tranches: released by one finance officer, paid by another (the workflow checks it)
    ("POST", "/clusters/{case_id}/release_tranche"): ONLY_FINANCE,
    ("POST", "/clusters/{case_id}/pay_tranche"): ONLY_FINANCE,
    ("POST", "/clusters/{case_id}/reject_payment"): ONLY_FINANCE,
    ("GET", "/clusters"): CLUSTER_READERS,
    ("GET", "/clusters.csv"): CLUSTER_READERS,
    ("GET", "/clusters.xlsx"): CLUSTER_READERS,
    ("GET", "/clusters/support.csv"): CLUSTER_READERS,
    ("GET", "/clusters/support.xlsx"): CLUSTER_READERS,
    ("GET", "/clusters/kpis.csv"): CLUSTER_READERS,
    ("GET", "/clusters/kpis.xlsx"): CLUSTER_READERS,
    ("GET", "/clusters/overdue"): CLUSTER_READERS,
    ("GET", "/clusters/support"): CLUSTER_READERS,
    ("GET", "/clusters/{case_id}"): CLUSTER_READERS,
    ("GET", "/clusters/{case_id}/kpis"): CLUSTER_READERS,
    ("GET", "/deadlines"): READERS,
    # committee sessions: the programme's managers prepare them, the committee sits (the
    # workflow then lets a committee account act in its own sessions only)
    ("POST", "/sessions"): ONLY_ADMIN,
    ("PUT", "/sessions/{case_id}"): ONLY_ADMIN,
    ("POST", "/sessions/{case_id}/convene"): ONLY_ADMIN,
    ("POST", "/sessions/{case_id}/record_attendance"): SITTING,
    ("POST", "/sessions/{case_id}/open_session"): SITTING,
    ("POST", "/sessions/{case_id}/add_item"): SITTING,
    ("POST", "/sessions/{case_id}/remove_item"): SITTING,
    ("POST", "/sessions/{case_id}/open_item"): SITTING,
    ("POST", "/sessions/{case_id}/decide_item"): SITTING,
    ("POST", "/sessions/{case_id}/close_session"): SITTING,
    ("POST", "/sessions/{case_id}/sign_pv"): SITTING,
    ("POST", "/sessions/{case_id}/correct_pv"): ONLY_ADMIN,
    SCAN: ONLY_ADMIN,
    ("GET", "/sessions"): SITTING,
    ("GET", "/sessions/{case_id}"): SITTING,
    ("GET", "/sessions/{case_id}/pv.pdf"): SITTING,
    ("GET", "/sessions/{case_id}/pack.pdf"): SITTING,
}
# The console grants what the API grants: evaluators see their own evaluations and nothing else
# of other cases (README, « Console »), hence no cluster pages for them.
CONSOLE: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/"): PUBLIC,  # a redirection to the console
    ("GET", "/console/connexion"): PUBLIC,
    ("POST", "/console/connexion"): PUBLIC,
    ("POST", "/console/deconnexion"): PUBLIC,
    # a staff invitation's one-time link (a made-up one is unknown: 404, test_invitation.py)
    ("GET", "/console/invitation/{secret}"): PUBLIC,
    ("POST", "/console/invitation/{secret}"): PUBLIC,
    ("GET", "/console/"): READERS,  # an evaluator is sent to their own list
    ("GET", "/console/appels"): ALL,
    ("POST", "/console/appels"): ONLY_ADMIN,
    ("GET", "/console/appels/{case_id}"): ALL,
    ("GET", "/console/appels/{case_id}/classement.csv"): PUBLISHERS,
    ("GET", "/console/appels/{case_id}/classement.xlsx"): PUBLISHERS,
    ("POST", "/console/appels/{case_id}/candidatures"): DESK,
    ("POST", "/console/appels/{case_id}/modifier"): ONLY_ADMIN,
    ("GET", "/console/appels/{call_id}/decisions"): PUBLISHERS,  # the admin reads, never decides
    # a call's money (console.money): its page and forms, its ledger; the programme's finances
    ("GET", "/console/appels/{case_id}/budget"): BUDGET,
    ("POST", "/console/appels/{case_id}/budget/set_budget"): ONLY_ADMIN,
    ("POST", "/console/appels/{case_id}/budget/{application_id}/promote"): ONLY_ADMIN,
    ("GET", "/console/appels/{case_id}/grand-livre.csv"): LEDGER,
    ("GET", "/console/appels/{case_id}/grand-livre.xlsx"): LEDGER,
    ("GET", "/console/finances"): BUDGET,
    ("GET", "/console/finances/prevision.xlsx"): BUDGET,
    ("GET", "/console/finances/grand-livre.csv"): LEDGER,
    ("GET", "/console/finances/grand-livre.xlsx"): LEDGER,
    ("POST", "/console/appels/{call_id}/decisions"): ONLY_COMMITTEE,
    ("GET", "/console/candidatures"): ALL,  # an evaluator: their own evaluations
    ("GET", "/console/candidatures/{case_id}"): ALL,  # an evaluator: assigned cases only
    ("GET", "/console/candidatures/{case_id}/courriers/{sha256}.pdf"): ALL,
    ("GET", "/console/candidatures/{case_id}/dossier-de-recours.pdf"): PUBLISHERS,
    ("GET", "/console/candidatures.csv"): READERS,
    ("GET", "/console/candidatures.xlsx"): READERS,
    ("POST", "/console/candidatures/lot"): DESK,  # each action then by its own roles
    ("POST", "/console/candidatures/proposition"): ONLY_ADMIN,
    ("POST", "/console/candidatures/affectation"): ONLY_ADMIN,
    # the evaluator's own pages of an assigned case: declaration, acknowledgement, workspace
    ("GET", "/console/evaluer/{case_id}"): ONLY_EVALUATOR,
    ("GET", "/console/evaluer/{case_id}/conflit"): ONLY_EVALUATOR,
    ("POST", "/console/evaluer/{case_id}/declaration"): ONLY_EVALUATOR,
    ("POST", "/console/evaluer/{case_id}/brouillon"): ONLY_EVALUATOR,
    ("POST", "/console/evaluer/{case_id}/grille"): ONLY_EVALUATOR,
    ("GET", "/console/clusters"): CLUSTER_READERS,
    ("GET", "/console/clusters.csv"): CLUSTER_READERS,
    ("GET", "/console/clusters.xlsx"): CLUSTER_READERS,
    ("GET", "/console/clusters/soutien.csv"): CLUSTER_READERS,
    ("GET", "/console/clusters/soutien.xlsx"): CLUSTER_READERS,
    ("GET", "/console/clusters/indicateurs.csv"): CLUSTER_READERS,
    ("GET", "/console/clusters/indicateurs.xlsx"): CLUSTER_READERS,
    ("GET", "/console/clusters/{case_id}"): CLUSTER_READERS,
    # files, as in the API: an evaluator reads those of the cases assigned to them, once declared
    ("POST", "/console/candidatures/{case_id}/documents"): DESK,
    ("POST", "/console/clusters/{case_id}/documents"): DESK,
    ("GET", "/console/candidatures/{case_id}/documents.zip"): ALL,
    ("GET", "/console/clusters/{case_id}/documents.zip"): READERS,
    ("GET", "/console/documents/{document_id}"): ALL,
    ("GET", "/console/courriers"): DESK,
    ("GET", "/console/courriers.csv"): DESK,
    ("GET", "/console/courriers.xlsx"): DESK,
    ("GET", "/console/utilisateurs"): ONLY_ADMIN,
    ("POST", "/console/utilisateurs"): ONLY_ADMIN,
    # committee sessions: read by those who sit, prepared by the programme's managers
    ("GET", "/console/seances"): SITTING,
    ("GET", "/console/seances/nouvelle"): ONLY_ADMIN,
    ("POST", "/console/seances/nouvelle"): ONLY_ADMIN,
    ("GET", "/console/seances/{session_id}"): SITTING,
    ("GET", "/console/seances/{session_id}/modifier"): ONLY_ADMIN,
    ("POST", "/console/seances/{session_id}/modifier"): ONLY_ADMIN,
    ("GET", "/console/seances/{session_id}/dossiers/{application_id}"): SITTING,
    ("GET", "/console/seances/{session_id}/pv/{number}.pdf"): SITTING,
    ("GET", "/console/seances/{session_id}/dossier-de-seance.pdf"): SITTING,
    ("POST", "/console/seances/{session_id}/pv-signe"): ONLY_ADMIN,  # as the API's SCAN
}
# One console route takes every action of the kinds of case it names (a session's have pages
# of their own); each action allows the roles its API route allows.
CONSOLE_ACTION = ("POST", "/console/{resource}/{case_id}/actions/{action}")
RESOURCES_FR = {"calls": "appels", "applications": "candidatures", "clusters": "clusters"}
CONSOLE_ACTIONS = {
    ("POST", f"/console/{RESOURCES_FR[parts[1]]}/{{case_id}}/actions/{parts[3]}"): roles
    for (method, path), roles in API.items()
    if method == "POST"
    and len(parts := path.split("/")) == 4
    and parts[1] in RESOURCES_FR
    and parts[2] == "{case_id}"
    and (method, path) not in MULTIPART
}
# A session's actions each have the roles of their API route: an agenda item's are sent from
# that item's page, the others from the session's.
SESSION_ACTION = ("POST", "/console/seances/{session_id}/{action}")
ITEM_ACTION = ("POST", "/console/seances/{session_id}/dossiers/{application_id}/{action}")
ITEM_ACTIONS = {"open_item", "decide_item"}
SESSION_ACTIONS = {
    (
        "POST",
        (ITEM_ACTION if name in ITEM_ACTIONS else SESSION_ACTION)[1].replace("{action}", name),
    ): roles
    for (method, path), roles in API.items()
    if method == "POST"
    and path.startswith("/sessions/{case_id}/")
    and (method, path) not in MULTIPART
    for name in [path.rsplit("/", 1)[1]]
}
# Route-level access, then case-level: an evaluator sees only the files assigned to them, so an
# unassigned case is refused (the positive side is in test_evaluator_sees_only_assigned_cases).
ASSIGNED_ONLY = {
    (("GET", "/applications/{application_id}"), EVALUATOR),
    (("GET", "/applications/{case_id}/letters"), EVALUATOR),
    (("GET", "/applications/{case_id}/letters/{sha256}.pdf"), EVALUATOR),
    (("GET", "/applications/{case_id}/documents"), EVALUATOR),
    (("GET", "/applications/{case_id}/documents.zip"), EVALUATOR),
    (("GET", "/console/candidatures/{case_id}"), EVALUATOR),
    (("GET", "/console/candidatures/{case_id}/courriers/{sha256}.pdf"), EVALUATOR),
    (("GET", "/console/candidatures/{case_id}/documents.zip"), EVALUATOR),
    (("GET", "/console/documents/{document_id}"), EVALUATOR),
    (("GET", "/console/evaluer/{case_id}"), EVALUATOR),
    (("GET", "/console/evaluer/{case_id}/conflit"), EVALUATOR),
}

# Callers the API must turn away with 401 whatever the route (headers, console cookie).
API_STRANGERS: dict[str, tuple[dict[str, str], str | None]] = {
    "no-token": ({}, None),
    "bad-token": ({"Authorization": "Bearer not-a-known-token"}, None),
    "not-bearer": ({"Authorization": "Basic dC1hZG1pbjo="}, None),  # t-admin as Basic
    "console-cookie": ({}, "t-admin"),  # the API must not take it: no cross-site requests
}
# Callers the console must send to its sign-in page.
CONSOLE_STRANGERS = {
    "no-cookie": ({}, None),
    "bad-cookie": ({}, "not-a-known-token"),
    "bearer-only": (auth(ADMIN), None),
}
# How the console words a refused role (an allowed one gets another message: bad form, unknown
# case); if the wording changes, the refused roles' cases fail and name the new message.
REFUSALS = ("ne permet pas cette action", "Seul un gestionnaire", "Seuls les opérateurs")

REASON = {"reason": "Motif détaillé pour le dossier"}
ANSWER = {"answer": "Réponse du comité"}
SHEET = {
    "scores": [
        {"criterion": c.code, "score": 3.5, "comment": "Appréciation"}
        for c in DEFAULT_GRID.criteria
    ]
}
KPIS = {"rd_projects": 2, "patents": 1, "startups": 1, "rd_jobs": 5, "trainings": 3}
ITEM = {"application_id": CASE_ID}  # a file on a session's agenda
# Bodies valid enough to pass validation: an allowed role then reaches the (missing) case, so the
# 403 a refused role gets with the same body is the role check and not a payload error.
BODIES: dict[str, dict] = {
    "/calls": {
        "year": 2027,
        "title": "Appel de test des autorisations",
        "opens_at": "2027-12-01T09:00",
        "deadline": "2028-01-15",
    },
    "extend_deadline": {"deadline": "2028-02-01", "reason": "Demande des fédérations"},
    "applications": APPLICATION,
    "amend": {"cluster_name": "Cluster renommé"},
    "withdraw": REASON,
    "mark_eligible": {"note": "RAS"},
    "mark_ineligible": REASON,
    "request_complements": {"items": ["budget prévisionnel"]},
    "submit_complements": {"files": ["0" * 32]},
    "assign_evaluators": {"evaluators": ["Eve Évaluatrice"]},
    "release_evaluator": {"evaluator": "Eve Évaluatrice", "reason": "Absente"},
    "declare_interest": {"conflict": False},
    "submit_scores": SHEET,
    "label": REASON,
    "put_on_reserve": REASON,
    "reject": REASON,
    "request_review": REASON,
    "uphold_rejection": ANSWER,
    "order_re_evaluation": ANSWER,
    "sign_contract": {"start_at": "2027-01-01", "planned_amounts": [1e6, 8e5], "kpi_targets": KPIS},
    "record_report": {
        "activity_report": "1" * 32,
        "financial_statements": "2" * 32,
        "indicators_table": "3" * 32,
        "kpi_actuals": KPIS,
        "next_year_plan": "Plan d'action de l'année suivante",
    },
    "renew": {"amount": 500000},
    "renew_on_probation": {"conditions": "Recruter un directeur", "review_at": "2028-06-01"},
    "suspend": REASON,
    "resume": {"note": "Reprise"},
    "terminate": REASON,
    "record_attendance": {"present": ["Karim Comité"]},
    "add_item": {**ITEM, "reason": "Dossier oublié à la convocation"},
    "remove_item": {**ITEM, "reason": "Dossier retiré par son porteur"},
    "open_item": ITEM,
    "decide_item": {
        **ITEM,
        "outcome": "labelled",
        "votes_for": 3,
        "reason_codes": ["seuils_atteints"],
    },
    "correct_pv": REASON,
    "set_budget": {"first_year": 2027, "envelopes": [1e6, 8e5]},
    "promote": {"amounts": [1e6, 8e5], "reason": "Un lauréat s'est désisté."},
    "renounce": REASON,
    "refuse_report": REASON,
    "approve_condition": {"tranche": "1-1"},
    "release_tranche": {"tranche": "1-1", "budget_line": "Chap. 2.1.3", "commitment_number": "E-1"},
    "pay_tranche": {"tranche": "1-1", "payment_order": "OP-1", "bank_reference": "VIR-1"},
    "reject_payment": {"tranche": "1-1", "payment_order": "OP-1", "reason": "Compte clôturé"},
}
NO_BODY = {
    "publish",
    "start_evaluation",
    "publish_results",
    "archive",
    "convene",
    "open_session",
    "close_session",
    "sign_pv",
}
SPEC_PATHS = ("/sessions", "/sessions/{case_id}")  # a session's spec: new, or revised


def session_spec(call_id: str) -> dict:
    """A session's spec whose members are the tests' committee accounts (the API checks them)
    and whose call is `call_id` (an unknown one is refused, 422, before the session is made)."""
    return {
        "title": "Séance de test des autorisations",
        "call_ids": [call_id],
        "meets_at": "2027-12-01T10:00",
        "members": [
            {"name": "Karim Comité", "function": "président"},
            {"name": "Salma Comité", "function": "secrétaire"},
        ],
    }


# The console validates the registration form before the role: a complete one reaches the check.
REGISTRATION_FORM = {
    "cluster_name": "Cluster Aéronautique du Nord",
    "sector": "aéronautique",
    "members": "Aero Parts SA ; entreprise\nUniversité Abdelmalek Essaâdi ; recherche",
    "contact_name": "Salma Bennani",
    "contact_email": "salma@cluster-nord.ma",
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers: the OpenAPI operations and the routes kept out of it."""
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    mounted = {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
        if method != "HEAD"  # Starlette's automatic twin of GET
    }
    return documented | mounted


def concrete(path: str) -> str:
    """An API path with made-up ids: a call id under /calls, a case id elsewhere."""
    case = CALL_ID if path.startswith("/calls/") else CASE_ID
    return (
        path.replace("{call_id}", CALL_ID)
        .replace("{application_id}", CASE_ID)
        .replace("{case_id}", case)
        .replace("{document_id}", "0" * 32)
        .replace("{sha256}", "0" * 64)
    )


def body_for(method: str, path: str, call_id: str = CALL_ID) -> dict | None:
    """`call_id`: the call a new session names (a real one for a session to be made)."""
    if method not in ("POST", "PUT"):
        return None
    if path in SPEC_PATHS:
        return session_spec(call_id)
    name = "/calls" if path in ("/calls", "/calls/{call_id}") else path.rsplit("/", 1)[-1]
    if name in NO_BODY:
        return None
    return BODIES[name]


def client(service: Service, token_cookie: str | None = None) -> httpx.AsyncClient:
    """A client of its own (its own cookie jar), signed in to the console by cookie if given."""
    session = service.new_session()
    if token_cookie:
        session.cookies.set(TOKEN_COOKIE, token_cookie)
    return session


def console_message(response: httpx.Response) -> dict | None:
    """What the console says after a form: left in a cookie for the page it redirects to, or at
    the top of the page a refused form comes back on."""
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if "console_message" in cookie and cookie["console_message"].value:
            return json.loads(cookie["console_message"].value)
    shown = re.search(r'class="message (\w+)"[^>]*>(.*?)</div>', response.text, re.S)
    if shown:
        lines = re.findall(r"<p>(.*?)</p>", shown.group(2), re.S)
        return {"kind": shown.group(1), "lines": [html.unescape(line) for line in lines]}
    return None


def is_refusal(message: dict | None) -> bool:
    lines = (message or {}).get("lines", [])
    return any(phrase in line for line in lines for phrase in REFUSALS)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """One worker and API for the module (a fresh one per request would dominate the time)."""
    path: Path = tmp_path_factory.mktemp("authorization") / "projection.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    async with running_service(dev_env, engine) as running:
        yield running
    engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(service: Service) -> dict[str, str]:
    """Real cases for the console's pages, where a made-up id would be a 404 for every role:
    an open call, a labelled cluster, and a file decided in a session (decided_in_session)."""
    now = utcnow()
    spec = {
        **BODIES["/calls"],
        "opens_at": now.isoformat(),
        "deadline": (now + timedelta(days=30)).isoformat(),
    }
    created = await service.post("/calls", role=ADMIN, json=spec)
    assert created.status_code == 201, created.text
    call_id = created.json()["id"]
    assert (await service.post(f"/calls/{call_id}/publish", role=ADMIN)).status_code == 200
    cluster_id = await labelled_cluster(service)
    return {"appels": call_id, "clusters": cluster_id, **await decided_in_session(service)}


async def decided_in_session(service: Service) -> dict[str, str]:
    """A file with everything a case serves: a document deposited before its call's deadline
    (seconds away), its marks by Nadia (neither by Eve, the matrix's evaluator, who stays
    unassigned, nor by those whose work lists a test below reads), its rejection in a session convened (its pack), closed (its PV) and signed (a
    scan), its result letter sent, its review requested and its redress dossier built."""
    call_id = await open_call(
        service,
        title="Appel à projets : séance des autorisations",
        deadline=(utcnow() + timedelta(seconds=3)).isoformat(),
        evaluators_per_application=1,
    )
    registered = await service.post(f"/calls/{call_id}/applications", json=APPLICATION)
    assert registered.status_code == 201, registered.text
    case = registered.json()["id"]
    path = f"/applications/{case}"
    filed = await deposit(service, path, "autre")
    assert filed.status_code == 201, filed.text

    async def in_review() -> bool:
        return (await service.get(path)).json()["stage"] == "eligibility_review"

    await eventually(in_review, what="the call's deadline")
    for step, role, body in (
        (f"{path}/mark_eligible", OPERATOR, BODIES["mark_eligible"]),
        (f"/calls/{call_id}/start_evaluation", ADMIN, None),
        (f"{path}/assign_evaluators", ADMIN, {"evaluators": [NADIA_NAME]}),
        (f"{path}/declare_interest", NADIA, {"conflict": False}),
        (f"{path}/submit_scores", NADIA, SHEET),
    ):
        done = await service.post(step, role=role, json=body)
        assert done.status_code == 200, (step, done.text)

    made = await service.post("/sessions", role=ADMIN, json=session_spec(call_id))
    assert made.status_code == 201, made.text
    session_id = made.json()["id"]
    item = {"application_id": case}
    rejection = {**item, "outcome": "rejected", "votes_for": 2, "reason_codes": ["note_globale"]}
    present = {"present": [m["name"] for m in session_spec(call_id)["members"]]}
    for action, role, body in (
        ("convene", ADMIN, None),
        ("record_attendance", COMMITTEE, present),
        ("open_session", COMMITTEE, None),
        ("open_item", COMMITTEE, item),
        ("decide_item", COMMITTEE, rejection),
        ("close_session", COMMITTEE, None),
    ):
        done = await service.post(f"/sessions/{session_id}/{action}", role=role, json=body)
        assert done.status_code == 200, (action, done.text)
    scan = {"file": ("pv-signe.pdf", PDF_BYTES, "application/pdf")}
    signed = await service.http.post(
        f"/sessions/{session_id}/deposit_signed_pv", files=scan, headers=auth(ADMIN)
    )
    assert signed.status_code == 200, signed.text
    published = await service.post(
        f"/calls/{call_id}/publish_results", role=ADMIN, json={"confirme": True}
    )
    assert published.status_code == 200, published.text

    async def announced() -> bool:  # the letter sent, the redress window counted from it
        redress = (await service.get(path)).json()["redress"]
        return bool(redress and redress["due_at"])

    async def built() -> bool:
        return (await service.get(path, role=ADMIN)).json()["redress"]["dossier_url"] is not None

    await eventually(announced, what="the rejection's letter sent")
    letters = (await service.get(f"{path}/letters")).json()
    requested = await service.post(f"{path}/request_review", json=BODIES["request_review"])
    assert requested.status_code == 200, requested.text
    await eventually(built, what="the redress dossier")
    return {
        "candidatures": case,
        "document": filed.json()["id"],
        "seances": session_id,
        "courrier": letters[0]["sha256"],
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def signed_in(service: Service) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A console session per role, signed in through the sign-in form."""
    sessions = {role: await service.signed_in(f"t-{role}") for role in ROLES}
    yield sessions
    for session in sessions.values():
        await session.aclose()


# --- the applicants' portal: its people sign in by link; no staff token or session opens it ---
PORTAL_ANYONE = {
    ("GET", "/portail/connexion"),
    ("POST", "/portail/connexion"),
    ("GET", "/portail/lien/{secret}"),  # a made-up link is unknown: 404 (test_portal.py)
    ("POST", "/portail/lien/{secret}"),
    ("POST", "/portail/deconnexion"),
    ("POST", "/portail/langue"),
    ("GET", "/portail/portal.js"),
    ("GET", "/portail/cle-publique.pem"),  # the receipts' public key: anyone checks a receipt
}
ASSOCIATION = "/portail/associations/{association_id}"
CASE_PAGE = ASSOCIATION + "/dossiers/{application_id}"
# Every other route needs a portal person's session, then their membership (test_portal.py).
PORTAL_PEOPLE = {
    ("GET", "/portail/"),
    ("POST", "/portail/profil"),
    ("POST", "/portail/associations"),
    ("POST", "/portail/invitations/{association_id}"),
    ("GET", ASSOCIATION),
    ("POST", ASSOCIATION + "/membres"),
    ("POST", ASSOCIATION + "/membres/retirer"),
    ("GET", ASSOCIATION + "/appels/{call_id}"),
    ("POST", ASSOCIATION + "/appels/{call_id}"),
    ("POST", ASSOCIATION + "/appels/{call_id}/deposer"),
    ("POST", ASSOCIATION + "/appels/{call_id}/fichiers"),
    ("POST", ASSOCIATION + "/appels/{call_id}/fichiers/{file_id}/retirer"),
    ("GET", CASE_PAGE),
    ("GET", CASE_PAGE + "/courriers/{sha256}.pdf"),
    ("GET", CASE_PAGE + "/recu.{fmt}"),
    ("POST", CASE_PAGE + "/complements"),
    ("POST", CASE_PAGE + "/complements/fichier"),
    ("POST", CASE_PAGE + "/recours"),
    ("POST", CASE_PAGE + "/recours/fichier"),
    ("POST", CASE_PAGE + "/rapport"),
    ("POST", CASE_PAGE + "/rapport/fichier"),
}


def portal_path(path: str) -> str:
    return (
        concrete(path)
        .replace("{association_id}", "a" * 16)
        .replace("{file_id}", "0" * 32)
        .replace("{fmt}", "json")
        .replace("{secret}", "x" * 43)
    )


@pytest.mark.parametrize("route", sorted(PORTAL_PEOPLE))
async def test_the_portal_is_closed_to_staff_tokens_and_console_sessions(
    service: Service, signed_in: dict[str, httpx.AsyncClient], route: tuple[str, str]
) -> None:
    """An admin's bearer token or console session opens no portal page: sign in to the portal."""
    method, path = route
    for http, headers in ((signed_in[ADMIN], {}), (service.http, auth(ADMIN))):
        if method == "GET":
            response = await http.get(portal_path(path), headers=headers)
        else:
            response = await http.post(portal_path(path), data={}, headers=headers)
        assert response.status_code == 303, (route, response.status_code)
        assert response.headers["location"] == "/portail/connexion"


async def test_every_route_is_in_a_table() -> None:
    known = API.keys() | CONSOLE.keys() | {CONSOLE_ACTION, SESSION_ACTION, ITEM_ACTION}
    known |= PORTAL_ANYONE | PORTAL_PEOPLE
    routes = app_routes(service_app)
    assert not sorted(routes - known), f"routes without expected access: {sorted(routes - known)}"
    assert not sorted(known - routes), f"table entries for no route: {sorted(known - routes)}"


async def test_every_console_action_is_in_the_table() -> None:
    dispatched = {(fr, action) for fr, kind in RESOURCES.items() for action in kind.actions}
    tabled = {(path.split("/")[2], path.rsplit("/", 1)[1]) for _, path in CONSOLE_ACTIONS}
    assert dispatched == tabled


async def test_every_session_action_is_in_the_table() -> None:
    """Each action the session's console routes take, tabled under the route its form is sent
    to: an agenda item's under the item's page."""
    taken = {(action.value, action in CONSOLE_ITEM_ACTIONS) for action in SESSIONS.actions}
    tabled = {(path.rsplit("/", 1)[1], "/dossiers/" in path) for _, path in SESSION_ACTIONS}
    assert taken == tabled


# --- the JSON API ---------------------------------------------------------------------------------
API_ROUTES = sorted(API)


async def api_request(
    http: httpx.AsyncClient, route: tuple[str, str], headers: dict, call_id: str = CALL_ID
) -> httpx.Response:
    method, path = route
    if route in MULTIPART:  # a file, as multipart
        return await http.post(
            concrete(path), files=A_FILE, data={"kind": "autre"}, headers=headers
        )
    body = body_for(method, path, call_id)
    return await http.request(method, concrete(path), json=body, headers=headers)


@pytest.mark.parametrize("route", API_ROUTES, ids=" ".join)
async def test_api_strangers_get_401(service: Service, route: tuple[str, str]) -> None:
    for who, (headers, cookie) in API_STRANGERS.items():
        async with client(service, cookie) as http:
            response = await api_request(http, route, headers)
        if API[route] is PUBLIC:
            assert response.status_code == 200, (who, response.text)
        else:
            assert response.status_code == 401, (who, response.status_code, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", API_ROUTES, ids=" ".join)
async def test_api_roles(
    service: Service, live: dict[str, str], route: tuple[str, str], role: str
) -> None:
    response = await api_request(service.http, route, auth(role), live["appels"])
    allowed = API[route]
    if allowed is not None and (role not in allowed or (route, role) in ASSIGNED_ONLY):
        assert response.status_code == 403, response.text
    else:
        # Made-up ids: 404 for a case, 200/201 for a list or a new call; never 422, which would
        # mean the body sent to the refused roles did not reach their role check meaningfully.
        assert response.status_code in (200, 201, 404), response.text


async def test_api_roles_are_checked_before_the_payload(service: Service) -> None:
    """A refused caller learns nothing about what a valid payload or id looks like."""
    path = "/applications/not-an-id/mark_ineligible"
    assert (await service.http.post(path, json={"unknown": 1})).status_code == 401
    refused = await service.http.post(path, json={"unknown": 1}, headers=auth(COMMITTEE))
    assert refused.status_code == 403, refused.text
    # Not even a body that is not JSON: the caller is known before the body is read.
    garbled = {"Content-Type": "application/json"}
    assert (await service.http.post(path, content=b"{", headers=garbled)).status_code == 401
    known = await service.http.post(path, content=b"{", headers={**garbled, **auth(COMMITTEE)})
    assert known.status_code == 422


# --- the console ----------------------------------------------------------------------------------
CONSOLE_ROUTES = [
    pytest.param(route, allowed, id=" ".join(route))
    for route, allowed in sorted({**CONSOLE, **CONSOLE_ACTIONS, **SESSION_ACTIONS}.items())
]
SIGNED_IN_ROUTES = [param for param in CONSOLE_ROUTES if param.values[1] is not PUBLIC]


def console_path(path: str, ids: dict[str, str] | None) -> str:
    """Real ids for pages (`ids`), made-up ones for forms: a refusal must not depend on them."""
    resource = path.split("/")[2] if path.startswith("/console/") else ""
    path = path.replace("{call_id}", "{case_id}").replace("{secret}", "0" * 43)
    if ids is None:
        made_up = CALL_ID if resource == "appels" else CASE_ID
        for name in ("{case_id}", "{session_id}", "{application_id}"):
            path = path.replace(name, made_up)
        return path
    real = {
        "{case_id}": ids.get(resource, CASE_ID),
        "{document_id}": ids["document"],
        "{session_id}": ids["seances"],
        "{application_id}": ids["candidatures"],  # on the session's agenda
        "{sha256}": ids["courrier"],
        "{number}": "1",  # the session's PV
    }
    for name, value in real.items():
        path = path.replace(name, value)
    return path


async def console_request(
    http: httpx.AsyncClient, route: tuple[str, str], ids: dict[str, str], headers: dict
) -> httpx.Response:
    method, path = route
    if method == "GET":
        return await http.get(console_path(path, ids), headers=headers)
    form = REGISTRATION_FORM if path.endswith("/candidatures") else {}
    return await http.post(console_path(path, None), data=form, headers=headers)


@pytest.mark.parametrize(("route", "allowed"), CONSOLE_ROUTES)
async def test_console_strangers_are_sent_to_sign_in(
    service: Service, live: dict[str, str], route: tuple[str, str], allowed: frozenset | None
) -> None:
    for who, (headers, cookie) in CONSOLE_STRANGERS.items():
        async with client(service, cookie) as http:
            response = await console_request(http, route, live, headers)
        if allowed is PUBLIC:
            unknown = "{secret}" in route[1] and response.status_code == 404  # a made-up link
            assert response.status_code < 400 or unknown, (who, response.status_code)
        else:
            assert response.status_code == 303, (who, response.status_code)
            assert response.headers["location"] == "/console/connexion", who


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("route", "allowed"), SIGNED_IN_ROUTES)
async def test_console_roles(
    signed_in: dict[str, httpx.AsyncClient],
    live: dict[str, str],
    route: tuple[str, str],
    allowed: frozenset | None,
    role: str,
) -> None:
    response = await console_request(signed_in[role], route, live, {})
    refused = role not in allowed or (route, role) in ASSIGNED_ONLY
    if route[0] == "GET":
        # A page: shown (real cases), or refused by redirection with a message, 403 or 404.
        shown = response.status_code == 200
        assert shown != refused, (response.status_code, console_message(response))
    else:
        # A form redirects, or comes back refused as typed; what it says tells a refusal from a
        # bad form or an unknown case.
        assert response.status_code in (303, 403, 404, 409, 422), response.status_code
        message = console_message(response)
        assert is_refusal(message) == refused, message


# --- evaluators: their own cases only -------------------------------------------------------------
EVE, DRISS, NADIA, YOUSSEF = (
    "evaluator",
    "evaluator2",
    "evaluator3",
    "evaluator4",
)  # conftest.TOKENS
EVE_NAME, DRISS_NAME, NADIA_NAME = "Eve Évaluatrice", "Driss Évaluateur", "Nadia Évaluatrice"
SECRET_NAME = "Cluster Confidentiel du Souss"  # appears only where the case may be seen


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def in_evaluation(service: Service) -> tuple[str, str]:
    """A call that closes a second after opening, one eligible case, Eve and Driss assigned.

    Evaluations are due in five days, so the case is among this week's deadlines."""
    call_id = await open_call(
        service,
        title="Appel à projets : accès des évaluateurs",
        deadline=(utcnow() + timedelta(seconds=1.5)).isoformat(),
        evaluators_per_application=2,
        evaluation_days=5,
        reminder_days=[2],
    )
    application = {**APPLICATION, "cluster_name": SECRET_NAME}
    registered = await service.post(f"/calls/{call_id}/applications", json=application)
    assert registered.status_code == 201, registered.text
    application_id = registered.json()["id"]
    path = f"/applications/{application_id}"

    async def in_review() -> bool:
        return (await service.get(path)).json()["stage"] == "eligibility_review"

    await eventually(in_review, what="the deadline to close the call")
    assert (await service.post(f"{path}/mark_eligible")).status_code == 200
    started = await service.post(f"/calls/{call_id}/start_evaluation", role=ADMIN)
    assert started.status_code == 200, started.text
    assigned = await service.post(
        f"{path}/assign_evaluators", role=ADMIN, json={"evaluators": [EVE_NAME, DRISS_NAME]}
    )
    assert assigned.status_code == 200 and assigned.json()["stage"] == "evaluation", assigned.text
    return call_id, application_id


async def test_evaluator_sees_only_assigned_cases(
    service: Service, in_evaluation: tuple[str, str]
) -> None:
    call_id, application_id = in_evaluation
    path = f"/applications/{application_id}"

    # Assigned, but no declaration yet: the file stays closed.
    assert (await service.get(path, role=EVE)).status_code == 403

    # Not assigned: no file, no declaration, no scores.
    assert (await service.get(path, role=YOUSSEF)).status_code == 403
    declared = await service.post(
        f"{path}/declare_interest", role=YOUSSEF, json={"conflict": False}
    )
    assert declared.status_code == 403, declared.text
    scored = await service.post(f"{path}/submit_scores", role=YOUSSEF, json=SHEET)
    assert scored.status_code == 403, scored.text

    # Declared free of conflict: the file opens, with Eve's own assignment only.
    declared = await service.post(f"{path}/declare_interest", role=EVE, json={"conflict": False})
    assert declared.status_code == 200, declared.text
    opened = await service.get(path, role=EVE)
    assert opened.status_code == 200, opened.text
    assert [a["evaluator"] for a in opened.json()["evaluation"]["assignments"]] == [EVE_NAME]
    assert (await service.get(path, role=YOUSSEF)).status_code == 403

    # Never the list of all applications, nor this week's deadlines.
    assert (await service.get("/applications", role=EVE)).status_code == 403
    listed = await service.get("/applications", role=EVE, params={"call_id": call_id})
    assert listed.status_code == 403
    assert (await service.get("/deadlines", role=EVE)).status_code == 403

    # Each evaluator's work list holds their own assignments, whatever they ask for.
    async def worklist(role: str, **params: str) -> list[tuple[str, str]]:
        response = await service.get("/evaluations", role=role, params=params)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return [(c["application_id"], c["evaluator"]) for c in items]

    assert await worklist(EVE) == [(application_id, EVE_NAME)]
    assert await worklist(EVE, evaluator=DRISS_NAME) == [(application_id, EVE_NAME)]
    assert await worklist(DRISS) == [(application_id, DRISS_NAME)]
    assert await worklist(YOUSSEF) == []
    everyone = [case for case in await worklist(ADMIN) if case[0] == application_id]
    assert sorted(everyone) == [(application_id, DRISS_NAME), (application_id, EVE_NAME)]
    assert await worklist(ADMIN, evaluator=DRISS_NAME) == [(application_id, DRISS_NAME)]


async def test_console_evaluator_sees_only_assigned_cases(
    service: Service, in_evaluation: tuple[str, str]
) -> None:
    _, application_id = in_evaluation
    page = f"/console/candidatures/{application_id}"
    stranger = await service.signed_in(f"t-{YOUSSEF}")
    driss = await service.signed_in(f"t-{DRISS}")
    try:
        # Assigned but undeclared, or not assigned: sent back to their list with the reason.
        for session in (driss, stranger):
            refused = await session.get(page)
            assert refused.status_code == 303, refused.status_code
            assert console_message(refused)["kind"] == "erreur"
        own = await driss.get("/console/candidatures")
        assert own.status_code == 200 and application_id in own.text
        # Nowhere in the console does another evaluator's case show: their list is all they get.
        answer = await stranger.get("/console/candidatures")
        assert answer.status_code == 200
        assert SECRET_NAME not in answer.text and application_id not in answer.text
        dashboard = await stranger.get("/console/")
        assert dashboard.headers["location"] == "/console/candidatures"
    finally:
        await stranger.aclose()
        await driss.aclose()
