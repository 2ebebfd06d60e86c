"""Time-of-use tariffs: named price periods by local day type, hours and months.

A tariff comes from the `[tariffs.<name>]` tables of the configuration:

    [tariffs.nl-tou]
    tz = "Europe/Amsterdam"
    holidays = "NL"            # optional: country code of the `holidays` package
    holidays_subdiv = "..."    # optional: its subdivision (state, province)
    currency = "EUR"
    [[tariffs.nl-tou.periods]]
    name = "peak"; days = "weekday"; hours = "07:00-23:00"; price_per_kwh = 0.32; months = [1, 2, 12]
    [[tariffs.nl-tou.periods]]
    name = "offpeak"; days = "all"; hours = "00:00-24:00"; price_per_kwh = 0.21

Matching rules, applied to the local wall-clock time in the tariff's zone:

- `days` is "weekday" (Mon-Fri), "weekend" (Sat, Sun), "holiday", "all", or a list of day names
  ("mon" .. "sun"); `hours` is "HH:MM-HH:MM", start inclusive, end exclusive, "24:00" = midnight
  at the end of the day; a range whose end is before its start wraps midnight ("23:00-07:00");
  `months` (1-12) is optional and means every month when absent.
- On a public holiday the "holiday" periods are tried first; when none matches, the day is priced
  like a Sunday (weekend-type: "weekend" and lists holding "sun" match it, "weekday" does not).
- Otherwise the first period in the list that matches wins; a tariff where some local minute of
  some day type and month matches no period is refused when it is parsed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
import numpy as np
import pyarrow as pa

from gridpulse.analytics.frames import I64, Mask, as_int64
from gridpulse.analytics.periods import US_PER_DAY, US_PER_MIN, epoch_days, months, wall_clock_us, weekdays
from gridpulse.errors import ConfigError, QueryError

__all__ = ["DAY_NAMES", "Tariff", "TariffPeriod", "holiday_days", "parse_tariffs"]

#: Day names accepted in a `days` list, Monday first (index = ISO weekday - 1).
DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_KINDS: Final = {
    "weekday": frozenset(range(5)),
    "weekend": frozenset({5, 6}),
    "all": frozenset(range(7)),
}
_SUNDAY: Final = 6
_MIN_PER_DAY: Final = 1440
_HOURS_RE: Final = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_TARIFF_KEYS: Final = {"tz", "holidays", "holidays_subdiv", "currency", "periods"}
_PERIOD_KEYS: Final = {"name", "days", "hours", "price_per_kwh", "months"}


@dataclass(frozen=True)
class TariffPeriod:
    """One priced period of a tariff.

    Attributes:
        name: e.g. "peak"; two entries may share a name (summer and winter peak).
        weekdays: the weekdays it applies to, 0 = Monday .. 6 = Sunday (empty for holiday-only).
        holiday: True for a `days = "holiday"` period: it matches public holidays only.
        start_min: first minute of the local day it covers. [min after local midnight]
        end_min: minute after the last one it covers, 1..1440; below start_min it wraps midnight.
            [min after local midnight]
        price_per_kwh: price of energy in this period. [currency/kWh]
        months: months it applies to (1-12); None means all.
    """

    name: str
    weekdays: frozenset[int]
    holiday: bool
    start_min: int
    end_min: int
    price_per_kwh: float
    months: frozenset[int] | None = None

    def matches(self, minute: I64, weekday: I64, month: I64) -> Mask:
        """Whether each local time falls in this period (day-type logic is the caller's).

        Args:
            minute: local minute of the day, 0..1439. [min]
            weekday: 0 = Monday .. 6 = Sunday, already Sunday for holidays.
            month: 1..12.

        Returns:
            A boolean mask as long as the inputs.
        """
        if self.start_min < self.end_min:
            in_hours = (minute >= self.start_min) & (minute < self.end_min)
        else:
            in_hours = (minute >= self.start_min) | (minute < self.end_min)
        mask: Mask = in_hours
        if not self.holiday:
            mask &= np.isin(weekday, list(self.weekdays))
        if self.months is not None:
            mask &= np.isin(month, list(self.months))
        return mask


@dataclass(frozen=True)
class Tariff:
    """A time-of-use tariff: its zone, holidays, currency and periods in matching order.

    Attributes:
        name: the key under `[tariffs]`, e.g. "nl-tou".
        tz: IANA zone whose wall clock the periods are written in.
        currency: ISO 4217 code of every price, e.g. "EUR".
        periods: in matching order (first match wins).
        holidays_country: country code for the `holidays` package, or None for no holidays.
        holidays_subdiv: subdivision of that country, or None.
    """

    name: str
    tz: str
    currency: str
    periods: tuple[TariffPeriod, ...]
    holidays_country: str | None = None
    holidays_subdiv: str | None = None

    def period_index(self, local: pa.Array | pa.ChunkedArray | Sequence[datetime]) -> I64:
        """The index into `periods` of each local time (-1 where none matches).

        Args:
            local: local wall-clock times in this tariff's zone, as naive timestamps (Arrow or
                datetime). Aware values are first converted to this zone's wall clock.

        Returns:
            int64 array as long as `local`; -1 only for a tariff built by hand with holes
            (`parse_tariffs` refuses those).
        """
        return self.period_index_wall_us(_wall_clock(local, self.tz))

    def period_index_wall_us(self, wall: I64) -> I64:
        """The index into `periods` of each local wall-clock time given as an integer (-1: none).

        Args:
            wall: local wall-clock times in this tariff's zone as microseconds since
                1970-01-01 00:00 on that clock (see `periods.wall_clock_us`). [µs]

        Returns:
            int64 array as long as `wall`.
        """
        days = np.floor_divide(wall, US_PER_DAY)
        minute = np.floor_divide(wall - days * US_PER_DAY, US_PER_MIN)
        is_holiday = np.isin(days, holiday_days(self.holidays_country, self.holidays_subdiv, days))
        return self._classify(minute, weekdays(days), months(days), is_holiday)

    def period_of(self, local: pa.Array | pa.ChunkedArray | Sequence[datetime]) -> pa.Array:
        """The period name of each local time (null where none matches).

        Args:
            local: as for `period_index`.

        Returns:
            A string array as long as `local`.
        """
        index = self.period_index(local)
        names = pa.array([p.name for p in self.periods], pa.string())
        return names.take(pa.array(index, mask=index < 0))

    def _classify(self, minute: I64, weekday: I64, month: I64, is_holiday: Mask) -> I64:
        out = np.full(len(minute), -1, np.int64)
        for i, period in enumerate(self.periods):
            if period.holiday:
                free = (out < 0) & is_holiday
                out[free & period.matches(minute, weekday, month)] = i
        weekday = np.where(is_holiday, _SUNDAY, weekday)
        for i, period in enumerate(self.periods):
            if not period.holiday:
                free = out < 0
                out[free & period.matches(minute, weekday, month)] = i
        return out


def holiday_days(country: str | None, subdiv: str | None, days: I64) -> I64:
    """The public holidays over the years `days` span, as days since 1970-01-01.

    Args:
        country: country code of the `holidays` package ("NL", "AU"); None gives no holidays.
        subdiv: its subdivision ("NSW"), or None.
        days: local dates as days since 1970-01-01. [days]

    Returns:
        Sorted int64 array of holiday dates. [days since 1970-01-01]
    """
    if country is None or len(days) == 0:
        return np.empty(0, np.int64)
    first = date.fromordinal(date(1970, 1, 1).toordinal() + int(days.min())).year
    last = date.fromordinal(date(1970, 1, 1).toordinal() + int(days.max())).year
    return epoch_days(holidays_lib.country_holidays(country, subdiv=subdiv, years=range(first, last + 1)))


def _wall_clock(local: pa.Array | pa.ChunkedArray | Sequence[datetime], tz: str) -> I64:
    """Wall-clock times in `tz` as microseconds since 1970-01-01 00:00 on that clock.

    Args:
        local: aware instants (Arrow timestamps with a zone, or aware datetimes), converted to
            `tz`; naive values are taken as wall-clock times already.
        tz: IANA zone.

    Returns:
        int64 array as long as `local`. [µs]

    Raises:
        QueryError: the values are not timestamps.
    """
    arr = local if isinstance(local, pa.Array | pa.ChunkedArray) else pa.array(local)
    if not pa.types.is_timestamp(arr.type):
        raise QueryError(
            f"local times must be timestamps, got {arr.type}: pass datetimes or a timestamp array"
        )
    values = as_int64(arr.cast(pa.timestamp("us", arr.type.tz)))
    return values if arr.type.tz is None else wall_clock_us(values, tz)


# --------------------------------------------------------------------------------------- parsing
def parse_tariffs(raw: Mapping[str, Any]) -> dict[str, Tariff]:
    """Tariffs by name from the `[tariffs]` table of a configuration.

    Args:
        raw: the `[tariffs]` table as parsed TOML: tariff name -> table with tz, currency,
            optional holidays and holidays_subdiv, and `periods` (a list of tables with name,
            days, hours, price_per_kwh and optional months). Period indices in messages count
            from 0.

    Returns:
        name -> Tariff, in the order given.

    Raises:
        ConfigError: naming the key and value, for a missing or unknown key, a bad value, an
            unknown zone or holiday country, or a tariff where some local time matches no period.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"tariffs={raw!r} is not a table: write [tariffs.<name>] sections")
    return {str(name): _parse_tariff(f"tariffs.{name}", str(name), table) for name, table in raw.items()}


def _parse_tariff(key: str, name: str, table: Any) -> Tariff:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{key}={table!r} is not a table: write it as [{key}]")
    _no_unknown_keys(key, table, _TARIFF_KEYS)
    tz = _required_str(key, table, "tz")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}.tz={tz!r} is not an IANA time zone (e.g. Europe/Amsterdam)") from None
    currency = _required_str(key, table, "currency")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ConfigError(f"{key}.currency={currency!r} is not an ISO 4217 code such as EUR or USD")
    country = _optional_str(key, table, "holidays")
    subdiv = _optional_str(key, table, "holidays_subdiv")
    if subdiv is not None and country is None:
        raise ConfigError(f"{key}.holidays_subdiv={subdiv!r} needs holidays = <country code> as well")
    if country is not None:
        try:
            holidays_lib.country_holidays(country, subdiv=subdiv)
        except NotImplementedError:
            raise ConfigError(
                f"{key}.holidays={country!r} (subdiv {subdiv!r}) is not known to the holidays package: "
                "use a code such as NL, DE, AU (with holidays_subdiv for a state)"
            ) from None
    periods_raw = table.get("periods")
    if not isinstance(periods_raw, list) or not periods_raw:
        raise ConfigError(f"{key}.periods is missing or empty: add [[{key}.periods]] tables")
    periods = tuple(_parse_period(f"{key}.periods[{i}]", p) for i, p in enumerate(periods_raw))
    for i, p in enumerate(periods):
        if p.holiday and country is None:
            raise ConfigError(
                f"{key}.periods[{i}].days='holiday' but {key} names no holidays: add holidays = \"NL\""
            )
    tariff = Tariff(name, tz, currency, periods, country, subdiv)
    _check_complete(key, tariff)
    return tariff


def _parse_period(key: str, table: Any) -> TariffPeriod:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{key}={table!r} is not a table: write it as [[...periods]]")
    _no_unknown_keys(key, table, _PERIOD_KEYS)
    name = _required_str(key, table, "name")
    weekdays, holiday = _parse_days(f"{key}.days", table.get("days"))
    start_min, end_min = _parse_hours(f"{key}.hours", table.get("hours"))
    price = table.get("price_per_kwh")
    if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price):
        raise ConfigError(f"{key}.price_per_kwh={price!r} is not a number: write e.g. 0.21")
    months_raw = table.get("months")
    months: frozenset[int] | None = None
    if months_raw is not None:
        if (
            not isinstance(months_raw, list)
            or not months_raw
            or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months_raw)
        ):
            raise ConfigError(
                f"{key}.months={months_raw!r} is not a list of months 1-12: write e.g. [1, 2, 12]"
            )
        months = frozenset(months_raw)
    return TariffPeriod(name, weekdays, holiday, start_min, end_min, float(price), months)


def _parse_days(key: str, value: Any) -> tuple[frozenset[int], bool]:
    if value == "holiday":
        return frozenset(), True
    if isinstance(value, str) and value in _DAY_KINDS:
        return _DAY_KINDS[value], False
    if isinstance(value, list) and value and all(isinstance(d, str) and d in DAY_NAMES for d in value):
        return frozenset(DAY_NAMES.index(d) for d in value), False
    raise ConfigError(
        f"{key}={value!r} is not a day type: use weekday, weekend, holiday, all, or a list such as "
        '["mon", "tue"]'
    )


def _parse_hours(key: str, value: Any) -> tuple[int, int]:
    match = _HOURS_RE.match(value) if isinstance(value, str) else None
    if match:
        h0, m0, h1, m1 = (int(g) for g in match.groups())
        start, end = h0 * 60 + m0, h1 * 60 + m1
        if h0 < 24 and h1 <= 24 and m0 < 60 and m1 < 60 and end <= _MIN_PER_DAY and start != end:
            # "07:00-00:00" means up to midnight, like "07:00-24:00"
            return start, end or _MIN_PER_DAY
    raise ConfigError(
        f"{key}={value!r} is not a time range: write HH:MM-HH:MM such as 07:00-23:00, "
        "23:00-07:00 (across midnight) or 00:00-24:00"
    )


def _check_complete(key: str, tariff: Tariff) -> None:
    """Raises ConfigError naming the first local time (day type, month, minute) no period covers."""
    minute = np.tile(np.arange(_MIN_PER_DAY, dtype=np.int64), 7 * 12 * 2)
    combos = np.repeat(np.arange(7 * 12 * 2, dtype=np.int64), _MIN_PER_DAY)
    weekday, month, is_holiday = combos % 7, (combos // 7) % 12 + 1, combos // 84 == 1
    if tariff.holidays_country is None:
        is_holiday[:] = False
    index = tariff._classify(minute, weekday, month, is_holiday)
    if (index >= 0).all():
        return
    first = int(np.argmax(index < 0))
    day = "a public holiday" if is_holiday[first] else DAY_NAMES[int(weekday[first])]
    m = int(minute[first])
    raise ConfigError(
        f"{key}.periods cover no price for {day} {m // 60:02d}:{m % 60:02d} in month {int(month[first])}: "
        'add a catch-all period last, e.g. days = "all", hours = "00:00-24:00"'
    )


def _no_unknown_keys(key: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]} is not a known key: use one of {', '.join(sorted(allowed))}")


def _required_str(key: str, table: Mapping[str, Any], field: str) -> str:
    value = table.get(field)
    if not isinstance(value, str) or not value:
        raise ConfigError(f'{key}.{field}={value!r} is missing or not a string: add {field} = "..."')
    return value


def _optional_str(key: str, table: Mapping[str, Any], field: str) -> str | None:
    value = table.get(field)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{key}.{field}={value!r} is not a string")
    return value
