"""Energy analytics over stored series: one function per question, units in every name.

Each analytic is a pure function over long Arrow frames (`base`) returning an AnalyticResult.
The helpers they share live in `frames` (reading a frame into numpy, runs of sorted rows,
instants in µs), `periods` (local calendar periods and the wall clock of a zone) and `estimated`
(the columns that say how much of each figure rests on estimated values).
"""

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.battery import equivalent_full_cycles, soc_daily, time_below_threshold
from gridpulse.analytics.coverage import coverage, gaps
from gridpulse.analytics.demand import load_duration_curve, load_factor, peak_demand_kw
from gridpulse.analytics.energy import consumption_from_register_kwh, energy_from_power_kwh, energy_kwh
from gridpulse.analytics.feeders import feeder_balance
from gridpulse.analytics.generation import generation_summary
from gridpulse.analytics.summary import summarise
from gridpulse.analytics.tariffs import Tariff, parse_tariffs
from gridpulse.analytics.tou import average_day_profile, tou_energy_cost

__all__ = [
    "AnalyticResult",
    "Tariff",
    "average_day_profile",
    "consumption_from_register_kwh",
    "coverage",
    "energy_from_power_kwh",
    "energy_kwh",
    "equivalent_full_cycles",
    "feeder_balance",
    "gaps",
    "generation_summary",
    "load_duration_curve",
    "load_factor",
    "parse_tariffs",
    "peak_demand_kw",
    "soc_daily",
    "summarise",
    "time_below_threshold",
    "tou_energy_cost",
]
