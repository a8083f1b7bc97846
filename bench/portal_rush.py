"""The deadline-hour rush: N associations (300) sign in to the applicants' portal, create their
association, save a draft, upload their dossier (8 files of 5 MiB, one request each) and deposit
it, C (50) at once, against the API as deployed; the same files, with the same concurrency, sent
to a plain HTTP sink in the same run.

The last 30 minutes before the deadline are compressed: every association is there from the
start and the service takes them C at a time, as fast as it goes. Each association browses from
a loopback address of its own (127.0.x.y: the portal counts sign-in links per client address),
signs in by the link the API mails to the bench's catcher, reads its pages as a browser does (the
dossier's page reloads after each file) and deposits. The API is `uvicorn web.app:app`, a process
of its own, its storage in the bench's folder; the sink is a bare ASGI app on the same uvicorn
that writes each body to a file in that folder: the ratio of their throughputs is what the portal
costs over receiving the bytes (target >= 0.5). Files go through curl, so that the figures are
the server's; pages and forms through httpx. A deposit refused or lost is reported and the run
exits 1; timings are reported, never asserted.

    .venv/bin/python -m bench.portal_rush [--n 300] [--files 8] [--mib 5] [--concurrency 50]
                                          [--quick]
"""

import argparse
import asyncio
import email
import json
import os
import re
import shutil
import sys
import time
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.policy import default
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd import smtp
from sqlmodel import Session

from activities.mailcatcher import Catcher, free_port, relay_to, start_catcher
from bench.common import (
    ApiProcess,
    Stack,
    api_process,
    application,
    auth,
    latency_ms,
    pool,
    report,
    stack,
    utcnow,
    uvicorn_process,
    wait_for,
)
from bench.documents import make_file
from bench.memory import status
from domain.fields import MAX_CASE_BYTES, MAX_FILE_BYTES
from domain.models import DEFAULT_DOCUMENTS
from domain.stages import CallStage
from projection.tables import CallRow

RUSH = timedelta(minutes=30)  # the real rush each run compresses
LINK = re.compile(r"/portail/lien/([A-Za-z0-9_-]+)")
TRIES = 3  # a dropped upload is sent again, as the portal's page does (static/portal.js)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="associations (default 300)")
    parser.add_argument("--files", type=int, default=8, help="files per dossier (default 8)")
    parser.add_argument("--mib", type=int, default=5, help="MiB per file (default 5)")
    parser.add_argument("--concurrency", type=int, default=50, help="associations at once")
    parser.add_argument("--quick", action="store_true", help="a quick run: 20 associations")
    args = parser.parse_args()
    args.n = args.n or (20 if args.quick else 300)
    return args


def address(i: int) -> str:
    """Association i's own loopback address (all of 127/8 reaches the API on Linux)."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def kinds_for(count: int) -> list[str]:
    """The call's required documents: the usual five, then annexes up to `count`."""
    extra = [f"annexe {k}" for k in range(len(DEFAULT_DOCUMENTS) + 1, count + 1)]
    return [*DEFAULT_DOCUMENTS, *extra][:count]


def draft_form(i: int) -> dict[str, Any]:
    """The dossier's form as a person fills it in (complete: the deposit passes)."""
    typed = application(i)
    return {
        "cluster_name": typed["cluster_name"],
        "legal_form": "association",
        "sector": typed["sector"],
        "existing_cluster": "non",
        "support_years": "0",
        "phone": "+212 600 000 000",
        "requested_amounts": "500000\n400000",
        "member_name": [m["name"] for m in typed["members"]],
        "member_type": [m["type"] for m in typed["members"]],
    }


def make_files(folder: Path, count: int, mib: int) -> list[Path]:
    """`count` distinct valid PDFs of about `mib` MiB: one made by documents.make_file, copied
    with its 8-byte tag changed (no deduplication in storage; random bytes would cost minutes)."""
    folder.mkdir()
    template = folder / "template.pdf"
    make_file(template, mib, 0)
    content = bytearray(template.read_bytes())
    template.unlink()
    at = content.index(b"stream\n") + len(b"stream\n")
    paths = []
    for n in range(count):
        content[at : at + 8] = (n + 1).to_bytes(8, "big")
        paths.append(folder / f"{n:05d}.pdf")
        paths[-1].write_bytes(content)
    return paths


# --- the mail catcher, the plain sink ----------------------------------------------------------
@dataclass
class Inbox(Catcher):
    """The catcher the API mails through, and the last sign-in link sent to each address."""

    links: dict[str, str] = field(default_factory=dict)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: smtp.SMTP, session: smtp.Session, envelope: smtp.Envelope
    ) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        message = email.message_from_bytes(bytes(envelope.content or b""), policy=default)
        body = message.get_body(("plain",))  # type: ignore[attr-defined]
        if body is not None and (found := LINK.search(body.get_content())):
            for to in envelope.rcpt_tos:
                self.links[to.lower()] = found.group(1)
        return answer


async def sink(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
    """The plain HTTP upload (`uvicorn bench.portal_rush:sink`): each body written as it comes
    to a file of its own in SINK_DIR, and nothing else."""
    if scope["type"] != "http":
        return
    size = 0
    if scope["method"] == "POST":
        with (Path(os.environ["SINK_DIR"]) / uuid.uuid4().hex).open("wb") as out:
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                out.write(chunk)
                size += len(chunk)
                if not message.get("more_body"):
                    break
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"size": %d}' % size})


@asynccontextmanager
async def sink_process(folder: Path) -> AsyncIterator[ApiProcess]:
    """The sink on a port of its own, run as the API is (a uvicorn process)."""
    folder.mkdir()
    env = os.environ | {"SINK_DIR": str(folder)}
    arguments = ["bench.portal_rush:sink", "--lifespan", "off"]
    async with uvicorn_process(
        arguments, free_port(), env, folder.parent / "sink.log", "/"
    ) as sink:
        yield sink


# --- measuring ---------------------------------------------------------------------------------
class Refused(Exception):
    """A request the service did not answer as it should: the association's deposit is lost."""


@dataclass
class Figures:
    uploads: list[float] = field(default_factory=list)  # seconds per file (curl's time_total)
    spans: list[tuple[float, float]] = field(default_factory=list)  # each upload, monotonic
    pages: list[float] = field(default_factory=list)
    forms: list[float] = field(default_factory=list)
    deposits: list[float] = field(default_factory=list)
    visits: list[float] = field(default_factory=list)  # an association from sign-in to receipt
    sent: int = 0  # bytes of the files received
    retries: int = 0
    failures: list[str] = field(default_factory=list)

    def mib_s(self) -> float:
        """Files' bytes over the time at least one upload was under way."""
        busy, end = 0.0, float("-inf")
        for start, stop in sorted(self.spans):
            if stop > end:
                busy += stop - max(start, end)
                end = stop
        return round(self.sent / 2**20 / busy, 1) if busy else float("nan")


async def curl_upload(url: str, path: Path, options: list[str], ip: str) -> tuple[int, float, str]:
    """One multipart request, curl's `options` (headers, the fields sent before the file) first,
    as a browser sends it (no `Expect`):
    (HTTP status, 0 when the transfer failed; curl's seconds; the answer or curl's error)."""
    command = ["curl", "--silent", "--show-error", "--interface", ip, "-H", "Expect:", *options]
    command += ["-F", f"file=@{path};filename=piece-{path.stem}.pdf;type=application/pdf"]
    command += ["-w", "\n%{http_code} %{time_total}", url]
    process = await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE)
    out, err = await process.communicate()
    answer, _, tail = out.decode(errors="replace").rpartition("\n")
    code, seconds = (tail.split() + ["0", "0"])[:2]
    if process.returncode:
        return 0, float(seconds), err.decode(errors="replace").strip()
    return int(code), float(seconds), answer


async def upload(figures: Figures, url: str, path: Path, options: list[str], ip: str) -> None:
    for attempt in range(TRIES):
        code, seconds, answer = await curl_upload(url, path, options, ip)
        if code or attempt == TRIES - 1:
            break
        figures.retries += 1
        await asyncio.sleep(1)
    if code != 201:
        raise Refused(f"file {path.name}: {code} {answer[:300]}")
    end = time.monotonic()
    figures.uploads.append(seconds)
    figures.spans.append((end - seconds, end))
    figures.sent += path.stat().st_size


def message_of(answer: httpx.Response) -> dict | None:
    """The message a portal form leaves for the next page (portal.pages.back), if any."""
    for header in answer.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if "portal_message" in cookie and cookie["portal_message"].value:
            return json.loads(cookie["portal_message"].value)
    return None


class Applicant:
    """One association's representative in a browser of their own (address, cookies)."""

    def __init__(self, i: int, api: ApiProcess, inbox: Inbox, figures: Figures) -> None:
        self.i, self.api, self.inbox, self.figures = i, api, inbox, figures
        self.http = httpx.AsyncClient(
            base_url=api.url,
            headers={"Origin": api.url},  # a form posted from the portal's own page
            transport=httpx.AsyncHTTPTransport(local_address=address(i)),
            timeout=600,
        )

    async def page(self, path: str) -> None:
        start = time.perf_counter()
        answer = await self.http.get(path)
        self.figures.pages.append(time.perf_counter() - start)
        if answer.status_code != 200:
            raise Refused(f"GET {path}: {answer.status_code} {answer.text[:300]}")

    async def form(
        self, path: str, data: dict | None = None, expected: int = 303, into: list | None = None
    ) -> httpx.Response:
        start = time.perf_counter()
        answer = await self.http.post(path, data=data)
        (self.figures.forms if into is None else into).append(time.perf_counter() - start)
        message = message_of(answer)
        if answer.status_code != expected or (message and message.get("kind") == "erreur"):
            detail = message["lines"] if message else answer.text[:300]
            raise Refused(f"POST {path}: {answer.status_code} {detail}")
        return answer

    async def deposit(self, call_id: str, kinds: list[str], files: list[Path]) -> str:
        """The whole visit, from the sign-in form to the deposited case's page: its id."""
        person = f"representant{self.i}@association{self.i}.ma"
        await self.page("/portail/connexion")
        await self.form("/portail/connexion", {"email": person}, expected=200)
        link = f"/portail/lien/{self.inbox.links.pop(person)}"  # mailed during the request
        await self.page(link)
        await self.form(link)
        await self.page("/portail/")
        await self.form("/portail/profil", {"name": f"Représentant {self.i}"})
        made = await self.form("/portail/associations", {"name": f"Association {self.i:04d}"})
        home = made.headers["location"]
        await self.page(home)
        dossier = f"{home}/appels/{call_id}"
        await self.page(dossier)
        await self.form(dossier, draft_form(self.i))
        await self.page(dossier)
        session = self.http.cookies.get("portal_session")
        headers = ["-H", f"Origin: {self.api.url}", "-H", "Accept: application/json"]
        headers += ["-H", f"Cookie: portal_session={session}"]
        for kind, path in zip(kinds, files, strict=True):
            options = [*headers, "--form-string", f"kind={kind}"]
            await upload(
                self.figures, f"{self.api.url}{dossier}/fichiers", path, options, address(self.i)
            )
            await self.page(dossier)  # the page reloads once its file is in
        deposited = await self.form(f"{dossier}/deposer", into=self.figures.deposits)
        case = deposited.headers["location"]
        if "/dossiers/" not in case:
            raise Refused(f"deposit sent back to {case}")
        await self.page(case)
        await self.page(home)
        return case.rsplit("/", 1)[1]


async def rush(
    n: int, concurrency: int, figures: Figures, visit: Callable[[int], Awaitable[str | None]]
) -> tuple[list[str | None], float]:
    """`visit(i)` for every association, `concurrency` at once: their results and the seconds
    the whole took; a refusal is recorded in `figures`, and that association's result is None."""

    async def one(i: int) -> str | None:
        start = time.perf_counter()
        try:
            result = await visit(i)
        except (Refused, httpx.HTTPError, KeyError) as error:
            figures.failures.append(f"association {i}: {type(error).__name__}: {error}")
            return None
        figures.visits.append(time.perf_counter() - start)
        return result

    start = time.perf_counter()
    results = await pool(n, concurrency, one)
    return results, time.perf_counter() - start


async def peak_rss(pid: int, peak: list[int]) -> None:
    """The process's RSS (KiB) sampled every 50 ms into `peak[0]`, until cancelled."""
    while True:
        peak[0] = max(peak[0], status(pid)["VmRSS"])
        await asyncio.sleep(0.05)


async def open_call(s: Stack, kinds: list[str], mib: int) -> str:
    """The call, published through the API with the staff's token and open in the projection
    the portal reads; its deadline after the run (a deposit refused for lateness is not the
    service's failure to measure here)."""
    rules = {
        "required_documents": kinds,
        "max_file_bytes": min(100 * 2**20, max(MAX_FILE_BYTES, (mib + 1) * 2**20)),
        "max_application_bytes": min(2**30, max(MAX_CASE_BYTES, len(kinds) * (mib + 1) * 2**20)),
    }
    call_id = await s.open_call(utcnow() + timedelta(hours=12), **rules)

    def opened() -> int:
        with Session(s.engine) as db:
            row = db.get(CallRow, call_id)
            return int(row is not None and row.stage == CallStage.OPEN)

    await wait_for(opened, 1, timeout=60)
    return call_id


async def lost(s: Stack, call_id: str, ids: list[str], files: int) -> list[str]:
    """The deposits answered as done that the staff do not find whole (case and files)."""
    try:
        await wait_for(lambda: s.count(call_id, "received"), len(ids), timeout=120)
    except TimeoutError:
        pass  # each one missing is named below

    async def check(k: int) -> str | None:
        answer = await s.http.get(f"/applications/{ids[k]}", headers=auth("t-operator"))
        if answer.status_code != 200:
            return f"{ids[k]}: {answer.status_code}"
        held = len(answer.json()["files"])
        return None if held == files else f"{ids[k]}: {held} files of {files}"

    return [problem for problem in await pool(len(ids), 20, check) if problem]


def figures_row(name: str, samples: list[float], *extra: object) -> list[object]:
    if not samples:
        return [name, 0, "", "", "", *extra]
    timing = latency_ms(samples)
    return [name, timing["n"], timing["p50_ms"], timing["p99_ms"], timing["max_ms"], *extra]


async def main() -> None:
    args = arguments()
    kinds = kinds_for(args.files)
    inbox = Inbox()
    catcher = start_catcher(inbox)
    try:
        async with stack() as s:
            count = args.n * args.files
            sources = await asyncio.to_thread(make_files, s.workdir / "sources", count, args.mib)

            def files_of(i: int) -> list[Path]:
                return sources[i * args.files : (i + 1) * args.files]

            await asyncio.to_thread(os.sync)  # the sources on disk before anything is timed

            loads = [os.getloadavg()[0]]  # others' work skews each phase: its load as it starts
            plain = Figures()
            async with sink_process(s.workdir / "sink") as bare:

                async def send_plain(i: int) -> None:
                    for kind, path in zip(kinds, files_of(i), strict=True):
                        options = ["--form-string", f"kind={kind}"]
                        await upload(plain, f"{bare.url}/", path, options, address(i))

                _, plain_seconds = await rush(args.n, args.concurrency, plain, send_plain)
            await asyncio.to_thread(shutil.rmtree, s.workdir / "sink")
            await asyncio.to_thread(os.sync)  # its writes done before the portal's start

            portal = Figures()
            # the sign-in links mailed to the bench's own catcher, where its people read them
            async with api_process(s, "api", relay_to(catcher).environment()) as api:
                call_id = await open_call(s, kinds, args.mib)

                async def deposit(i: int) -> str:
                    applicant = Applicant(i, api, inbox, portal)
                    try:
                        return await applicant.deposit(call_id, kinds, files_of(i))
                    finally:
                        await applicant.http.aclose()

                loads.append(os.getloadavg()[0])
                before = status(api.pid)["VmRSS"]
                peak = [before]
                sampler = asyncio.create_task(peak_rss(api.pid, peak))
                results, rush_seconds = await rush(args.n, args.concurrency, portal, deposit)
                sampler.cancel()
                high_water = status(api.pid)["VmHWM"]
                loads.append(os.getloadavg()[0])
            ids = [result for result in results if result]
            missing = await lost(s, call_id, ids, args.files)
    finally:
        catcher.stop()

    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    ratio = round(portal.mib_s() / plain.mib_s(), 2)
    compression = round(RUSH.total_seconds() / rush_seconds, 1)
    refused = len(portal.failures)
    results_json = {
        "n": args.n,
        "files": args.files,
        "mib": args.mib,
        "concurrency": args.concurrency,
        "plain_mib_s": plain.mib_s(),
        "portal_mib_s": portal.mib_s(),
        "ratio": ratio,
        "plain_upload": latency_ms(plain.uploads) if plain.uploads else None,
        "upload": latency_ms(portal.uploads) if portal.uploads else None,
        "page": latency_ms(portal.pages) if portal.pages else None,
        "form": latency_ms(portal.forms) if portal.forms else None,
        "deposit": latency_ms(portal.deposits) if portal.deposits else None,
        "visit": latency_ms(portal.visits) if portal.visits else None,
        "deposits_ok": len(ids) - len(missing),
        "deposits_refused": refused,
        "deposits_lost": len(missing),
        "plain_failures": len(plain.failures),
        "retries": portal.retries,
        "rush_s": round(rush_seconds, 1),
        "plain_s": round(plain_seconds, 1),
        "compression": compression,
        "load_average": {"plain": loads[0], "rush": loads[1], "end": loads[2]},
        "rss_before_mib": mib(before),
        "rss_peak_mib": mib(peak[0]),
        "rss_high_water_mib": mib(high_water),
    }
    notes = [
        f"{args.n} associations, {args.files} files of {args.mib} MiB each, "
        f"{min(args.n, args.concurrency)} at once; the rush took {rush_seconds:.0f} s: the last 30 minutes x{compression}",
        f"deposits: {len(ids) - len(missing)} done and found whole by the staff, {refused} "
        f"refused, {len(missing)} answered but not found whole; {portal.retries} uploads sent "
        "again after a dropped connection",
        f"API RSS: {mib(before)} MiB before the rush, {mib(peak[0])} MiB at its sampled peak "
        f"(50 ms), high-water mark {mib(high_water)} MiB",
        "MiB/s: files' bytes over the time at least one upload was under way; p50/p99 of a file "
        "by curl (time_total), of a page and a form by httpx in the bench's process",
        f"plain sink: bare ASGI on uvicorn writing each body to a file, same files, same "
        f"concurrency, before the rush ({plain_seconds:.0f} s); target ratio >= 0.5",
        f"load average (1 min) at the plain phase's start {loads[0]:.1f}, at the rush's "
        f"{loads[1]:.1f}, at its end {loads[2]:.1f} on {os.cpu_count()} cores",
    ]
    notes += [f"!!! {failure}" for failure in (portal.failures + plain.failures + missing)[:20]]
    report(
        "portal_rush",
        ["what", "n", "p50 ms", "p99 ms", "max ms", "MiB/s", "ratio to plain"],
        [
            figures_row("plain HTTP upload of a file", plain.uploads, plain.mib_s(), 1.0),
            figures_row("portal: upload of a file", portal.uploads, portal.mib_s(), ratio),
            figures_row("portal: page (GET)", portal.pages, "", ""),
            figures_row("portal: form (sign-in, draft...)", portal.forms, "", ""),
            figures_row("portal: deposit", portal.deposits, "", ""),
            figures_row("portal: a whole visit", portal.visits, "", ""),
        ],
        results_json,
        notes,
    )
    if refused or missing or plain.failures:
        print(
            f"!!! {refused} deposits refused, {len(missing)} lost, {len(plain.failures)} plain "
            "uploads failed: see the notes above",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
