"""The projection's activities: a transition's record written, and the one read a workflow needs."""

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from domain.models import ApplicationRecord, CallRecord
from domain.session import SessionRecord
from domain.support import ClusterRecord
from projection import queries
from projection.writes import Projection


class Records:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.projection = Projection(engine)

    # Each write answers its record: a local activity's history keeps its result, not its input,
    # and the projection is rebuilt from those histories (projection.rebuild).
    @activity.defn
    def record_call(self, record: CallRecord) -> CallRecord:
        self.projection.write(record)
        return record

    @activity.defn
    def record_application(self, record: ApplicationRecord) -> ApplicationRecord:
        self.projection.write(record)
        return record

    @activity.defn
    def record_cluster(self, record: ClusterRecord) -> ClusterRecord:
        self.projection.write(record)
        return record

    @activity.defn
    def record_session(self, record: SessionRecord) -> SessionRecord:
        self.projection.write(record)
        return record

    @activity.defn
    def count_undecided(self, call_id: str) -> dict[str, int]:
        with Session(self.engine) as db:
            return queries.count_undecided(db, call_id)
