"""Robust scores of forecast residuals: how far each actual lies from the stored forecast, in
scaled median absolute deviations of all the residuals judged together.

residual = actual - forecast mean; score = (residual - median) / (1.4826 x MAD). The median and
MAD shrug off the anomalies themselves (a z-score's mean and standard deviation would be pulled
towards them), and the residuals of a good forecast are what is left of the load once its
shape is explained, so the score reads as "standard deviations from what was expected".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridpulse.analytics.frames import F64

__all__ = ["MAD_TO_SIGMA", "ResidualScores", "residual_scores"]

#: 1.4826 x MAD estimates the standard deviation of normally distributed values
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class ResidualScores:
    """Per step: residual and robust score, and the centre and spread they were judged by.

    Attributes:
        residual: actual - expected, NaN where either is missing. [series unit]
        score: (residual - median) / scale; NaN where the residual is. [scaled MADs]
        median: median residual. [series unit]
        scale: 1.4826 x MAD, at least the floor. [series unit]
    """

    residual: F64
    score: F64
    median: float
    scale: float


def residual_scores(
    actual: F64, expected: F64, *, min_residuals: int = 24, scale_floor: float = 0.01
) -> ResidualScores | None:
    """Robust scores of actual against expected values.

    Args:
        actual: observed values per step. [series unit]
        expected: the forecast mean per step. [series unit]
        min_residuals: fewest residuals for a median and MAD worth trusting; fewer gives None.
        scale_floor: the scale is at least this fraction of the median |actual| (and 1e-9):
            a forecast that was exactly right for a day does not make the next small miss huge. [1]

    Returns:
        The scores, or None when fewer than min_residuals residuals are known.
    """
    residual = actual - expected
    known = ~np.isnan(residual)
    if np.count_nonzero(known) < min_residuals:
        return None
    r = residual[known]
    med = float(np.median(r))
    mad = float(np.median(np.abs(r - med)))
    level = float(np.median(np.abs(actual[known])))
    scale = max(MAD_TO_SIGMA * mad, scale_floor * level, 1e-9)
    score = (residual - med) / scale
    return ResidualScores(residual, score, med, scale)
