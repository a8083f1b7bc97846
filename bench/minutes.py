"""Documents of a committee session (#27): seconds to build the PV, the meeting pack and the result
letters of a session of N files, and the peak resident memory meanwhile.

The documents are built by the same functions the activities call (activities.minutes,
activities.letters), from a session made in memory: N scored files of three evaluators with a
comment per criterion, all decided, the last third rejected. No Temporal and no database: a
document's cost is its rendering. The letters are built one after the other, by 16 threads (the
worker's activity pool: WeasyPrint holds the GIL, so threads do not add cores) and by a pool of
2 processes; the baseline is one minimal PDF (sample.html) built in the same run. Target: the 60
letters in under 10 s on 2 cores.

    .venv/bin/python -m bench.minutes [--n 60] [--quick]
"""

import statistics
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

from activities.letters import build_result_letter
from activities.minutes import build_pack, build_pv
from activities.pdf import build_pdf
from bench.common import EVALUATORS, application, arguments, report
from domain.models import (
    DEFAULT_GRID,
    ApplicationInput,
    ApplicationState,
    Assignment,
    AuditEvent,
    CallSpec,
    CriterionScore,
    Decision,
    Evaluation,
    Redress,
    ScoreSheet,
)
from domain.scoring import evaluate
from domain.session import (
    AgendaItem,
    Function,
    ItemOutcome,
    Pv,
    SessionMember,
    SessionSpec,
    SessionState,
)
from domain.stages import Action, ApplicationStage, Role, SessionStage

T = TypeVar("T")
CALL_ID = "2027-be7c4"
DEADLINE = datetime(2027, 1, 15, 14, tzinfo=UTC)
MEETS = datetime(2027, 4, 6, 9, tzinfo=UTC)
TARGET_S = 10.0
THREADS = 16  # worker.py's activity executor
PROCESSES = 2
COMMENT = (
    "Le dossier présente un diagnostic du secteur étayé, des partenaires identifiés et un plan "
    "d'action chiffré ; les indicateurs de suivi restent à préciser et la contribution des "
    "membres industriels au budget mérite d'être confirmée par des lettres d'engagement."
)
MEMBERS = [
    SessionMember(name="Amina Berrada", function=Function.PRESIDENT, organisation="Ministère"),
    SessionMember(name="Youssef Alaoui", function=Function.SECRETARY, organisation="Ministère"),
    *(SessionMember(name=f"Membre {i}", organisation=f"Organisme {i}") for i in range(1, 6)),
]
OUTCOMES = (ApplicationStage.LABELLED, ApplicationStage.RESERVE, ApplicationStage.REJECTED)


def spec() -> CallSpec:
    return CallSpec(
        year=2027,
        title="Appel à projets clusters 2027 — banc d'essai",
        opens_at=DEADLINE - timedelta(days=60),
        deadline=DEADLINE,
    )


def scored_file(i: int) -> ApplicationState:
    sheets = {}
    for n, evaluator in enumerate(EVALUATORS.values()):
        marks = [2 + (i * 7 + n * 3 + k) % 7 * 0.5 for k in range(len(DEFAULT_GRID.criteria))]
        sheets[evaluator] = ScoreSheet(
            scores=[
                CriterionScore(criterion=c.code, score=m, comment=COMMENT)
                for c, m in zip(DEFAULT_GRID.criteria, marks, strict=True)
            ],
            comment=COMMENT,
        )
    assigned = DEADLINE + timedelta(days=2)
    return ApplicationState(
        id=f"{i:012x}",
        call_id=CALL_ID,
        call_title=spec().title,
        stage=ApplicationStage.SCORED,
        data=ApplicationInput.model_validate(application(i)),
        deadline=DEADLINE,
        registered_at=DEADLINE - timedelta(days=1, minutes=i),
        evaluation=Evaluation(
            assignments=[
                Assignment(
                    evaluator=name,
                    assigned_at=assigned,
                    declared_at=assigned + timedelta(days=1),
                    submitted_at=assigned + timedelta(days=9),
                    sheet=sheet,
                )
                for name, sheet in sheets.items()
            ],
            result=evaluate(DEFAULT_GRID, sheets, 1.0),
        ),
        updated_at=assigned + timedelta(days=9),
    )


def session(files: list[ApplicationState]) -> tuple[SessionState, list[AuditEvent]]:
    """A closed session that decided every file, and the audit events holding the texts."""
    present = [m.name for m in MEMBERS]
    agenda, events = [], []
    ranked = sorted(files, key=lambda f: -f.evaluation.result.weighted_score)
    for rank, state in enumerate(ranked, 1):
        at = MEETS + timedelta(minutes=5 * rank)
        outcome = OUTCOMES[min(2, 3 * (rank - 1) // len(files))]
        amounts = [1_200_000.0, 1_000_000.0, 800_000.0] if outcome == OUTCOMES[0] else []
        agenda.append(
            AgendaItem(
                application_id=state.id,
                call_id=CALL_ID,
                cluster_name=state.data.cluster_name,
                rank=rank,
                score=state.evaluation.result.weighted_score,
                consensus=not state.evaluation.result.consensus_needed,
                opened_at=at,
                decision=ItemOutcome(
                    outcome=outcome,
                    amounts=amounts,
                    votes_for=len(present),
                    votes_against=0,
                    abstentions=0,
                    voters=present,
                    decided_at=at,
                    decided_by=MEMBERS[0].name,
                    seq=rank,
                ),
            )
        )
        events.append(
            AuditEvent(
                workflow_id="session-be7c4",
                seq=rank,
                case_id="be7c4",
                action=Action.DECIDE_ITEM,
                actor=MEMBERS[0].name,
                role=Role.COMMITTEE,
                at=at,
                from_stage=SessionStage.OPEN,
                to_stage=SessionStage.OPEN,
                payload={"application_id": state.id, "motivation": COMMENT},
            )
        )
    closed = MEETS + timedelta(hours=6)
    state = SessionState(
        id="be7c4",
        stage=SessionStage.CLOSED,
        spec=SessionSpec(
            title="Comité de pilotage — banc d'essai",
            call_ids=[CALL_ID],
            meets_at=MEETS,
            place="Rabat",
            members=MEMBERS,
        ),
        agenda=agenda,
        present=present,
        pvs=[Pv(number=1, sha256="", built_at=closed)],
        convened_at=MEETS - timedelta(days=7),
        opened_at=MEETS,
        closed_at=closed,
        updated_at=closed,
    )
    return state, events


def decided(state: ApplicationState, item: AgendaItem) -> ApplicationState:
    """The file as its letter reads it: the session's decision, a redress window if rejected."""
    outcome = item.decision
    rejected = outcome.outcome == ApplicationStage.REJECTED
    return state.model_copy(
        update={
            "stage": outcome.outcome,
            "decision": Decision(
                outcome=outcome.outcome,
                reason=COMMENT,
                internal_note="Note interne du comité",
                decided_by=outcome.decided_by,
                decided_at=outcome.decided_at,
                session_id="be7c4",
                amounts=outcome.amounts,
            ),
            "redress": Redress(days=30) if rejected else None,
        }
    )


def letter(job: tuple[ApplicationState, CallSpec, datetime]) -> int:
    state, call, sent = job
    return len(build_result_letter(state, call, sent, state.id).content)


def sample() -> bytes:
    context = {"paragraphs": ["Un paragraphe."], "rows": [("Cluster", "3,00")]}
    return build_pdf("sample.html", context, title="Échantillon", created=MEETS).content


def clear_peak() -> None:
    """Linux: the process's peak RSS (VmHWM) starts again from its current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def measured(work: Callable[[], T]) -> tuple[float, float, T]:
    """Seconds, this process's peak RSS (MiB) meanwhile, and the result."""
    clear_peak()
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, peak_mib(), result


def pooled(pool: Executor, jobs: list) -> list[int]:
    return list(pool.map(letter, jobs))


def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=60, quick_n=12)
    n = args.n
    call = spec()
    files = [scored_file(i) for i in range(n)]
    state, events = session(files)
    by_id = {f.id: f for f in files}
    sent = state.closed_at + timedelta(days=2)
    jobs = [(decided(by_id[i.application_id], i), call, sent) for i in state.agenda]

    sample()  # fonts and templates loaded once, as in a running worker
    samples = [measured(sample) for _ in range(5)]
    baseline = statistics.median(s for s, _, _ in samples)
    baseline_peak = max(peak for _, peak, _ in samples)
    pv_s, pv_peak, pv = measured(lambda: build_pv(state, 1, {CALL_ID: call}, events))
    pack_s, pack_peak, pack = measured(
        lambda: build_pack(state, {CALL_ID: call}, {f.id: f for f in files})
    )
    seq_s, seq_peak, _ = measured(lambda: [letter(j) for j in jobs])
    with ThreadPoolExecutor(THREADS) as threads:
        thread_s, thread_peak, _ = measured(lambda: pooled(threads, jobs))
    # Fresh processes (forkserver), warmed by a sample PDF each, as a standing pool would be: a
    # fork of this process, grown by the pack, would copy its pages as they are touched.
    pool = ProcessPoolExecutor(PROCESSES, mp_context=get_context("forkserver"), initializer=sample)
    with pool as processes:
        list(processes.map(letter, jobs[:PROCESSES]))
        proc_s, _, _ = measured(lambda: pooled(processes, jobs))
        child_peak = max(peak_mib(pid) for pid in processes._processes)  # the pool's own

    def row(what: str, seconds: float, peak: float, target: str = "") -> list:
        return [what, round(seconds, 2), round(seconds / baseline, 1), peak, target]

    letters_target = f"< {TARGET_S:g} s" + (" (n=60)" if n != 60 else "")
    report(
        "minutes",
        ["what", "seconds", "x one sample PDF", "peak RSS MiB", "target"],
        [
            row("one minimal PDF (sample.html): baseline", baseline, baseline_peak),
            row(f"PV of {n} decisions ({len(pv.content) // 1024} KiB)", pv_s, pv_peak),
            row(f"meeting pack of {n} files ({len(pack.content) // 1024} KiB)", pack_s, pack_peak),
            row(f"{n} letters, one after the other", seq_s, seq_peak, letters_target),
            row(f"{n} letters, {THREADS} threads (the worker's pool)", thread_s, thread_peak),
            row(f"{n} letters, {PROCESSES} processes", proc_s, child_peak, letters_target),
        ],
        {
            "n": n,
            "baseline_s": round(baseline, 3),
            "pv_s": round(pv_s, 2),
            "pack_s": round(pack_s, 2),
            "letters_sequential_s": round(seq_s, 2),
            "letters_threads_s": round(thread_s, 2),
            "letters_processes_s": round(proc_s, 2),
            "letter_ratio": round(seq_s / n / baseline, 1),
            "rss_peak_mib": {
                "pv": pv_peak,
                "pack": pack_peak,
                "letters_sequential": seq_peak,
                "letters_threads": thread_peak,
                "letters_process_child": child_peak,
            },
        },
        [
            "built in this process from a session made in memory (no Temporal, no database): "
            "the same functions the activities call",
            f"peak RSS: this process's VmHWM, reset before each row; for the {PROCESSES} "
            "processes (started fresh, then warmed), the largest child's maximum RSS",
        ],
    )


if __name__ == "__main__":
    main()
