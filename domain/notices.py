"""The notices to applicants, evaluators, clusters and managers: who receives which, with what
facts; their French wording is in one template per kind (domain/templates/{kind}.txt: the
subject, a blank line, the text), loaded at import so that a workflow renders them without I/O."""

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from domain.clock import local
from domain.models import ApplicationState, FromNotice, Notification
from domain.support import ClusterState

Make = Callable[..., list[Notification]]
KINDS: dict[str, str] = {}  # each kind of notice (its function's name) and what it is, in French
DUE = "⟨date limite⟩"  # a date counted from the sending, written in when the notice is sent
# Recipients named, not addressed: the delivery finds the address (activities.mail).
PROGRAMME = "programme"  # the programme managers' shared mailbox (MAIL_PROGRAMME)
EVALUATOR = "évaluateur:"  # followed by the staff member's name: their account's e-mail

_JINJA = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
TEMPLATES = {
    path.stem: _JINJA.from_string(path.read_text(encoding="utf-8"))
    for path in (Path(__file__).parent / "templates").glob("*.txt")
}


def notice(make: Make) -> Make:
    """Every notification `make` writes is of its kind: the function's name, whose template
    words it; its docstring says what it is, for the console."""
    KINDS[make.__name__] = (make.__doc__ or make.__name__).strip()
    assert make.__name__ in TEMPLATES, f"domain/templates/{make.__name__}.txt is missing"

    @functools.wraps(make)
    def kinded(*args: object) -> list[Notification]:
        return [n.model_copy(update={"kind": make.__name__}) for n in make(*args)]

    return kinded


def words(kind: str, **facts: object) -> dict[str, str]:
    """The subject and the text of a notice of `kind` about these facts."""
    rendered = TEMPLATES[kind].render(**facts).strip()
    subject, _, body = rendered.partition("\n\n")
    paragraphs = [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]
    return {"subject": subject.strip(), "body": "\n\n".join(paragraphs)}


def due_text(moment: datetime) -> str:
    return f"{local(moment):%d/%m/%Y à %H:%M}"


def _due(counted: FromNotice) -> str:
    """The date as the message states it: known, or written in at the sending."""
    return due_text(counted.due_at) if counted.due_at else DUE


def sentence(text: str) -> str:
    """A text ending as a French sentence does, without a doubled full stop."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _application(state: ApplicationState) -> dict[str, object]:
    return {"ref": state.id, "cluster": state.data.cluster_name, "call": state.call_id}


def _to(state: ApplicationState, kind: str, due_days: int | None = None, **facts: object):
    """The applicant's notice of `kind`."""
    text = words(kind, **_application(state), **facts)
    return [Notification(recipient=state.data.contact.email, due_days=due_days, **text)]


@notice
def registered(state: ApplicationState) -> list[Notification]:
    """Candidature enregistrée"""
    return _to(state, "registered", deadline=due_text(state.deadline))


@notice
def complements_requested(state: ApplicationState) -> list[Notification]:
    """Compléments demandés"""
    request = state.complements
    assert request is not None
    note = sentence(request.note) if request.note else ""
    return _to(
        state,
        "complements_requested",
        request.days,
        items=" ; ".join(request.items),
        note=note,
        due=_due(request),
    )


@notice
def eligibility_decided(state: ApplicationState) -> list[Notification]:
    """Décision de recevabilité"""
    eligible = state.stage == "eligible"
    return _to(state, "eligibility_decided", eligible=eligible, reason=sentence(state.reason or ""))


def _evaluators(state: ApplicationState, kind: str, names: list[str]) -> list[Notification]:
    assert state.evaluation and state.evaluation.due_at
    text = words(kind, **_application(state), due=due_text(state.evaluation.due_at))
    return [Notification(recipient=f"{EVALUATOR}{name}", **text) for name in names]


@notice
def evaluators_assigned(state: ApplicationState, names: list[str]) -> list[Notification]:
    """Évaluation confiée"""
    return _evaluators(state, "evaluators_assigned", names)


@notice
def evaluation_reminder(state: ApplicationState, names: list[str]) -> list[Notification]:
    """Rappel d'évaluation"""
    return _evaluators(state, "evaluation_reminder", names)


@notice
def evaluation_overdue(state: ApplicationState, names: list[str]) -> list[Notification]:
    """Évaluation en retard"""
    text = words("evaluation_overdue", **_application(state), names=", ".join(names))
    return [Notification(recipient=PROGRAMME, **text)]


@notice
def result_published(state: ApplicationState) -> list[Notification]:
    """Résultat de l'appel"""
    decision, redress = state.decision, state.redress
    assert decision
    return _to(
        state,
        "result_published",
        redress.days if redress else None,
        outcome=decision.outcome,
        reason=sentence(decision.reason),
        redress=redress is not None,
        due=_due(redress) if redress else "",
    )


@notice
def review_answered(state: ApplicationState) -> list[Notification]:
    """Réponse au recours"""
    assert state.redress
    return _to(state, "review_answered", answer=sentence(state.redress.answer or ""))


def _cluster(state: ClusterState, kind: str, **facts: object) -> list[Notification]:
    """The cluster's notice of `kind`."""
    year = state.current
    text = words(
        kind,
        cluster=state.origin.cluster_name,
        year=year.year if year else "",
        due=due_text(year.ends_at) if year else "",
        **facts,
    )
    recipient = state.origin.contact_email or f"cluster:{state.id}"
    return [Notification(recipient=recipient, **text)]


@notice
def report_requested(state: ClusterState) -> list[Notification]:
    """Rapport annuel demandé"""
    return _cluster(state, "report_requested")


@notice
def report_reminder(state: ClusterState) -> list[Notification]:
    """Rappel du rapport annuel"""
    return _cluster(state, "report_reminder")


@notice
def report_overdue(state: ClusterState) -> list[Notification]:
    """Rapport annuel en retard"""
    [to_cluster] = _cluster(state, "report_overdue")
    return [to_cluster, to_cluster.model_copy(update={"recipient": PROGRAMME})]


@notice
def probation_review(state: ClusterState) -> list[Notification]:
    """Revue de probation"""
    year = state.current
    conditions = sentence(year.probation.conditions) if year and year.probation else ""
    [text] = _cluster(state, "probation_review", conditions=conditions)
    return [text.model_copy(update={"recipient": PROGRAMME})]


@notice
def support_decided(state: ClusterState) -> list[Notification]:
    """Décision de soutien"""
    reason = sentence(state.reason) if state.reason else ""
    return _cluster(state, "support_decided", stage=state.stage, reason=reason)
