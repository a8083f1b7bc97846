"""The dashboard: « À traiter » for the signed-in role, open calls, stages, what is late."""

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from console import formats
from console.pages import (
    Signed,
    case_readers_only,
    render,
    router,
)
from domain.ids import Kind
from domain.lifecycle import TRANSITIONS
from domain.stages import STAGES, Action, ApplicationStage, CallStage, ClusterStage, Role
from projection import assignments, queries
from projection.ranking import call_ranking
from projection.views import Paging
from web.calls import CALLS
from web.deps import Db

C = ClusterStage


def _awaiting() -> dict[Role, tuple[tuple[str, Kind, tuple[str, ...]], ...]]:
    """« À traiter »: what waits on each role, as (heading, kind of case, stages), from the
    stages' records in lifecycle order. An evaluator's own list (declarations, then grids,
    soonest first) is « Mes évaluations »."""
    found: dict[Role, dict[str, tuple[Kind, list[str]]]] = {}
    for kind, stages in ((Kind.APPLICATION, ApplicationStage), (Kind.CLUSTER, ClusterStage)):
        for stage in stages:
            if todo := STAGES[stage].todo:
                found.setdefault(todo.role, {}).setdefault(todo.heading, (kind, []))[1].append(
                    stage
                )
    return {
        role: tuple((heading, kind, tuple(stages)) for heading, (kind, stages) in headings.items())
        for role, headings in found.items()
    }


AWAITING = _awaiting()
SHOWN = 20  # per heading; the rest is one click away in the filtered list
RANKED = {ApplicationStage.SCORED}  # listed in each call's ranking order, not by due date


def ranked_cases(db: Db, stage: ApplicationStage) -> tuple[list[dict[str, Any]], list[dict]]:
    """The cases at `stage` call by call (soonest deadline first), each call's in its ranking
    order (weighted score descending, those below a threshold last), and the link to decide
    each call's from its ranking."""
    items: list[dict[str, Any]] = []
    decide = []
    for call in queries.calls_by_deadline(db):
        if not queries.counts_by_stage(db, call.id).get(stage):
            continue
        ranking = call_ranking(db, CALLS.row(db, call.id))
        decide.append(
            {
                "href": f"/console/appels/{call.id}/decisions",
                "text": f"Décider depuis le classement : {call.spec.title}",
            }
        )
        items += [
            {
                "href": f"/console/candidatures/{e.application_id}",
                "name": e.cluster_name,
                "where": call.spec.title,
                "note": (f"rang {e.rank}" if e.rank else "sous le seuil")
                + f" · score {formats.score(e.result.weighted_score)}",
                "due": None,
                "stage": e.stage,
                "late": False,
            }
            for e in ranking.ranked + ranking.below_threshold
            if e.stage == stage
        ]
    return items, decide


def short_cases(db: Db, titles: dict[str, str]) -> dict[str, Any]:
    """« Évaluateurs manquants »: cases under evaluation left short, with why and how many."""
    short = assignments.short_of_evaluators(db)
    cases = [
        {
            "href": f"/console/candidatures/{s.id}",
            "name": s.cluster_name,
            "where": titles.get(s.call_id, ""),
            "note": f"{s.missing} manquant(s) : {s.why}",
            "due": None,
            "stage": ApplicationStage.EVALUATION,
            "late": False,
        }
        for s in short
    ]
    return {
        "heading": "Évaluateurs manquants",
        "cases": cases[:SHOWN],
        "total": len(cases),
        "link": f"/console/candidatures?stage={ApplicationStage.EVALUATION}",
        "decide": [],
    }


def awaiting(db: Db, role: str) -> list[dict[str, Any]]:
    """The signed-in role's work, each heading's cases soonest due first."""
    titles = {c.id: c.spec.title for c in queries.calls_by_deadline(db)}
    sections = []
    for heading, kind, stages in AWAITING.get(role, ()):
        items: list[dict[str, Any]] = []
        decide: list[dict] = []  # links to decide from a ranking, for ranked stages
        total = 0
        for stage in stages:
            if stage in RANKED:
                ranked, decide = ranked_cases(db, ApplicationStage(stage))
                items += ranked
                total += len(ranked)
                link = f"/console/candidatures?stage={stage}"
                continue
            if kind == Kind.APPLICATION:
                page = queries.list_applications(  # the soonest due, not the first registered
                    db, stage=ApplicationStage(stage), sort="echeance", paging=Paging(1, SHOWN)
                )
                items += [
                    {
                        "href": f"/console/candidatures/{a.id}",
                        "name": a.data.cluster_name,
                        "where": titles.get(a.call_id, ""),
                        "due": a.due_at,
                        "stage": a.stage,
                        "late": a.overdue,
                    }
                    for a in page.items
                ]
                link = f"/console/candidatures?stage={stage}"
            else:
                page = queries.list_clusters(  # by anniversary, when its report falls due
                    db, stage=ClusterStage(stage), paging=Paging(1, SHOWN)
                )
                items += [
                    {
                        "href": f"/console/clusters/{c.id}",
                        "name": c.origin.cluster_name,
                        "where": c.origin.sector,
                        "due": c.report_due_at,
                        "stage": c.stage,
                        "late": c.stage == C.REPORT_OVERDUE,
                    }
                    for c in page.items
                ]
                link = "/console/clusters"
            total += page.total
        far = datetime.max.replace(tzinfo=UTC)
        if not RANKED & set(stages):
            items.sort(key=lambda item: item["due"] or far)  # two stages' lists, merged
        section = {"heading": heading, "cases": items[:SHOWN], "total": total, "link": link}
        sections.append(section | {"decide": decide})
        if (
            role in TRANSITIONS[Action.ASSIGN_EVALUATORS].roles
            and ApplicationStage.ELIGIBLE in stages
        ):
            sections.append(short_cases(db, titles))  # beside the cases awaiting a first panel
    return sections


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, actor: Signed, db: Db) -> Response:
    case_readers_only(actor)  # an evaluator sees their own cases, finance its own page
    late_reports = queries.list_clusters(
        db, stage=ClusterStage.REPORT_OVERDUE, paging=Paging(1, 200)
    )
    return render(
        request,
        "tableau.html",
        actor,
        calls=queries.calls_by_deadline(db, CallStage.OPEN),
        by_stage=queries.counts_by_stage(db),
        overdue=queries.overdue_applications(db),
        late_reports=late_reports.items,
        week=queries.upcoming_deadlines(db, 7),
        awaiting=awaiting(db, actor.role),
    )
