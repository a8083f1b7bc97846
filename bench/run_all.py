"""Every benchmark, one after the other (never two at once: they would measure each other).

    .venv/bin/python -m bench.run_all [--quick] [--only latency closure] [--out results.jsonl]

Each runs in a process of its own with its own dev server; their `BENCH_JSON` lines are gathered
into a summary at the end (and into `--out`, one JSON line per benchmark).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = [
    "latency",
    "closure",
    "reads",
    "lifecycle",
    "memory",
    "replicas",
    "documents",
    "portal_rush",
]
ROOT = Path(__file__).resolve().parent.parent


def headline(result: dict) -> str:
    """The figure each benchmark is judged by."""
    name = result["bench"]
    if name == "latency":
        one, many = result["results"]["one at a time"], result["results"]["50 at once"]
        return (
            f"p50 {one['service']['p50_ms']} ms vs {one['bare']['p50_ms']} ms bare "
            f"(ratio {one['ratio_p50']}); 50 at once ratio {many['ratio_p50']} (target <= 1.5)"
        )
    if name == "closure":
        return (
            f"{result['n']} cases in {result['service_s']['100%']} s vs "
            f"{result['bare_s']['100%']} s bare (ratio {result['ratio']}, target <= 2); "
            f"missed {result['missed_in_sql']}"
        )
    if name == "replicas":
        return (
            f"{result['one_per_s']} registrations/s on one call with one API process, "
            f"{result['two_per_s']} with two (ratio {result['ratio']}); {result['refused']} 503"
        )
    if name == "reads":
        return f"worst p99 {result['worst_p99_ms']} ms with {result['n']} cases (target <= 20 ms)"
    if name == "lifecycle":
        return (
            f"{result['service_per_s']} applications/s vs {result['bare_per_s']} bare "
            f"(ratio {result['ratio']})"
        )
    if name == "documents":
        return (
            f"upload {result['upload_ratio']}, download {result['download_ratio']} x a plain copy "
            f"(target >= 0.5); API RSS +{result['rss_growth_mib']} MiB under 10 x 50 MiB "
            "uploads (target < 50)"
        )
    if name == "portal_rush":
        return (
            f"uploads {result['ratio']} x a plain HTTP upload (target >= 0.5); upload p99 "
            f"{result['upload']['p99_ms']} ms, deposit p99 {result['deposit']['p99_ms']} ms; "
            f"{result['deposits_refused']} refused, {result['deposits_lost']} lost; API RSS peak "
            f"{result['rss_peak_mib']} MiB"
        )
    rss = result["service_rss_mib"][str(result["n"])]
    return f"worker RSS {rss} MiB with {result['n']} open cases"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=BENCHMARKS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = []
    for name in args.only:
        command = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        print(f"\n>>> {' '.join(command[1:])}", flush=True)
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("BENCH_JSON "):
                result = json.loads(line.removeprefix("BENCH_JSON "))
                results.append({**result, "wall_s": round(time.monotonic() - start)})
        if process.wait() != 0:
            print(f"!!! bench.{name} failed (exit {process.returncode})", flush=True)
    print("\n== summary ==")
    for result in results:
        print(f"{result['bench']:<10} {headline(result)}  [{result['wall_s']} s]")
    if args.out:
        with args.out.open("a") as out:
            for result in results:
                out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
