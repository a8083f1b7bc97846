"""A case's result letters (activities.letters), as the result's e-mail carried them: found
through the outbox row that sent each, never by its hash alone (another case's letter is unknown
here). Read by the API and the console (api.routes.letters) and by the applicant (portal)."""

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from domain.ids import application_workflow_id
from domain.stages import ApplicationStage
from projection.storage import Storage
from projection.tables import AuditRow, OutboxRow
from web.applications import APPLICATIONS


class ResultLetter(BaseModel):
    """One result letter sent to the applicant."""

    sent_at: datetime
    outcome: ApplicationStage  # the decision the letter told
    sha256: str
    size: int
    url: str


def letters_of(db: Session, storage: Storage, case_id: str) -> list[ResultLetter]:
    """The case's letters, oldest first (a re-evaluation after a redress sends another)."""
    case = application_workflow_id(case_id)
    rows = db.exec(
        select(OutboxRow)
        .where(
            col(OutboxRow.key).startswith(f"{case}:"),
            col(OutboxRow.attachment_sha256).is_not(None),
        )
        .order_by(col(OutboxRow.sent_at), col(OutboxRow.id))
    ).all()
    # A notice's key is « {workflow}:{seq}:{n} »: the transition that wrote it, whose stage is
    # the outcome the letter told.
    seqs = {row.key: int(row.key.split(":")[1]) for row in rows}
    stages = dict(
        db.exec(
            select(AuditRow.seq, AuditRow.to_stage).where(
                AuditRow.workflow_id == case, col(AuditRow.seq).in_(set(seqs.values()))
            )
        ).all()
    )
    letters = []
    for row in rows:
        assert row.attachment_sha256 and row.sent_at  # recorded together when sent
        letters.append(
            ResultLetter(
                sent_at=row.sent_at,
                outcome=ApplicationStage(stages[seqs[row.key]]),
                sha256=row.attachment_sha256,
                size=storage.fs.size(storage.path(row.attachment_sha256)),
                url=f"{APPLICATIONS.prefix}/{case_id}/letters/{row.attachment_sha256}.pdf",
            )
        )
    return letters
