"""Rule parsing: durations, defaults, the round trip through the store's JSON, and errors that
name the rule and the field."""

from __future__ import annotations

import pytest

from gridpulse.alerts.rules import RuleKind, parse_duration_s, parse_rule
from gridpulse.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1.5h", 5400.0), ("2d", 172800.0), ("250ms", 0.25)],
)
def test_durations_in_seconds_or_with_a_unit(text: object, seconds: float) -> None:
    assert parse_duration_s(text, "for") == seconds


def test_seed_rule_gets_the_documented_defaults_and_round_trips() -> None:
    rule = parse_rule({"name": "low-soc", "metric": "StateOfChargePercentage", "op": "<", "threshold": 20})
    assert (rule.kind, rule.for_s, rule.cooldown_s, rule.group_by, rule.clear_level) == (
        RuleKind.THRESHOLD, 0.0, 0.0, ("series",), 20.0,
    )  # fmt: skip
    assert rule.describe() == "StateOfChargePercentage < 20"
    again = parse_rule(rule.as_dict())
    assert again == rule
    full = parse_rule(
        {**rule.as_dict(), "for_s": "5m", "cooldown_s": "1h", "clear": 25, "group_by": [], "severity": "critical"}
    )
    assert parse_rule(full.as_dict()) == full
    assert (full.for_s, full.cooldown_s, full.group_by, full.clear_level) == (300.0, 3600.0, (), 25.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "bad name!"}, "rule.name='bad name!' is not a rule name"),
        (
            {"name": "r", "metric": "m", "op": "<", "threshold": 1, "colour": "red"},
            "rule 'r': unknown field(s) colour",
        ),
        (
            {"name": "r", "kind": "magic"},
            "rule 'r': kind='magic' is not one of threshold, rate, nodata, anomaly, validation",
        ),
        (
            {"name": "r", "metric": "m", "op": "<", "threshold": 1, "for": "5m", "for_s": 300},
            "rule 'r': give for or for_s",
        ),
        (
            {"name": "r", "metric": "m", "op": "<", "threshold": 1, "severity": "page"},
            "rule 'r': severity='page'",
        ),
        (
            {"name": "r", "kind": "rate", "metric": "m", "op": "<", "threshold": 1, "clear": 2},
            "rule 'r': clear applies to threshold rules only",
        ),
        (
            {"name": "r", "kind": "anomaly", "min_severity": "huge"},
            "rule 'r': min_severity='huge' is not one of",
        ),
        (
            {"name": "r", "metric": "m", "op": "<", "threshold": 1, "notify": "pager"},
            "rule 'r': notify target 'pager' is not one of scheme:address",
        ),
        ({"name": "r", "kind": "forecast_error"}, "rule 'r': threshold is required for a forecast_error rule"),
        (
            {"name": "r", "kind": "forecast_error", "measure": "rmse", "threshold": 1},
            "rule 'r': measure='rmse' is not one of mape, mae, bias, coverage80, coverage95",
        ),
        ({"name": "r", "kind": "forecast_drift", "op": ">"}, "rule 'r': op does not apply to a forecast_drift rule"),
        ({"name": "r", "kind": "forecast_drift", "threshold": 0}, "rule 'r': threshold=0 is not a PSI above 0"),
        (
            {"name": "r", "kind": "forecast_error", "threshold": 20, "clear": 10},
            "rule 'r': clear does not apply to a forecast_error rule",
        ),
        (
            {"name": "r", "metric": "m", "op": "<", "threshold": 1, "measure": "mape"},
            "rule 'r': measure applies to forecast_error rules only",
        ),
    ],
)
def test_bad_rule_is_refused_naming_rule_and_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rule(spec)
    assert str(info.value).startswith(message), str(info.value)


def test_forecast_rules_get_their_defaults_and_round_trip() -> None:
    drift = parse_rule({"name": "fc-drift", "kind": "forecast_drift", "threshold": 0.25})
    assert (drift.kind, drift.threshold, drift.op, drift.group_by) == (RuleKind.FORECAST_DRIFT, 0.25, "", ("series",))
    assert drift.describe() == "forecast input drift: PSI >= 0.25"
    assert parse_rule(drift.as_dict()) == drift
    default = parse_rule({"name": "fc-drift", "kind": "forecast_drift"})
    assert default.describe() == "forecast input drift: PSI >= forecast.psi_drift"
    assert parse_rule(default.as_dict()) == default
    mape = parse_rule({"name": "fc-mape", "kind": "forecast_error", "threshold": 20, "metric": "kwh"})
    assert (mape.measure, mape.op, mape.describe()) == ("mape", ">", "live forecast mape > 20 % on kwh")
    assert parse_rule(mape.as_dict()) == mape
    coverage = parse_rule({"name": "fc-cov", "kind": "forecast_error", "measure": "coverage80", "threshold": 0.6})
    assert (coverage.op, coverage.describe()) == ("<", "live forecast coverage80 < 0.6")
