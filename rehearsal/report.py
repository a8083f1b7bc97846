"""The rehearsal's report: timeline, stages over time, outcomes, ranking, support paid, the money
per budget year as the ledger sums it with a forecast of the next years' needs, and the messages
its SMTP server received per kind of notice."""

import csv
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from domain.clock import local
from domain.forecast import Contract, forecast
from domain.forecast import Scenario as Shares
from domain.ids import call_workflow_id
from domain.lifecycle import TRANSITIONS
from domain.stages import FINAL_CLUSTER_STAGES, STAGE_LABELS_FR, ApplicationStage
from projection import queries
from projection.ledger import call_balances, paid_by_case
from projection.ranking import call_ranking
from projection.tables import ApplicationRow, CallRow, ClusterRow, OutboxRow, PaymentRow
from rehearsal.driver import Snapshot

MAIL_STATUS = {"sent": "envoyés", "pending": "en attente", "failed": "en échec"}
# The money's columns: each a sum over the ledger (projection.ledger.YearBalance).
YEAR, ENVELOPE, ENGAGED, COMMITTED = "année budgétaire", "enveloppe", "réservé net", "engagé net"
RELEASED, PAID, AVAILABLE = "ordonnancé", "payé", "disponible"
PLANNED, EXPECTED = "prévu", "attendu"
NO_BUDGET = "\nBudget : aucun (aucun montant demandé ni support.envelope dans le scénario)\n"
MONEY_LEGEND = (
    "  réservé net : réservé − annulé − restitué (ce qui compte contre l'enveloppe) ; "
    "engagé net : engagé − restitué ; disponible : enveloppe − réservé net.\n"
)


@dataclass(frozen=True)
class Outlook:
    """The forecast asked of the report: from which budget year, over how many, with which
    shares of clusters stopped and renewed on probation (domain.forecast)."""

    from_year: int
    years: int
    scenario: Shares


@dataclass
class Report:
    scenario: str
    variant: str
    timeline: list[dict] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)
    support: dict[str, float] = field(default_factory=dict)
    money: list[dict] = field(default_factory=list)  # per budget year, from the ledger
    forecast: list[dict] = field(default_factory=list)  # the next budget years' needs
    shares: dict[str, float] = field(default_factory=dict)  # the forecast's scenario
    mail: list[dict] = field(default_factory=list)  # messages per kind of notice, by status
    call_id: str = ""
    database: str = ""  # the rehearsal's projection, kept for a look after the run

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
    outlook: Outlook | None = None,
) -> Report:
    report = Report(
        scenario=scenario,
        variant=variant,
        call_id=call_id,
        database=engine.url.render_as_string(hide_password=True),
    )
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
        report.money = money(db, call_id)
        if outlook is not None and report.money:
            report.forecast = needs(db, call, outlook)
            report.shares = {
                "arrêts par an": outlook.scenario.stop_share,
                "probation par an": outlook.scenario.probation_share,
                "réduction sous probation": outlook.scenario.probation_cut,
            }
    report.support = dict(sorted(report.support.items()))
    report.mail = mail_counts(engine)
    return report


def money(db: Session, call_id: str) -> list[dict]:
    """The call's money per budget year, as the ledger sums it (empty: no budget)."""
    return [
        {
            YEAR: b.year,
            ENVELOPE: b.envelope,
            ENGAGED: b.engaged,
            COMMITTED: round(b.committed - b.returned, 2),
            RELEASED: b.released,
            PAID: b.paid,
            AVAILABLE: b.available,
        }
        for b in call_balances(db, call_id)
    ]


def contracts(db: Session, call: CallRow) -> list[Contract]:
    """The call's running contracts, each with what the ledger says is paid per contract year."""
    budget = queries.call_state(call).budget
    if budget is None:
        return []
    rows = db.exec(select(ClusterRow).where(ClusterRow.call_id == call.id))
    states = [queries.cluster_state(r) for r in rows if r.stage not in FINAL_CLUSTER_STAGES]
    running = [s for s in states if s.contract is not None]
    paid = paid_by_case(db, [s.id for s in running])
    return [
        Contract(
            cluster_id=s.id,
            first_budget_year=budget.first_year,
            amounts=tuple(s.contract.planned_amounts),
            paid=tuple(
                paid.get((s.id, budget.year_of(i)), 0.0)
                for i in range(len(s.contract.planned_amounts))
            ),
        )
        for s in running
        if s.contract is not None
    ]


def needs(db: Session, call: CallRow, outlook: Outlook) -> list[dict]:
    """The next budget years' needs, as planned and as expected under the scenario's shares."""
    years = forecast(contracts(db, call), outlook.scenario, outlook.from_year, outlook.years)
    return [{YEAR: y.year, PLANNED: y.planned, EXPECTED: y.expected} for y in years]


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
            table(report.money, "Budget par année budgétaire (MAD, grand livre)") + MONEY_LEGEND
            if report.money
            else NO_BUDGET,
            table(report.forecast, forecast_title(report.shares)) if report.money else "",
            table(report.mail, "Courriers par type (serveur SMTP de la répétition)"),
        ]
    )


def forecast_title(shares: dict[str, float]) -> str:
    told = ", ".join(
        f"{name} {share:.0%}".replace("%", "\u202f%") for name, share in shares.items()
    )
    return f"Prévision des besoins (MAD ; {told})"


def write(report: Report, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rapport.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    parts = {
        "calendrier": report.timeline,
        "etapes": report.stages,
        "candidatures": report.outcomes,
        "classement": report.ranking,
        "soutien": [{"année": y, "soutien": a} for y, a in report.support.items()],
        "budget": report.money,
        "prevision": report.forecast,
        "courriers": report.mail,
    }
    for name, rows in parts.items():
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.DictWriter(out, columns, delimiter=";")
            writer.writeheader()
            writer.writerows(rows)
