"""From per-reading scores to anomalies: flagged readings in a row become one window, with the
severity of its highest score.

Pure: the job (`gridpulse.jobs.anomalies`) reads the store, scores, calls `windows` and stores
the Anomaly values it builds from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridpulse.analytics.frames import F64, I64
from gridpulse.model import Severity

__all__ = ["Thresholds", "Window", "windows"]


@dataclass(frozen=True)
class Thresholds:
    """|score| from which a reading is flagged at each severity. [standard deviations or scaled MADs]"""

    info: float = 3.5
    warning: float = 5.0
    critical: float = 8.0

    def severity(self, score: float) -> Severity | None:
        """The severity of |score|, or None when it is below `info`."""
        s = abs(score)
        if s >= self.critical:
            return Severity.CRITICAL
        if s >= self.warning:
            return Severity.WARNING
        if s >= self.info:
            return Severity.INFO
        return None


@dataclass(frozen=True)
class Window:
    """Flagged readings in a row, on one side of what was expected.

    Attributes:
        start_us, end_us: first flagged instant and the end of the last flagged step. [µs]
        kind: `high_kind` or `low_kind` as given to `windows`.
        score: the largest |score| in the window, signed as its side. [1]
        severity: of that score.
        value, expected: at the largest |score|. [series unit]
    """

    start_us: int
    end_us: int
    kind: str
    score: float
    severity: Severity
    value: float
    expected: float


def windows(
    ts_us: I64,
    score: F64,
    value: F64,
    expected: F64,
    *,
    step_us: int,
    thresholds: Thresholds,
    high_kind: str = "high",
    low_kind: str = "low",
    since_us: int | None = None,
) -> list[Window]:
    """Windows of readings with |score| >= thresholds.info.

    Readings join one window when they are flagged on the same side (above or below) and at most
    one step apart; a gap in the data or a reading that is not flagged ends a window.

    Args:
        ts_us: instants, sorted. [µs]
        score: signed scores; NaN counts as not flagged. [1]
        value, expected: the readings and what was expected of them. [series unit]
        step_us: the series' step. [µs]
        thresholds: the severity thresholds.
        high_kind, low_kind: kind names of windows above and below expectation.
        since_us: only windows ending after this instant are returned. [µs]

    Returns:
        The windows in time order.
    """
    flagged = np.abs(np.nan_to_num(score, nan=0.0)) >= thresholds.info
    idx = np.flatnonzero(flagged)
    if idx.size == 0:
        return []
    side = np.sign(score[idx])
    new = np.r_[True, (np.diff(ts_us[idx]) > step_us) | (side[1:] != side[:-1])]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], idx.size]
    out: list[Window] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        members = idx[a:b]
        top = members[int(np.argmax(np.abs(score[members])))]
        end_us = int(ts_us[members[-1]]) + step_us
        if since_us is not None and end_us <= since_us:
            continue
        severity = thresholds.severity(float(score[top]))
        assert severity is not None
        out.append(
            Window(
                start_us=int(ts_us[members[0]]),
                end_us=end_us,
                kind=high_kind if score[top] > 0 else low_kind,
                score=float(score[top]),
                severity=severity,
                value=float(value[top]),
                expected=float(expected[top]),
            )
        )
    return out
