"""The rehearsal's report: timeline, stages over time, outcomes, ranking, support paid, and the
messages its SMTP server received per kind of notice."""

import csv
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from domain.clock import local
from domain.ids import call_workflow_id
from domain.lifecycle import TRANSITIONS
from domain.stages import STAGE_LABELS_FR, ApplicationStage
from projection import queries
from projection.ranking import call_ranking
from projection.tables import ApplicationRow, CallRow, OutboxRow, PaymentRow
from rehearsal.driver import Snapshot

MAIL_STATUS = {"sent": "envoyés", "pending": "en attente", "failed": "en échec"}


@dataclass
class Report:
    scenario: str
    variant: str
    timeline: list[dict] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)
    support: dict[str, float] = field(default_factory=dict)
    mail: list[dict] = field(default_factory=list)  # messages per kind of notice, by status

    def final_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.outcomes:
            counts[item["étape"]] = counts.get(item["étape"], 0) + 1
        return counts


def _day(moment: datetime, offset: timedelta) -> str:
    """A simulated time told back on the scenario's own calendar, in Rabat time."""
    return f"{local(moment - offset):%d/%m/%Y %H:%M}"


def _why(state) -> str:
    if state.decision:
        return state.decision.reason
    if state.reason:
        return state.reason
    failed = [c.label for c in state.checklist if not c.passed]
    return "; ".join(failed)


def collect(
    engine: Engine,
    call_id: str,
    snapshots: list[Snapshot],
    offset: timedelta,
    scenario: str,
    variant: str,
) -> Report:
    report = Report(scenario=scenario, variant=variant)
    with Session(engine) as db:
        call = db.get(CallRow, call_id)
        assert call is not None
        report.timeline = [
            {"date": _day(e.at, offset), "événement": TRANSITIONS[e.action].event, "par": e.actor}
            for e in queries.audit_trail(db, call_workflow_id(call_id))
        ] + [
            {"date": _day(s.at, offset), "événement": s.label, "par": "répétition"}
            for s in snapshots
        ]
        report.timeline.sort(key=lambda e: datetime.strptime(e["date"], "%d/%m/%Y %H:%M"))
        report.stages = [
            {"date": _day(s.at, offset), "moment": s.label}
            | {STAGE_LABELS_FR[ApplicationStage(k)]: v for k, v in sorted(s.counts.items())}
            for s in snapshots
        ]
        rows = db.exec(
            select(ApplicationRow)
            .where(ApplicationRow.call_id == call_id)
            .order_by(ApplicationRow.registered_at)
        )
        for row in rows:
            state = queries.application_state(row)
            result = state.evaluation.result if state.evaluation else None
            report.outcomes.append(
                {
                    "candidature": state.id,
                    "cluster": state.data.cluster_name,
                    "secteur": state.data.sector,
                    "étape": STAGE_LABELS_FR[state.stage],
                    "score": result.weighted_score if result else None,
                    "pourquoi": _why(state),
                }
            )
        ranked = call_ranking(db, call)
        report.ranking = [
            {
                "rang": e.rank or "sous le seuil",
                "cluster": e.cluster_name,
                "score": e.result.weighted_score,
                "écart": e.result.spread,
                "consensus": "oui" if e.result.consensus_needed else "non",
                "étape": STAGE_LABELS_FR[ApplicationStage(e.stage)],
            }
            for e in ranked.ranked + ranked.below_threshold
        ]
        for starts_at, amount in db.exec(select(PaymentRow.starts_at, PaymentRow.amount)):
            year = str(local(starts_at - offset).year)
            report.support[year] = report.support.get(year, 0.0) + amount
    report.support = dict(sorted(report.support.items()))
    report.mail = mail_counts(engine)
    return report


def mail_counts(engine: Engine) -> list[dict]:
    """The messages per kind of notice, by state of their delivery."""
    with Session(engine) as db:
        query = select(OutboxRow.kind, OutboxRow.status, func.count()).group_by(
            OutboxRow.kind, OutboxRow.status
        )
        counts: dict[str, dict[str, int]] = {}
        for kind, status, count in db.exec(query):
            counts.setdefault(kind, {})[status] = count
    return [
        {"courrier": kind, **{MAIL_STATUS[s]: by.get(s, 0) for s in MAIL_STATUS}}
        for kind, by in sorted(counts.items())
    ]


def table(rows: list[dict], title: str) -> str:
    if not rows:
        return f"\n{title}\n  (rien)\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[str(c) for c in columns]] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return f"\n{title}\n" + "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
    return str(value)


def render(report: Report) -> str:
    support = [{"année": y, "soutien (MAD)": a} for y, a in report.support.items()]
    support.append({"année": "total", "soutien (MAD)": sum(report.support.values())})
    return "".join(
        [
            f"\n=== {report.scenario} — {report.variant} ===\n",
            table(report.timeline, "Calendrier de l'appel"),
            table(report.stages, "Candidatures par étape au fil du temps"),
            table(report.outcomes, "Où chaque candidature s'est arrêtée, et pourquoi"),
            table(report.ranking, "Classement"),
            table(support, "Soutien accordé par année"),
            table(report.mail, "Courriers par type (serveur SMTP de la répétition)"),
        ]
    )


def write(report: Report, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rapport.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    parts = {
        "calendrier": report.timeline,
        "etapes": report.stages,
        "candidatures": report.outcomes,
        "classement": report.ranking,
        "soutien": [{"année": y, "soutien": a} for y, a in report.support.items()],
        "courriers": report.mail,
    }
    for name, rows in parts.items():
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.DictWriter(out, columns, delimiter=";")
            writer.writeheader()
            writer.writerows(rows)
