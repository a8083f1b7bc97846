"""Working days of Morocco: a deadline counted in working days ends at 15:00 Rabat time.

A working day is Monday to Friday and not a public holiday of the `holidays` package's Moroccan
calendar: New Year, Proclamation of Independence (11 January), Amazigh New Year (14 January, from
2024), Labour Day, Throne Day (30 July), Oued Ed-Dahab (14 August), Revolution of the King and the
People (20 August), Youth Day (21 August), Unity Day (31 October, from 2026), the Green March
(6 November), Independence Day (18 November), and the Islamic holidays: Aïd al-Fitr and Aïd al-Adha
(two days each), 1 Muharram, and the Mawlid (two days).

The Islamic dates come from the package's table of the Umm al-Qura calendar, not from Morocco's
moon sighting: the package names each one « … (estimé) ». Morocco often sees the crescent a day
after Saudi Arabia (both Aïds of 2025), so a holiday of two days then shifts by a day: counting
across it still skips two days, but a deadline can land on the holiday's real second day. The
table stops during 2077, hence LAST_YEAR.

The package computes: no network, no data files beyond its French names, read once at import (the
standard library's gettext keeps them per process). A calendar is built once per year and is the
same on every run with the pinned version, so workflows may count with it.
"""

from datetime import date, datetime, timedelta

from holidays.countries.morocco import Morocco

from domain.clock import FIRST_YEAR, RABAT, at_deadline_time, due_after

LAST_YEAR = 2076  # the last year in which the package knows all four Islamic holidays
MAX_DAYS = 365


# Every year's holidays, computed once at import (80 ms): building a year later would call
# gettext and the locale, which a workflow's sandbox refuses. The language is pinned, otherwise
# the package picks its names from the environment's locale.
HOLIDAYS = frozenset(Morocco(years=range(FIRST_YEAR, LAST_YEAR + 1), language="fr"))


def is_working_day(day: date) -> bool:
    """Monday to Friday and no Moroccan public holiday."""
    if isinstance(day, datetime):
        raise TypeError("un jour, pas un instant : passer local(instant).date()")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"jours ouvrés connus de {FIRST_YEAR} à {LAST_YEAR} seulement")
    return day.weekday() < 5 and day not in HOLIDAYS


def working_days_after(moment: datetime, days: int) -> datetime:
    """15:00 Rabat time (as UTC) on the `days`-th working day after `moment`'s day in Rabat."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("instant sans fuseau horaire")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"le délai compte de 1 à {MAX_DAYS} jours ouvrés")
    day = moment.astimezone(RABAT).date()
    left = days
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return at_deadline_time(day)


def response_due(sent: datetime, days: int, working: bool) -> datetime:
    """When a response time that runs from a notice's sending ends: `days` working days of
    Morocco, or calendar days (domain.clock.due_after); the workflow and the mail both ask here."""
    return working_days_after(sent, days) if working else due_after(sent, days)
