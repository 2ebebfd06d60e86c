"""Analyses: every analytic as one named question with string parameters, for the API and the CLI.

`run_analysis(store, settings, name, params)` validates the parameters, resolves the series,
reads them (recording the SQL) and calls the analytic; `ANALYSES` holds every registered one.
"""

from __future__ import annotations

from gridpulse.analyses import builtin as _builtin  # noqa: F401  (registers the built-in analyses)
from gridpulse.analyses.base import (
    ANALYSES,
    Analysis,
    AnalysisRun,
    Inputs,
    get_analysis,
    register,
    run,
    run_analysis,
)
from gridpulse.analyses.params import Param
from gridpulse.analyses.render import answer, answer_csv, listing
from gridpulse.analyses.select import FeederSelector, SeriesSelector

__all__ = [
    "ANALYSES",
    "Analysis",
    "AnalysisRun",
    "FeederSelector",
    "Inputs",
    "Param",
    "SeriesSelector",
    "answer",
    "answer_csv",
    "get_analysis",
    "listing",
    "register",
    "run",
    "run_analysis",
]
