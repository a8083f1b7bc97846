"""The notices to applicants, evaluators, clusters and managers: who receives which, with what
facts; their French wording is in one template per kind (domain/templates/{kind}.txt: the
subject, a blank line, the text), loaded at import so that a workflow renders them without I/O.
A notice to the applicant is also worded in Arabic (domain/templates/ar/{kind}.txt) and goes out
in the language its contact reads; the staff's stay in French."""

import functools
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from jinja2 import Environment, StrictUndefined

from domain.bodies import DigestItem
from domain.clock import local
from domain.models import (
    ApplicationState,
    CallState,
    FromNotice,
    Grid,
    Language,
    Notification,
)
from domain.money import mad
from domain.stages import ApplicationStage, ClusterStage
from domain.support import ClusterState

Make = Callable[..., list[Notification]]
KINDS: dict[str, str] = {}  # each kind of notice (its function's name) and what it is, in French
TO_APPLICANT: set[str] = set()  # the kinds worded in each language a contact may read
# What only the sending knows, written in by activities.mail when the notice leaves.
DUE = "⟨date limite⟩"  # a date counted from the sending
DUES: dict[Language, str] = {"fr": DUE, "ar": "⟨الأجل⟩"}  # … in each language's wording
CONSOLE = "⟨console⟩"  # the console's public address (PUBLIC_URL + /console)
MAILBOX = "⟨adresse du programme⟩"  # where applicants write to the programme (MAIL_PROGRAMME)
# Recipients named, not addressed: the delivery finds the address (activities.mail).
PROGRAMME = "programme"  # the programme managers' shared mailbox (MAIL_PROGRAMME)
EVALUATOR = "évaluateur:"  # followed by the staff member's name: their account's e-mail

# The article a name takes after a preposition: before a consonant, before a vowel, and before
# a name that already says what it is (« Cluster TIC n° 8 »), which is only quoted.
ARTICLES = {"le": ("le ", "l'", ""), "de": ("du ", "de l'", "de "), "à": ("au ", "à l'", "à ")}


def named(name: str, noun: str, article: str = "le") -> str:
    """« le cluster « Textile » », « de l'appel « AAP 2027 » », but « « Cluster TIC n° 8 » »:
    never « Cluster Cluster »."""
    consonant, vowel, bare = ARTICLES[article]
    if name.casefold().startswith(noun):
        return f"{bare}« {name} »"
    return f"{vowel if noun[0] in 'aeéiou' else consonant}{noun} « {name} »"


def head(name: str, noun: str) -> str:
    """A subject's first words: the name, or the noun and the name when it does not say it."""
    return name if name.casefold().startswith(noun) else f"{noun.capitalize()} « {name} »"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def decimal(value: float) -> str:
    """A mark as French writes it: « 2,85 »."""
    return f"{value:.2f}".replace(".", ",")


def day(moment: datetime) -> str:
    return f"{local(moment):%d/%m/%Y}"


def dirhams(value: float) -> str:
    """An amount as the Arabic notices write it: « 1 200 000 درهم »."""
    return mad(value).removesuffix("MAD") + "درهم"


MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def long_day(moment: datetime) -> str:
    """The day in Rabat as a letter writes it: « 4 décembre 2026 », « 1er juillet 2027 »."""
    moment = local(moment)
    first = "1er" if moment.day == 1 else str(moment.day)
    return f"{first} {MONTHS[moment.month - 1]} {moment.year}"


# A block tag's line leaves no blank line behind: a paragraph stays whole around an {% if %}.
_JINJA = Environment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)
_JINJA.filters |= {
    "named": named,
    "head": head,
    "upper_first": upper_first,
    "decimal": decimal,
    "mad": mad,
    "day": day,
    "dirhams": dirhams,
}
ROOT = Path(__file__).parent.parent
FOLDERS: dict[Language, Path] = {
    "fr": ROOT / "domain" / "templates",
    "ar": ROOT / "domain" / "templates" / "ar",
}
WORDINGS = {
    language: {
        path.stem: _JINJA.from_string(path.read_text(encoding="utf-8"))
        for path in folder.glob("*.txt")
    }
    for language, folder in FOLDERS.items()
}
TEMPLATES = WORDINGS["fr"]


def notice(make: Make, languages: tuple[Language, ...] = ("fr",)) -> Make:
    """Every notification `make` writes is of its kind: the function's name, whose template
    words it in each of `languages`; its docstring says what it is, for the console."""
    for language in languages:
        path = (FOLDERS[language] / f"{make.__name__}.txt").relative_to(ROOT)
        assert make.__name__ in WORDINGS[language], f"{path} is missing"
    KINDS[make.__name__] = (make.__doc__ or make.__name__).strip()
    if "ar" in languages:
        TO_APPLICANT.add(make.__name__)

    @functools.wraps(make)
    def kinded(*args: object) -> list[Notification]:
        return [n.model_copy(update={"kind": make.__name__}) for n in make(*args)]

    return kinded


def applicant_notice(make: Make) -> Make:
    """A notice to the applicant (or to its labelled cluster): worded in French and in Arabic,
    sent in the language its contact reads."""
    return notice(make, ("fr", "ar"))


LIST_ITEM = "– "  # a list's item keeps a line of its own in its paragraph


def words(kind: str, language: Language = "fr", **facts: object) -> dict[str, str]:
    """The subject and the text of a notice of `kind` in `language` about these facts:
    paragraphs apart by a blank line, each one line but for a list's items."""
    rendered = WORDINGS[language][kind].render(**facts).strip()
    subject, _, body = rendered.partition("\n\n")
    paragraphs = [_paragraph(p) for p in body.split("\n\n") if p.strip()]
    return {"subject": _spaced(subject), "body": "\n\n".join(paragraphs)}


def _spaced(text: str) -> str:
    """The template's spaces and line breaks made one space; a no-break space stays one."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def _paragraph(text: str) -> str:
    lines: list[str] = []
    for line in (_spaced(raw) for raw in text.splitlines()):
        if line and (not lines or line.startswith(LIST_ITEM)):
            lines.append(line)
        elif line:
            lines[-1] += " " + line
    return "\n".join(lines)


def due_text(moment: datetime, language: Language = "fr") -> str:
    """A moment in Rabat as a notice writes it; in Arabic with Latin digits, as Moroccan
    administration does (strftime on the Rabat time: no locale, the same in every worker)."""
    if language == "ar":
        return f"{local(moment):%d/%m/%Y} على الساعة {local(moment):%H:%M}"
    return f"{local(moment):%d/%m/%Y à %H:%M}"


def _due(counted: FromNotice, language: Language = "fr") -> str:
    """The date as the message states it: known, or written in at the sending."""
    return due_text(counted.due_at, language) if counted.due_at else DUES[language]


def language_of(body: str) -> Language:
    """The language a notice's text is worded in, as its first letter shows: every template
    opens its text with its own words, never with a fact (tests/test_notices_ar.py), so the
    outbox needs no column of its own for it (activities.mail lays the message out in it)."""
    first = next((c for c in body if c.isalpha()), "")
    return "ar" if "\u0600" <= first <= "\u06ff" else "fr"


def sentence(text: str) -> str:
    """A text ending as a French sentence does, without a doubled full stop; nothing stays
    nothing."""
    text = text.strip()
    return text if not text or text.endswith((".", "!", "?", "…")) else text + "."


# Where every notice may send its reader: the programme's mailbox, the console.
WHERE = {"mailbox": MAILBOX, "console": CONSOLE}


def _application(state: ApplicationState) -> dict[str, object]:
    return {
        **WHERE,
        "ref": state.id,
        "cluster": state.data.cluster_name,
        "call": state.call_title or state.call_id,
    }


def _to(
    state: ApplicationState,
    kind: str,
    counted: FromNotice | None = None,
    **facts: object,
) -> list[Notification]:
    """The applicant's notice of `kind`, in its contact's language; `counted`: a response time
    that runs from its sending."""
    assert kind in TO_APPLICANT, f"{kind}: an applicant's notice is an @applicant_notice"
    text = words(kind, state.data.contact.language, **_application(state), **facts)
    return [
        Notification(
            recipient=state.data.contact.email,
            due_days=counted.days if counted else None,
            due_working=counted.working_days if counted else False,
            **text,
        )
    ]


@applicant_notice
def registered(state: ApplicationState) -> list[Notification]:
    """Candidature enregistrée"""
    deadline = due_text(state.deadline, state.data.contact.language)
    return _to(state, "registered", deadline=deadline)


@applicant_notice
def complements_requested(state: ApplicationState) -> list[Notification]:
    """Compléments demandés"""
    request = state.complements
    assert request is not None
    note = sentence(request.note) if request.note else ""
    return _to(
        state,
        "complements_requested",
        request,
        items=request.items,
        note=note,
        due=_due(request, state.data.contact.language),
    )


@applicant_notice
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
def assignments_digest(state: CallState, items: list[DigestItem]) -> list[Notification]:
    """Récapitulatif d'affectations"""
    notifications = []
    for name in sorted({i.evaluator for i in items}):
        cases = [
            {"ref": i.application_id, "cluster": i.cluster_name, "due": due_text(i.due_at)}
            for i in items
            if i.evaluator == name
        ]
        text = words("assignments_digest", **WHERE, call=state.spec.title, cases=cases)
        notifications.append(Notification(recipient=f"{EVALUATOR}{name}", **text))
    return notifications


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
def evaluators_short(state: ApplicationState, missing: int) -> list[Notification]:
    """Évaluateurs manquants"""
    text = words("evaluators_short", **_application(state), missing=missing)
    return [Notification(recipient=PROGRAMME, **text)]


class Mark(TypedDict):
    label: str
    mark: float | None
    threshold: float
    met: bool


class Marks(TypedDict):
    marks: list[Mark]
    overall: float | None
    overall_threshold: float
    overall_met: bool


def result_marks(state: ApplicationState, grid: Grid) -> Marks:
    """The evaluation's result against the call's grid, as the result's notice and its letter
    (activities.letters) state it: each criterion's mean against its threshold, the weighted
    score against the overall one (None when the case was never scored)."""
    result = state.evaluation.result if state.evaluation else None
    marks = [
        Mark(
            label=c.label,
            mark=result.criterion_means.get(c.code) if result else None,
            threshold=c.threshold,
            met=result is not None and c.code not in result.failed_criteria,
        )
        for c in grid.criteria
    ]
    return {
        "marks": marks,
        "overall": result.weighted_score if result else None,
        "overall_threshold": grid.overall_threshold,
        "overall_met": result is not None and result.weighted_score >= grid.overall_threshold,
    }


def letter_filename(reference: str) -> str:
    """The result letter's name, as the e-mail attaches it and the API serves it."""
    return f"courrier-resultat-{reference}.pdf"


@applicant_notice
def result_published(state: ApplicationState, grid: Grid) -> list[Notification]:
    """Résultat de l'appel"""
    decision, redress = state.decision, state.redress
    assert decision
    return _to(
        state,
        "result_published",
        redress,
        outcome=decision.outcome,
        reason=sentence(decision.reason),
        redress=redress is not None,
        due=_due(redress, state.data.contact.language) if redress else "",
        **result_marks(state, grid),
    )


@applicant_notice
def review_answered(state: ApplicationState) -> list[Notification]:
    """Réponse au recours"""
    assert state.redress
    return _to(
        state,
        "review_answered",
        answer=sentence(state.redress.answer or ""),
        re_evaluation=state.stage == ApplicationStage.EVALUATION,
    )


def _cluster_words(
    state: ClusterState, kind: str, language: Language, **facts: object
) -> dict[str, str]:
    year = state.current
    return words(
        kind,
        language,
        **WHERE,
        ref=state.id,
        cluster=state.origin.cluster_name,
        year=year.year if year else "",
        due=due_text(year.ends_at, language) if year else "",
        **facts,
    )


def _cluster(state: ClusterState, kind: str, **facts: object) -> list[Notification]:
    """The cluster's notice of `kind`, in the language of the contact its application gave."""
    assert kind in TO_APPLICANT, f"{kind}: a cluster's notice is an @applicant_notice"
    text = _cluster_words(state, kind, state.origin.contact_language, **facts)
    recipient = state.origin.contact_email or f"cluster:{state.id}"
    return [Notification(recipient=recipient, **text)]


@applicant_notice
def report_requested(state: ClusterState) -> list[Notification]:
    """Rapport annuel demandé"""
    return _cluster(state, "report_requested")


@applicant_notice
def report_reminder(state: ClusterState) -> list[Notification]:
    """Rappel du rapport annuel"""
    return _cluster(state, "report_reminder")


@applicant_notice
def report_overdue(state: ClusterState) -> list[Notification]:
    """Rapport annuel en retard"""
    [to_cluster] = _cluster(state, "report_overdue")
    to_programme = _cluster_words(state, "report_overdue", "fr")  # the staff read French
    return [to_cluster, Notification(recipient=PROGRAMME, **to_programme)]


@notice
def probation_review(state: ClusterState) -> list[Notification]:
    """Revue de probation"""
    year = state.current
    conditions = sentence(year.probation.conditions) if year and year.probation else ""
    text = _cluster_words(state, "probation_review", "fr", conditions=conditions)
    return [Notification(recipient=PROGRAMME, **text)]


STOPPED = (ClusterStage.SUSPENDED, ClusterStage.TERMINATED)  # their letters give the motive


@applicant_notice
def support_decided(state: ClusterState) -> list[Notification]:
    """Décision de soutien"""
    year = state.current
    renewed = state.stage == ClusterStage.ACTIVE
    probation = year.probation if renewed and year else None
    probation = probation if probation and not probation.reviewed else None
    return _cluster(
        state,
        "support_decided",
        stage=state.stage,
        # A renewal's motive stays in its audit event; an end's is the letter's own words.
        reason=sentence(state.reason or "") if state.stage in STOPPED else "",
        amount=year.amount if year else 0,
        conditions=sentence(probation.conditions) if probation else "",
        review_at=probation.review_at if probation else None,
    )
