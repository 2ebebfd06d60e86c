"""Load the synthetic demo fleet, and the public datasets when present, once per store.

Everything goes through the writer like any client's data. A marker in the store's meta table
makes a restart skip what was loaded before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gridpulse.config import Settings
from gridpulse.dataset import Dataset
from gridpulse.ingest.writer import Writer
from gridpulse.model import WriteResult
from gridpulse.store.base import Store, WriteRequest

__all__ = ["load_dataset", "load_demo_once"]

log = logging.getLogger(__name__)


def load_dataset(store: Store, writer: Writer, ds: Dataset) -> WriteResult:
    """Write one dataset: reference rows first, then its points in one commit."""
    for kind, rows in ds.reference.items():
        if rows:
            store.upsert_reference(kind, rows)
    return writer.write_sync(WriteRequest(batches=ds.batches, meta_for=ds.meta_for))


def load_demo_once(
    store: Store, writer: Writer, settings: Settings, report: Callable[[str], None] = lambda _: None
) -> None:
    """Load the demo fleet and each available public dataset unless already loaded."""
    # imported here: a server without --demo never pays for the generators and readers
    from gridpulse.datasets import available, load_all
    from gridpulse.demo import generate_fleet

    if store.get_meta("demo:fleet") is None:
        report("loading the synthetic demo fleet")
        ds = generate_fleet(end=datetime.now(UTC), days=settings.demo.days)
        res = load_dataset(store, writer, ds)
        store.set_meta("demo:fleet", datetime.now(UTC).isoformat())
        log.info("demo fleet loaded: %s", res.as_dict())
    root = Path(settings.demo.datasets_dir)
    if available(root):
        for ds in load_all(root):
            key = f"demo:dataset:{ds.name}"
            if store.get_meta(key) is not None:
                continue
            report(f"loading public dataset {ds.name}")
            res = load_dataset(store, writer, ds)
            store.set_meta(key, datetime.now(UTC).isoformat())
            log.info("dataset %s loaded: %s", ds.name, res.as_dict())
    else:
        log.info("no public datasets at %s; the synthetic fleet is the demo", root)
    report("loaded")
