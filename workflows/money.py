"""The ledger's movements a case's transition makes (activities.money writes them, guarded by
the database): one call per transition, its rows keyed by the transition so a retry writes
nothing twice, a refusal (« fonds insuffisants ») the update's own 409."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.money import Money, MoveOrder
    from domain.models import Actor
    from domain.money import Movement
    from workflows.transitions import Case

# A movement: its kind, and its amounts per contract year (None: all that remains of it).
Move = tuple[Movement, dict[int, float] | None]


async def move(case: Case, actor: Actor, call_id: str, basis: str, *moves: Move) -> None:
    key = case.next_key()
    orders = [
        MoveOrder(
            key=key,
            call_id=call_id,
            case_id=case.state.id,
            kind=kind,
            amounts=amounts,
            actor=actor.name,
            basis=basis,
        )
        for kind, amounts in moves
    ]
    await case.asked(Money.moves, orders)


def per_year(amounts: list[float]) -> dict[int, float]:
    """Amounts listed by contract year, keyed by it (1 for the first)."""
    return {year: amount for year, amount in enumerate(amounts, start=1) if amount}
