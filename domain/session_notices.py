"""What a committee session tells its members: the convocation, with the agenda."""

from domain.clock import local
from domain.models import Notification
from domain.notices import EVALUATOR, WHERE, notice, words
from domain.session import SessionState


@notice
def session_convened(state: SessionState) -> list[Notification]:
    """Convocation à une séance du comité"""
    spec = state.spec
    items = [
        {"rank": i.rank, "cluster": i.cluster_name, "ref": i.application_id, "score": i.score}
        for i in state.agenda
        if i.removed_at is None
    ]
    return [
        Notification(
            recipient=f"{EVALUATOR}{member.name}",  # a staff account's address, by its name
            **words(
                "session_convened",
                **WHERE,
                session=state.id,
                title=spec.title,
                when=f"{local(spec.meets_at):%d/%m/%Y à %H:%M}",
                place=spec.place,
                function=member.function,
                items=items,
            ),
        )
        for member in spec.members
    ]
