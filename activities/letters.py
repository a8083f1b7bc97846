"""The result letter (#27): one PDF per applicant, built when the result's notice leaves
(activities.mail attaches it to the e-mail and keeps it with the dossier): the call's title, the
outcome, the public motivation, the marks per criterion against the thresholds, the amounts per
year where granted and, for a rejection, the last date of a redress counted in Morocco's working
days, as the workflow counts it. Never the committee's internal note.

A letter is dated by its day in Rabat: built again on the same day (a retry), it is the same
bytes, hence the same SHA-256 in storage."""

from dataclasses import dataclass
from datetime import datetime, time

from sqlmodel import Session

from activities.pdf import BuiltPdf, build_pdf
from domain.clock import RABAT, local
from domain.ids import application_workflow_id
from domain.models import ApplicationState, CallSpec
from domain.money import mad
from domain.notices import decimal, letter_filename, long_day, result_marks, sentence
from domain.session import OUTCOME_WORDS
from domain.stages import STAGES, ApplicationStage
from domain.workdays import response_due
from projection.queries import application_state, call_state
from projection.tables import ApplicationRow, CallRow

TEMPLATE = "letter.html"


@dataclass(frozen=True)
class Letter:
    filename: str
    pdf: BuiltPdf


def build_result_letter(
    state: ApplicationState, spec: CallSpec, sent: datetime, reference: str
) -> BuiltPdf:
    """The letter of the case's published decision, sent at `sent`."""
    decision, redress = state.decision, state.redress
    assert decision is not None, "a result letter needs the committee's decision"
    scored = result_marks(state, spec.grid)
    due = None
    if decision.outcome == ApplicationStage.REJECTED and redress and redress.days:
        last = local(response_due(sent, redress.days, redress.working_days))
        due = {
            "day": long_day(last),
            "time": f"{last:%H:%M}",
            "days": redress.days,
            "working": redress.working_days,
        }
    granted = decision.outcome == ApplicationStage.LABELLED and decision.amounts
    context = {
        "place_date": f"Rabat, le {long_day(sent)}",
        "call": spec.title,
        "cluster": state.data.cluster_name,
        "contact": state.data.contact,
        "reference": reference,
        "outcome": decision.outcome.value,
        "outcome_text": OUTCOME_WORDS.get(decision.outcome, STAGES[decision.outcome].public),
        "reason": sentence(decision.reason),
        "marks": [
            {
                "label": m["label"],
                "mark": "non noté" if m["mark"] is None else decimal(m["mark"]),
                "threshold": decimal(m["threshold"]),
                "met": m["met"],
            }
            for m in scored["marks"]
        ],
        "overall": None if scored["overall"] is None else decimal(scored["overall"]),
        "overall_threshold": decimal(scored["overall_threshold"]),
        "overall_met": scored["overall_met"],
        "amounts": [mad(a) for a in decision.amounts] if granted else [],
        "total": mad(sum(decision.amounts)) if granted else "",
        "due": due,
    }
    # Dated by its day: the file's dates are that day's start in Rabat, not the attempt's time.
    created = datetime.combine(local(sent).date(), time(0), RABAT)
    title = f"Résultat de l'appel « {spec.title} » — candidature {reference}"
    return build_pdf(TEMPLATE, context, title=title, created=created)


def result_letter(db: Session, key: str, sent: datetime) -> Letter:
    """The letter that goes with the result notice `key` (« application-{id}:{seq}:{n} »), of
    the case and its call as the projection holds them."""
    application_id = key.split(":", 1)[0].removeprefix(application_workflow_id(""))
    row = db.get(ApplicationRow, application_id)
    assert row is not None, f"no application {application_id} for the notice {key}"
    state = application_state(row)
    call = db.get(CallRow, state.call_id)
    assert call is not None, f"no call {state.call_id} for the application {application_id}"
    pdf = build_result_letter(state, call_state(call).spec, sent, application_id)
    return Letter(letter_filename(application_id), pdf)
