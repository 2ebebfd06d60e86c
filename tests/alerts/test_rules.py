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
    ],
)
def test_bad_rule_is_refused_naming_rule_and_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rule(spec)
    assert str(info.value).startswith(message), str(info.value)
