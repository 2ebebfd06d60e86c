"""The metric names the deploy files are written against are the ones gridpulse.metrics defines."""

from __future__ import annotations

from gridpulse.metrics import REGISTRY
from tests.deploy.promql import CONTRACT_SERIES

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def test_gridpulse_exposes_every_series_of_the_contract() -> None:
    exposed = {
        f"{family.name}{suffix}" for family in REGISTRY.collect() for suffix in SUFFIXES.get(family.type, ())
    }
    assert sorted(CONTRACT_SERIES - exposed) == []
