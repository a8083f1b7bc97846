"""How the console writes dates, amounts, scores and stages: its templates' filters, and the
charts' too."""

from datetime import UTC, datetime

from domain.clock import local
from domain.money import mad
from domain.stages import STAGES, Tone
from domain.support import add_years


def date(value: datetime | str | None, with_time: bool = True) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{local(moment):%d/%m/%Y à %H:%M}" if with_time else f"{local(moment):%d/%m/%Y}"


def amount(value: float | None) -> str:
    return "—" if value is None else mad(value)


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


def countdown(deadline: datetime) -> str:
    left = deadline - datetime.now(UTC)
    if left.total_seconds() <= 0:
        return "échue"
    days, hours = left.days, left.seconds // 3600
    return (
        f"J-{days} ({days} j {hours} h)" if days else f"{hours} h {left.seconds % 3600 // 60} min"
    )


def tone(stage: str, late: bool = False) -> str:
    """The badge's class for a stage, from its record (`late`: past its date, whatever the
    stage)."""
    return Tone.ADVERSE if late else STAGES[stage].tone  # type: ignore[index]


def next_anniversary(ends_at: datetime) -> datetime:
    """The support year's anniversary, or, once past, the one after (a case under review)."""
    return ends_at if ends_at > datetime.now(UTC) else add_years(ends_at, 1)
