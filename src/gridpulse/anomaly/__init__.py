"""Anomaly detection: a z-score baseline per local time-of-day slot, and robust scores of the
residuals against stored forecasts; flagged readings in a row become one anomaly window.

Pure computation on numpy arrays; reading the store and storing anomalies is
`gridpulse.jobs.anomalies`' work.
"""

from __future__ import annotations

from gridpulse.anomaly.residuals import ResidualScores, residual_scores
from gridpulse.anomaly.run import Thresholds, Window, windows
from gridpulse.anomaly.zscore import ZScores, zscores

__all__ = [
    "ResidualScores",
    "Thresholds",
    "Window",
    "ZScores",
    "residual_scores",
    "windows",
    "zscores",
]
