"""`gridpulse load --dataset NAME PATH`: the public datasets through their own readers.

The readers in `gridpulse.datasets` know each dataset's quirks (hour-ending labels, repeated or
missing DST hours, end-of-period stamps, unit scaling) that generic column flags cannot express.
This module runs one and writes the result like any load, returning the same LoadReport; or,
when a server holds the store, writes it to a Parquet file (series metadata in its schema) that
the server loads through POST /api/v1/files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gridpulse.dataset import Dataset
from gridpulse.datasets import LOADERS
from gridpulse.errors import ConfigError
from gridpulse.ingest.mapping import Mapping
from gridpulse.ingest.readers import SERIES_META_KEY, encode_series_meta
from gridpulse.ingest.report import LoadReport
from gridpulse.ingest.writer import Writer
from gridpulse.model import KEYED_BATCH_SCHEMA, WriteResult
from gridpulse.store.base import Store, WriteRequest

__all__ = ["DATASET_NAMES", "KEYED_MAPPING", "load_named_dataset", "read_dataset", "write_keyed_parquet"]

#: Names `--dataset` accepts, in the order the README lists them.
DATASET_NAMES = tuple(LOADERS)

#: The mapping of a file written by write_keyed_parquet (one point per row, keyed like the store).
KEYED_MAPPING = Mapping(
    format="parquet",
    time_column="ts",
    entity_kind_column="entity_kind",
    entity_column="entity_id",
    metric_column="metric",
    value_column="value",
    quality_column="quality",
)


def read_dataset(name: str, folder: Path) -> Dataset:
    """The Dataset of one public dataset folder, read by its reader.

    Raises:
        ConfigError: unknown name (lists the known ones), or a malformed folder (see the reader).
        IngestError: a bad value in a file (names file and line).
    """
    reader = LOADERS.get(name)
    if reader is None:
        raise ConfigError(f"unknown dataset {name!r}; one of {', '.join(DATASET_NAMES)}")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give the {name} folder, e.g. ../shared/datasets/{name}")
    return reader(folder)


def load_named_dataset(writer: Writer, store: Store, name: str, folder: Path) -> LoadReport:
    """Read a public dataset with its reader and write it: reference rows, then its points.

    Returns:
        LoadReport whose `rows` are the data rows of the source files (compare with the README)
        and `points` the points written.
    """
    started = time.monotonic()
    ds = read_dataset(name, folder)
    upserted = sum(store.upsert_reference(kind, rows) for kind, rows in ds.reference.items() if rows)
    batches = list(ds.batches)
    result: WriteResult = writer.write_sync(WriteRequest(batches=batches, meta_for=ds.meta_for))
    return LoadReport(
        path=str(folder),
        kind=f"dataset:{name}",
        rows=ds.source_rows,
        points=sum(b.num_rows for b in batches),
        nulls=sum(b.column("value").null_count for b in batches),
        inserted=result.inserted,
        revised=result.revised,
        unchanged=result.unchanged,
        series_created=result.series_created,
        upserted=upserted,
        seconds=time.monotonic() - started,
    )


def write_keyed_parquet(ds: Dataset, path: Path) -> dict[str, Any]:
    """Write a Dataset's points to Parquet, batch by batch, with its series metadata in the schema.

    The file loads with KEYED_MAPPING (what POST /api/v1/files does when a server holds the store).

    Returns:
        {"points": points written, "nulls": NULL values among them}.
    """
    schema = KEYED_BATCH_SCHEMA.with_metadata({SERIES_META_KEY: encode_series_meta(ds.meta)})
    points = nulls = 0
    with pq.ParquetWriter(path, schema) as out:
        for batch in ds.batches:
            out.write_table(batch.replace_schema_metadata(schema.metadata))
            points += batch.num_rows
            nulls += batch.column("value").null_count
    return {"points": points, "nulls": nulls}
