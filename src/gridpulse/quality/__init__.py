"""Data quality, as meter-data management validates and estimates (VEE): rules per series and local
day, and estimates for missing intervals that never replace a read.

Pure computation on numpy arrays; reading the store, storing results and writing estimates is
`gridpulse.jobs.quality`' work.
"""

from __future__ import annotations

from gridpulse.quality.checks import SeriesReads, conflicting_ts, spikes, validate_series
from gridpulse.quality.estimate import Estimates, estimate_gaps
from gridpulse.quality.rules import RULES, RuleSettings, rule_for, selected

__all__ = [
    "RULES",
    "Estimates",
    "RuleSettings",
    "SeriesReads",
    "conflicting_ts",
    "estimate_gaps",
    "rule_for",
    "selected",
    "spikes",
    "validate_series",
]
