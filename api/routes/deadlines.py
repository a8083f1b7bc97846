"""What falls due soon: call openings and deadlines, complement due dates."""

from typing import Annotated

from fastapi import APIRouter, Query

from projection import queries
from projection.views import Deadline
from web.deps import Db, Reader

router = APIRouter(prefix="/deadlines", tags=["échéances"])


@router.get("", response_model=list[Deadline])
def upcoming(_: Reader, db: Db, days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[Deadline]:
    return queries.upcoming_deadlines(db, days)
