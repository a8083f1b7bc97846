"""The API's intents: one row per operator transition it sent and has not yet written to SQL.

Recorded before the update is sent, deleted once its records are written (or it was refused):
a row that stays means the API stopped in between, and the sweeper settles it from the update's
answer. So the workflow itself owes these transitions no safety write.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from activities.tables import IntentRow

INTENTS = IntentRow.__table__


@dataclass(frozen=True)
class Intent:
    workflow_id: str
    update_id: str
    created_at: datetime
    attempted_at: datetime

    @property
    def context(self) -> dict[str, str]:
        """What its log lines carry."""
        return {"workflow_id": self.workflow_id, "update_id": self.update_id}


class Intents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, workflow_id: str, update_id: str) -> bool:
        """True if recorded now; False if an earlier attempt with the same Idempotency-Key left
        it (its outcome unknown): then only the sweeper, which reads every run, may clear it."""
        now = datetime.now(UTC)
        row = {"workflow_id": workflow_id, "update_id": update_id}
        try:
            with self.engine.begin() as db:
                db.execute(insert(INTENTS), {**row, "created_at": now, "attempted_at": now})
            return True
        except IntegrityError:
            with self.engine.begin() as db:
                db.execute(
                    update(INTENTS).where(*self._key(workflow_id, update_id)), {"attempted_at": now}
                )
            return False

    def clear(self, workflow_id: str, update_id: str, attempted_at: datetime | None = None) -> None:
        """`attempted_at`: only if no retry has come since (the sweeper's read of it)."""
        where = self._key(workflow_id, update_id)
        if attempted_at is not None:
            where += (INTENTS.c.attempted_at == attempted_at,)
        with self.engine.begin() as db:
            db.execute(delete(INTENTS).where(*where))

    def tried_before(self, moment: datetime, limit: int = 100) -> list[Intent]:
        """The intents last attempted before `moment`, oldest first."""
        columns = [INTENTS.c[name] for name in Intent.__dataclass_fields__]
        query = (
            select(*columns)
            .where(INTENTS.c.attempted_at < moment)
            .order_by(INTENTS.c.attempted_at)
            .limit(limit)
        )
        with self.engine.connect() as db:
            return [Intent(*row) for row in db.execute(query)]

    @staticmethod
    def _key(workflow_id: str, update_id: str) -> tuple:
        return INTENTS.c.workflow_id == workflow_id, INTENTS.c.update_id == update_id
