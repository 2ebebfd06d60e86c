"""Calendar features of grid steps, read on the series' local wall clock.

Load follows local time: the 08:00 ramp happens at 08:00 wall time in summer and in winter, so
hour of day, weekday and holidays come from the site's zone, DST included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridpulse.analytics.periods import US_PER_DAY, US_PER_H, wall_clock_us
from gridpulse.analytics.tariffs import holiday_days

__all__ = ["CALENDAR_FEATURES", "Calendar", "calendar_of"]

#: Column names, in the order `Calendar.matrix` returns them.
CALENDAR_FEATURES = ("hour_of_day", "weekday", "month", "day_of_year", "is_weekend", "is_holiday")


@dataclass(frozen=True)
class Calendar:
    """Per grid step: local hour of day (fractional for half hours), weekday (Monday 0), month
    (1-12), day of year (1-366), weekend and public-holiday flags (0/1)."""

    hour_of_day: npt.NDArray[np.float64]
    weekday: npt.NDArray[np.int64]
    month: npt.NDArray[np.int64]
    day_of_year: npt.NDArray[np.int64]
    is_weekend: npt.NDArray[np.int64]
    is_holiday: npt.NDArray[np.int64]

    def matrix(self) -> npt.NDArray[np.float64]:
        """The features as columns of one float matrix, in CALENDAR_FEATURES order."""
        return np.column_stack([getattr(self, name).astype(np.float64) for name in CALENDAR_FEATURES])


def calendar_of(ts_us: npt.NDArray[np.int64], *, tz: str, holidays: str | None, subdiv: str | None) -> Calendar:
    """Calendar features of UTC instants on the wall clock of `tz`.

    Args:
        ts_us: interval starts. [µs since 1970-01-01 UTC]
        tz: IANA zone.
        holidays: country code of the `holidays` package, or None for no holidays.
        subdiv: subdivision of that country, or None.
    """
    wall = wall_clock_us(ts_us.astype(np.int64), tz)
    days = wall // US_PER_DAY
    hour = (wall - days * US_PER_DAY) / US_PER_H
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    dates = days.astype("datetime64[D]")
    years = dates.astype("datetime64[Y]")
    month = (dates.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(np.int64) + 1
    day_of_year = (dates - years.astype("datetime64[D]")).astype(np.int64) + 1
    hol = holiday_days(holidays, subdiv, days) if holidays else np.empty(0, np.int64)
    return Calendar(
        hour_of_day=hour.astype(np.float64),
        weekday=weekday.astype(np.int64),
        month=month,
        day_of_year=day_of_year,
        is_weekend=(weekday >= 5).astype(np.int64),
        is_holiday=np.isin(days, hol).astype(np.int64),
    )
