"""Small synthetic histories for the forecast tests: a load-like daily and weekly shape plus iid
Gaussian noise of a known sigma, on a regular UTC grid."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from gridpulse.forecast import History

__all__ = ["HOUR", "MONDAY", "WEEK_S", "shape", "synthetic", "us"]

HOUR = 3600
WEEK_S = 7 * 86_400
MONDAY = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, a Monday [µs]


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """A UTC instant in µs since 1970."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * 1_000_000


def shape(start_us: int, n: int, step_s: int) -> np.ndarray:
    """A noiseless load shape: 100 base, a morning and an evening peak, 20 less at weekends (UTC)."""
    ts_s = start_us // 1_000_000 + np.arange(n) * step_s
    hour = (ts_s % 86_400) / 3600
    weekday = (ts_s // 86_400 + 3) % 7  # 1970-01-01 was a Thursday
    return (
        100.0
        + 30.0 * np.exp(-(((hour - 18.0) / 3.0) ** 2))
        + 15.0 * np.exp(-(((hour - 8.0) / 2.0) ** 2))
        - np.where(weekday >= 5, 20.0, 0.0)
    )


def synthetic(
    name: str = "s",
    *,
    weeks: int = 5,
    step_s: int = HOUR,
    sigma: float = 2.0,
    seed: int = 0,
    start_us: int = MONDAY,
    end_us: int | None = None,
    tz: str = "UTC",
    exog: bool = False,
) -> History:
    """`weeks` of shape + N(0, sigma) noise from `start_us` (or ending at `end_us`); with `exog`, a
    noisy daily temperature beside it."""
    n = weeks * WEEK_S // step_s
    if end_us is not None:
        start_us = end_us - n * step_s * 1_000_000
    rng = np.random.default_rng(seed)
    values = shape(start_us, n, step_s) + rng.normal(0.0, sigma, n)
    extra = {}
    if exog:
        hours = np.arange(n) * step_s / 3600
        extra["temperature"] = 10.0 + 5.0 * np.sin(2 * np.pi * hours / 24) + rng.normal(0.0, 1.0, n)
    return History(name, start_us, step_s, values, tz=tz, exog=extra)
