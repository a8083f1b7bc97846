"""Registrations on one call through one API process, then through two, as deployed behind a load
balancer: each `uvicorn web.app:app` in a process of its own, the worker in another.

Every registration is an update on the call's workflow; each API process sends at most 8 at a time
to one case, and the server takes 50 in flight (settings.UPDATES_IN_FLIGHT), so a second replica
should add throughput and no 503.

    .venv/bin/python -m bench.replicas [--n 600] [--quick]
"""

import asyncio
import itertools
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx

from bench.common import (
    Stack,
    api_process,
    application,
    arguments,
    auth,
    pool,
    report,
    stack,
    timed,
    utcnow,
)

CLIENTS = 50  # registrations sent at once, as a deadline's last hour would


async def register(s: Stack, urls: list[str], n: int, first: int) -> tuple[float, int]:
    """`n` registrations spread over `urls`; answers the rate and the 503s repeated."""
    call_id = await s.open_call(utcnow() + timedelta(days=30))
    spread, refused = itertools.cycle(urls), 0

    async def one(i: int) -> None:
        nonlocal refused
        url = next(spread)
        headers = {**auth("t-operator"), "Idempotency-Key": f"r-{first + i}"}
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while True:
                answer = await http.post(
                    f"/calls/{call_id}/applications", json=application(first + i), headers=headers
                )
                if answer.status_code != 503:
                    answer.raise_for_status()
                    return
                refused += 1

    seconds, _ = await timed(pool(n, CLIENTS, one))
    return n / seconds, refused


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=600, quick_n=100)
    async with stack() as s, AsyncExitStack() as apis:
        apis_ = [await apis.enter_async_context(api_process(s, f"api{i}")) for i in range(2)]
        urls = [api.url for api in apis_]
        await register(s, urls, 50, first=10_000)  # warm-up of both
        one, one_refused = await register(s, urls[:1], args.n, first=0)
        two, two_refused = await register(s, urls, args.n, first=args.n)
    ratio = round(two / one, 2)
    report(
        "replicas",
        ["API processes", "registrations", "per second", "503 repeated"],
        [[1, args.n, round(one, 1), one_refused], [2, args.n, round(two, 1), two_refused]],
        {
            "n": args.n,
            "one_per_s": round(one, 1),
            "two_per_s": round(two, 1),
            "ratio": ratio,
            "refused": one_refused + two_refused,
        },
        [
            f"{CLIENTS} clients at once on one call; each API process sends 8 updates at a time "
            "to one case, the server takes 50 in flight",
            f"two processes / one: {ratio}",
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
