"""Times: stored as aware UTC, read and shown in Rabat time (Africa/Casablanca)."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

RABAT = ZoneInfo("Africa/Casablanca")
DEADLINE_TIME = time(15, 0)  # calls and requests close at 15:00 Rabat time
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 2000, 2100  # a programme's dates; beyond is a typo, not a plan


def at_deadline_time(day: date) -> datetime:
    """15:00 Rabat time on `day`, as UTC."""
    return datetime.combine(day, DEADLINE_TIME, RABAT).astimezone(UTC)


def to_utc(value: object) -> object:
    """Pydantic before-validator: naive times are Rabat time, a bare date means 15:00 that day."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                date.fromisoformat(text)
                if _DATE_ONLY.match(text)
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            return value  # let pydantic report the bad format
    try:
        if isinstance(value, date) and not isinstance(value, datetime):
            value = at_deadline_time(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=RABAT)
            value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date hors limites") from None
    if isinstance(value, datetime) and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"la date doit tomber entre {FIRST_YEAR} et {LAST_YEAR}")
    return value


def due_after(now: datetime, days: int) -> datetime:
    """A response time in days ends at 15:00 Rabat time, `days` calendar days after `now`."""
    return at_deadline_time(now.astimezone(RABAT).date() + timedelta(days=days))


def local(value: datetime) -> datetime:
    return value.astimezone(RABAT)
