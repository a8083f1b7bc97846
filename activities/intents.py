"""The API's intents: one row per operator transition it sent and has not yet written to SQL.

Recorded before the update is sent, deleted once its records are written (or it was refused):
a row that stays means the API stopped in between, and the sweeper settles it from the update's
answer. So the workflow itself owes these transitions no safety write.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from activities.tables import IntentRow

INTENTS = IntentRow.__table__


@dataclass(frozen=True)
class Intent:
    update_id: str
    workflow_id: str
    created_at: datetime


class Intents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, update_id: str, workflow_id: str) -> None:
        """Idempotent: a request repeated with its Idempotency-Key finds its intent there."""
        row = {"update_id": update_id, "workflow_id": workflow_id, "created_at": datetime.now(UTC)}
        try:
            with self.engine.begin() as db:
                db.execute(insert(INTENTS), row)
        except IntegrityError:
            pass

    def clear(self, update_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(delete(INTENTS).where(INTENTS.c.update_id == update_id))

    def older_than(self, moment: datetime, limit: int = 100) -> list[Intent]:
        query = (
            select(INTENTS.c.update_id, INTENTS.c.workflow_id, INTENTS.c.created_at)
            .where(INTENTS.c.created_at < moment)
            .order_by(INTENTS.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as db:
            return [Intent(*row) for row in db.execute(query)]
