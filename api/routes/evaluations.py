"""Evaluators' work lists: an evaluator sees their own assignments, managers see everyone's."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from domain.models import Actor
from domain.stages import Role
from projection import assignments
from projection.views import EvaluatorCase, Page
from web.deps import PRINTABLE, Db, PageQuery, require

router = APIRouter(prefix="/evaluations", tags=["évaluations"])
Viewer = Annotated[Actor, Depends(require(Role.EVALUATOR, Role.ADMIN, Role.COMMITTEE))]


@router.get("", response_model=Page[EvaluatorCase])
def list_evaluations(
    actor: Viewer,
    db: Db,
    paging: PageQuery,
    evaluator: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="Gestionnaires seulement")
    ] = None,
    overdue: bool | None = None,
) -> Page[EvaluatorCase]:
    who = actor.name if actor.role == Role.EVALUATOR else evaluator
    return assignments.evaluator_cases(db, who, overdue, paging)
