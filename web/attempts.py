"""Guessing slowed, then refused: wrong API tokens and wrong console sign-ins are counted per
client address (and sign-ins also all together), and past a budget the next attempt waits.

Each budget is a leaky bucket of failures: `burst` wrong attempts are answered at once, then one
more each `every` seconds; an attempt over the budget is refused (429, « réessayez dans N s »)
before the token is even looked up, so a refusal tells nothing about the guess. A correct token
costs nothing and is taken from any address that is not over its budget.

The counts live in the API process's memory: each replica sees its own (with two replicas an
address gets twice the budget) and a restart forgets them. That is enough here: every token is
a random secret of 32 characters at least (web.tokens), which no rate of guessing can find; the
budget is there to stop a scan early and to make a leaked-token hunt slow and visible. A table
shared by the replicas would make every wrong guess a database write, a cheaper way to load the
database than the guessing it would stop.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

KEYS = 10_000  # addresses remembered per budget; the oldest is forgotten past it


@dataclass(frozen=True)
class Budget:
    burst: int  # wrong attempts answered at once
    every: float  # seconds after which one more is allowed


# API requests with a bearer token: a script with a stale token is told early enough.
BEARER = Budget(burst=100, every=6.0)
# The console's sign-in form, per address: a person mistyping tries a few times.
SIGN_IN = Budget(burst=10, every=30.0)
# The sign-in form from every address together. It names no account (a token is tried against
# every account at once), so this is its « per account » budget: past it, an address that has
# failed recently gets no burst (one attempt each `SIGN_IN.every` seconds), while an address
# that has not (a person signing in elsewhere) is still taken at once: a scan from many
# addresses slows down without locking the staff out.
SIGN_IN_ALL = Budget(burst=100, every=1.0)


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Bucket:
    """Failures per key, leaking one each `budget.every` seconds."""

    def __init__(self, budget: Budget, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.clock = clock
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def level(self, key: str) -> float:
        level, at = self._levels.get(key, (0.0, 0.0))
        return max(0.0, level - (self.clock() - at) / self.budget.every)

    def wait(self, key: str, burst: int | None = None) -> int:
        """Seconds before `key` may try again (0: now), with `burst` failures allowed at once."""
        allowed = (self.budget.burst if burst is None else burst) - 1
        excess = self.level(key) - allowed
        return math.ceil(excess * self.budget.every) if excess > 1e-9 else 0

    def failed(self, key: str, cost: int = 1) -> None:
        self._levels[key] = (max(0.0, self.level(key) + cost), self.clock())
        self._levels.move_to_end(key)
        while len(self._levels) > KEYS:
            self._levels.popitem(last=False)

    def refund(self, key: str) -> None:
        """An attempt counted in advance turned out right."""
        if key in self._levels:
            self.failed(key, -1)


class Attempts:
    """The budgets of one API process (kept in `app.state.attempts`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.bearer = Bucket(BEARER, clock)
        self.sign_in = Bucket(SIGN_IN, clock)
        self.sign_in_all = Bucket(SIGN_IN_ALL, clock)

    def check_bearer(self, address: str) -> None:
        """Refuse (TooManyAttempts) an address past its budget. Not counted in advance, so that
        a script's requests sent at once with a right token are never refused: a wave of wrong
        ones sent at once is looked up, then its address waits for every one of them."""
        if wait := self.bearer.wait(address):
            raise TooManyAttempts(wait)

    def bearer_failed(self, address: str) -> None:
        self.bearer.failed(address)

    def begin_sign_in(self, address: str) -> None:
        """Refuse (TooManyAttempts), or count the attempt as failed until `signed_in` says it
        was right: sign-ins sent at once are all counted before the first is looked up."""
        scanned = self.sign_in_all.wait("") > 0
        if wait := self.sign_in.wait(address, burst=1 if scanned else None):
            raise TooManyAttempts(wait)
        self.sign_in.failed(address)
        self.sign_in_all.failed("")

    def signed_in(self, address: str) -> None:
        self.sign_in.refund(address)
        self.sign_in_all.refund("")


def client_address(scope: Scope) -> str:
    """The caller's address: the peer's, or the one a trusted proxy forwarded (uvicorn's
    --proxy-headers with --forwarded-allow-ips: docker-compose.yml)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def retry_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"


def too_many_tokens(seconds: int) -> str:
    return (
        "Trop de jetons d'API inconnus envoyés depuis cette adresse. "
        f"Réessayez dans {retry_text(seconds)}."
    )
