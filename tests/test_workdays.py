"""Working days of Morocco: redress deadlines across weekends, national and Islamic holidays."""

import sys
from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.clock import FIRST_YEAR, RABAT, local
from domain.workdays import LAST_YEAR, is_working_day, working_days_after

# The package's public entry point, apart from the module's own path to it.
MOROCCO = holidays.country_holidays("MA", years=range(FIRST_YEAR, LAST_YEAR + 1), language="fr")


def rabat(day: date, at: time = time(10, 0)) -> datetime:
    return datetime.combine(day, at, RABAT)


def at_15h(day: date) -> datetime:
    return datetime.combine(day, time(15, 0), RABAT).astimezone(UTC)


def names(day: date) -> str:
    return MOROCCO.get(day, "")


def test_the_calendar_holds_the_national_and_the_islamic_holidays_every_year() -> None:
    islamic = ("Eid al-Fitr", "Eid al-Adha", "Islamic New Year", "Prophet's Birthday")
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        calendar = holidays.country_holidays("MA", years=year, language="en_US")
        text = "; ".join(calendar.values())
        assert all(name in text for name in islamic), (year, text)
        national = [(1, 1), (1, 11), (5, 1), (8, 14), (8, 20), (11, 6), (11, 18)]
        if year >= 2001:  # Throne Day and Youth Day in the package's dates of this reign
            national += [(7, 30), (8, 21)]
        for month, day in national:
            assert date(year, month, day) in calendar, (year, month, day)
    # The package's Islamic table stops during 2077: if it grows, LAST_YEAR may follow it.
    beyond = "; ".join(holidays.country_holidays("MA", years=LAST_YEAR + 2).values())
    assert not any(name in beyond for name in islamic)
    with pytest.raises(ValueError, match="2076"):
        is_working_day(date(LAST_YEAR + 1, 1, 4))


def test_islamic_dates_are_marked_estimated_and_national_ones_are_not() -> None:
    assert names(date(2027, 5, 16)) == names(date(2027, 5, 17)) == "Fête du sacrifice (estimé)"
    assert names(date(2027, 3, 9)) == "Fête de la rupture du jeûne (estimé)"
    assert names(date(2026, 7, 30)) == "Fête du Trône"
    assert names(date(2026, 11, 6)) == "La marche verte"


def test_across_aid_al_adha_2027_sunday_and_monday() -> None:
    # The package: Sunday 16 and Monday 17 May 2027.
    adha = sorted(day for day in MOROCCO if day.year == 2027 and "sacrifice" in names(day))
    assert adha == [date(2027, 5, 16), date(2027, 5, 17)]
    assert not is_working_day(date(2027, 5, 17))
    # Friday 14 May: the weekend and Monday's Aïd are skipped.
    assert working_days_after(rabat(date(2027, 5, 14)), 1) == at_15h(date(2027, 5, 18))
    assert working_days_after(rabat(date(2027, 5, 13)), 2) == at_15h(date(2027, 5, 18))


def test_across_labour_day_and_aid_al_adha_2028() -> None:
    # The package: Friday 5 and Saturday 6 May 2028; Labour Day is Monday 1 May.
    adha = sorted(day for day in MOROCCO if day.year == 2028 and "sacrifice" in names(day))
    assert adha == [date(2028, 5, 5), date(2028, 5, 6)]
    assert working_days_after(rabat(date(2028, 5, 4)), 1) == at_15h(date(2028, 5, 8))
    # From Friday 28 April, five working days: 2, 3, 4, 8 and 9 May.
    assert working_days_after(rabat(date(2028, 4, 28)), 5) == at_15h(date(2028, 5, 9))


def test_across_throne_day_on_a_weekday() -> None:
    assert date(2026, 7, 30).weekday() == 3 and not is_working_day(date(2026, 7, 30))
    assert working_days_after(rabat(date(2026, 7, 29)), 1) == at_15h(date(2026, 7, 31))
    # 2027: Friday 30 July, then the weekend.
    assert working_days_after(rabat(date(2027, 7, 29)), 1) == at_15h(date(2027, 8, 2))


def test_across_the_green_march() -> None:
    # 2026: Friday 6 November; 2028: Monday 6 November.
    assert working_days_after(rabat(date(2026, 11, 5)), 1) == at_15h(date(2026, 11, 9))
    assert working_days_after(rabat(date(2028, 11, 3)), 1) == at_15h(date(2028, 11, 7))
    # 2026's Friday 13 to Independence Day, Wednesday 18 November: 16, 17, then 19.
    assert working_days_after(rabat(date(2026, 11, 13)), 3) == at_15h(date(2026, 11, 19))


def test_across_a_weekend() -> None:
    assert working_days_after(rabat(date(2027, 1, 15)), 1) == at_15h(date(2027, 1, 18))
    # A start on Saturday counts from Monday.
    assert working_days_after(rabat(date(2027, 1, 16)), 1) == at_15h(date(2027, 1, 18))
    assert working_days_after(rabat(date(2027, 1, 15)), 10) == at_15h(date(2027, 1, 29))


def test_during_ramadan_the_deadline_is_still_15h_local() -> None:
    # Morocco is at UTC+0 from 7 February to 14 March 2027, UTC+1 otherwise.
    inside = working_days_after(rabat(date(2027, 2, 22)), 3)
    assert inside == datetime(2027, 2, 25, 15, 0, tzinfo=UTC)
    assert local(inside).time() == time(15, 0)
    # Aïd al-Fitr, Tuesday 9 and Wednesday 10 March, still at UTC+0.
    assert working_days_after(rabat(date(2027, 3, 8)), 1) == datetime(2027, 3, 11, 15, tzinfo=UTC)
    # Back at UTC+1 on Monday 15 March.
    after = working_days_after(rabat(date(2027, 3, 11)), 2)
    assert after == datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
    assert local(after).time() == time(15, 0)


def test_the_time_of_day_does_not_matter_only_the_day_in_rabat() -> None:
    day = date(2027, 5, 14)
    expected = at_15h(date(2027, 5, 18))
    for at in (time(0, 0), time(8, 30), time(14, 59), time(15, 0), time(23, 59, 59)):
        assert working_days_after(rabat(day, at), 1) == expected
    # 23:30 UTC on Thursday is 00:30 on Friday in Rabat (UTC+1): Friday counts.
    assert working_days_after(datetime(2027, 5, 13, 23, 30, tzinfo=UTC), 1) == expected
    # At UTC+0 (Ramadan) 23:30 UTC is still the same day in Rabat.
    late = datetime(2027, 2, 22, 23, 30, tzinfo=UTC)
    assert working_days_after(late, 1) == datetime(2027, 2, 23, 15, tzinfo=UTC)


def test_bounds_and_naive_moments_are_refused() -> None:
    moment = rabat(date(2027, 5, 14))
    with pytest.raises(ValueError):
        working_days_after(datetime(2027, 5, 14, 10, 0), 1)
    for days in (0, -1, 366):
        with pytest.raises(ValueError):
            working_days_after(moment, days)
    assert working_days_after(moment, 365) > moment + timedelta(days=365)
    with pytest.raises(TypeError):
        is_working_day(moment)


def test_counting_reads_no_file_and_opens_no_socket() -> None:
    seen: list[str] = []
    recording = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if recording[0] and event.split(".")[0] in {"open", "socket", "urllib", "subprocess"}:
            seen.append(f"{event} {args[:1]}")

    sys.addaudithook(hook)  # audit hooks stay for the process: `recording` turns it off
    try:
        working_days_after(rabat(date(2031, 12, 1)), 200)
        assert seen == []
        open(__file__).close()  # the probe sees a file being read
        assert len(seen) == 1
    finally:
        recording[0] = False


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(FIRST_YEAR, 1, 1),
        max_value=datetime(LAST_YEAR - 2, 12, 31),
        timezones=st.just(UTC),
    ),
    days=st.integers(min_value=1, max_value=365),
)
def test_the_deadline_is_the_nth_working_day_after_the_day(moment: datetime, days: int) -> None:
    due = working_days_after(moment, days)
    end = local(due)
    assert end.time() == time(15, 0) and due > moment
    assert end.weekday() < 5 and end.date() not in MOROCCO
    start = local(moment).date()
    between = (start + timedelta(days=n) for n in range(1, (end.date() - start).days + 1))
    assert sum(day.weekday() < 5 and day not in MOROCCO for day in between) == days
