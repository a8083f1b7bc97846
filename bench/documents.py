"""Files: upload and download throughput through the API against a plain copy of the same bytes on
the same disk, and the API's resident memory while 10 clients upload 50 MiB each at once.

The API runs as deployed (`uvicorn web.app:app`, a process of its own) with its files in the
bench's temporary folder, where the plain copy (`shutil.copyfile`) also writes. The client is
curl, so that the figures are the server's (httpx, in Python, halves them on its own). Each
upload is a file of its own (no deduplication); targets: throughput >= 0.5 x the copy, memory
growth < 50 MiB.

    .venv/bin/python -m bench.documents [--n 50] [--quick]      (n: MiB per file)
"""

import asyncio
import json
import os
import shutil
import time
from asyncio.subprocess import PIPE
from pathlib import Path

from bench.common import ApiProcess, api_process, arguments, report, secret, stack, utcnow
from bench.memory import status

RUNS = 3
CLIENTS = 10
MEMORY_FILE_MIB = 50


def make_file(path: Path, mib: int, tag: int) -> None:
    """A valid one-page PDF of about `mib` MiB (random bytes in one stream), distinct per `tag`."""
    stream = tag.to_bytes(8, "big") + os.urandom(mib * 2**20)
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>",
        b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj" % number + body + b"endobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


async def curl(*arguments: str) -> str:
    """curl's output; a failed transfer (or an HTTP error) stops the benchmark."""
    process = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--fail", *arguments, stdout=PIPE, stderr=PIPE
    )
    out, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"curl {arguments[-1]}: {err.decode()}")
    return out.decode()


async def upload(api: ApiProcess, application_id: str, path: Path) -> dict:
    answer = await curl(
        "-H",
        f"Authorization: Bearer {secret('t-operator')}",
        "-F",
        "kind=autre",
        "-F",
        f"file=@{path};type=application/pdf",
        f"{api.url}/applications/{application_id}/documents",
    )
    return json.loads(answer)


async def download(api: ApiProcess, document_id: str, path: Path) -> None:
    await curl(
        "-H",
        f"Authorization: Bearer {secret('t-committee')}",
        "-o",
        str(path),
        f"{api.url}/documents/{document_id}",
    )


async def timed(operation) -> float:  # noqa: ANN001 (an awaitable)
    start = time.perf_counter()
    await operation
    return time.perf_counter() - start


async def peak_rss_during(pid: int, operation) -> tuple[int, int]:  # noqa: ANN001
    """RSS (KiB) before, and its peak while `operation` runs (sampled every 20 ms)."""
    before = status(pid)["VmRSS"]
    peak, task = before, asyncio.ensure_future(operation)
    while not task.done():
        peak = max(peak, status(pid)["VmRSS"])
        await asyncio.sleep(0.02)
    await task
    return before, max(peak, status(pid)["VmRSS"])


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=50, quick_n=20)
    mib = args.n
    async with stack() as s, api_process(s, "api") as api:
        rules = {"max_file_bytes": 100 * 2**20, "max_application_bytes": 2**30}
        call_id = await s.open_call(utcnow().replace(year=utcnow().year + 1), **rules)
        ids = await s.register(call_id, CLIENTS + 1, CLIENTS + 1)
        work = s.workdir / "files"
        work.mkdir()

        copies, uploads, downloads = [], [], []
        for run in range(RUNS):
            source = work / f"source-{run}.pdf"
            make_file(source, mib, run)
            copies.append(await timed(asyncio.to_thread(shutil.copyfile, source, work / "copy")))
            start = time.perf_counter()
            document = await upload(api, ids[0], source)
            uploads.append(time.perf_counter() - start)
            downloads.append(await timed(download(api, document["id"], work / "read")))
            assert (work / "read").stat().st_size == source.stat().st_size
            for name in ("copy", "read"):
                (work / name).unlink()

        sources = []
        for i in range(CLIENTS):
            sources.append(work / f"client-{i}.pdf")
            make_file(sources[-1], MEMORY_FILE_MIB, 100 + i)
        many = asyncio.gather(*(upload(api, ids[1 + i], p) for i, p in enumerate(sources)))
        before, peak = await peak_rss_during(api.pid, many)

    def rate(seconds: list[float]) -> float:
        return round(mib / sorted(seconds)[len(seconds) // 2], 1)  # MiB/s, the median run

    copy, up, down = rate(copies), rate(uploads), rate(downloads)
    growth = round((peak - before) / 1024, 1)
    report(
        "documents",
        ["what", "MiB/s (median)", "ratio to the copy", "target"],
        [
            ["plain copy (shutil.copyfile)", copy, 1.0, ""],
            ["upload through the API", up, round(up / copy, 2), ">= 0.5"],
            ["download through the API", down, round(down / copy, 2), ">= 0.5"],
        ],
        {
            "mib": mib,
            "copy_mib_s": copy,
            "upload_mib_s": up,
            "download_mib_s": down,
            "upload_ratio": round(up / copy, 2),
            "download_ratio": round(down / copy, 2),
            "rss_before_mib": round(before / 1024, 1),
            "rss_peak_mib": round(peak / 1024, 1),
            "rss_growth_mib": growth,
        },
        [
            f"{RUNS} runs of a {mib} MiB file each; the API in its own process, curl over loopback",
            f"{CLIENTS} clients uploading {MEMORY_FILE_MIB} MiB each at once: API RSS "
            f"{before // 1024} MiB before, {peak // 1024} MiB at its peak, growth {growth} MiB "
            "(target < 50)",
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
