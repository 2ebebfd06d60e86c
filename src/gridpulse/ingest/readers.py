"""Files -> streams of raw column batches with the line of every row: CSV, Parquet, JSON, NDJSON.

Each format is read in batches, so memory is bounded by the batch, not the file: CSV with
pyarrow's streaming reader, Parquet batch by batch, JSON arrays and NDJSON with the splitters of
the HTTP routes. Any of them may be gzipped (`.gz`). Columns come back as read (CSV: all text);
`gridpulse.ingest.columns` checks and converts them.

CSV line numbers are exact: the bytes pyarrow reads are scanned (vectorised) for record ends,
so blank lines and quoted values spanning lines are counted as a text editor counts them.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gridpulse.errors import ConfigError, IngestError, RowError
from gridpulse.ingest.csvlines import CsvLines, ScanningReader
from gridpulse.ingest.flatjson import read_flat_block
from gridpulse.ingest.parse import load_records
from gridpulse.ingest.split import JsonArraySplitter, NdjsonSplitter, RawBatch
from gridpulse.model import SeriesKey, SeriesMeta

__all__ = [
    "EXTENSIONS",
    "SERIES_META_KEY",
    "FileSource",
    "RawChunk",
    "decode_series_meta",
    "detect_format",
    "encode_series_meta",
    "open_source",
]

#: File name ending -> format, for folders and for files given without --format.
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
#: Parquet schema metadata key holding the series metadata of a file written by gridpulse.
SERIES_META_KEY = b"gridpulse.series"
_DELIMITERS = (",", ";", "\t", "|")
_READ_BYTES = 1 << 20
I64 = npt.NDArray[np.int64]


@dataclass
class RawChunk:
    """One batch of rows as read from a file.

    Attributes:
        table: the columns as read (CSV: text; Parquet: its types; JSON: inferred per batch).
        lines: 1-based line of each row (CSV, JSON, NDJSON) or row number (Parquet).
        present: JSON only: for each column, which rows have the key at all.
        records: JSON only: the raw text of each row, for the rejects file.
        unreadable: rows that could not be read at all: (line, reason, raw text).
        position: bytes of the file (as stored, compressed or not) read so far.
    """

    table: pa.Table
    lines: I64
    present: dict[str, npt.NDArray[np.bool_]] | None = None
    records: list[bytes] | None = None
    unreadable: list[tuple[int, str, str]] = field(default_factory=list)
    position: int = 0


def detect_format(path: Path | str, given: str | None) -> tuple[str, bool]:
    """(format, gzipped) of a file from `given` or its name (`x.csv.gz` -> ("csv", True)).

    Raises:
        ConfigError: the name says nothing known and no format was given.
    """
    name = Path(path).name.lower()
    gz = name.endswith(".gz")
    stem = name[:-3] if gz else name
    if given is not None:
        return given, gz
    for ext, fmt in EXTENSIONS.items():
        if stem.endswith(ext):
            return fmt, gz
    raise ConfigError(
        f"cannot tell the format of {path} from its name: pass --format csv, parquet, json or ndjson"
    )


def encode_series_meta(meta: dict[SeriesKey, SeriesMeta]) -> bytes:
    """Series metadata as JSON, for SERIES_META_KEY in a Parquet file's schema metadata."""
    return orjson.dumps(
        [
            {
                "entity_kind": k.entity_kind,
                "entity_id": k.entity_id,
                "metric": k.metric,
                "unit": m.unit,
                "interval_s": m.interval.total_seconds() if m.interval else None,
                "tz": m.tz,
                "tags": m.tags,
                "organisation_id": m.organisation_id,
                "site_id": m.site_id,
                "device_id": m.device_id,
                "channel_id": m.channel_id,
            }
            for k, m in meta.items()
        ]
    )


def decode_series_meta(raw: bytes | None) -> dict[SeriesKey, SeriesMeta]:
    """The inverse of encode_series_meta; {} for None or anything malformed (metadata is optional)."""
    if not raw:
        return {}
    try:
        items = orjson.loads(raw)
        return {
            SeriesKey(str(d["entity_kind"]), str(d["entity_id"]), str(d["metric"])): SeriesMeta(
                unit=str(d.get("unit") or ""),
                interval=timedelta(seconds=float(d["interval_s"])) if d.get("interval_s") else None,
                tz=str(d.get("tz") or "UTC"),
                tags={str(k): str(v) for k, v in (d.get("tags") or {}).items()},
                organisation_id=d.get("organisation_id"),
                site_id=d.get("site_id"),
                device_id=d.get("device_id"),
                channel_id=d.get("channel_id"),
            )
            for d in items
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return {}


def _sniff_delimiter(header: str) -> str:
    """The candidate delimiter found most often outside quotes in the header line (`,` if none)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class FileSource:
    """One file opened for reading: its format, size, and its rows as a stream of RawChunks.

    Use as a context manager; `chunks()` may be iterated once.
    """

    def __init__(
        self,
        path: Path,
        *,
        format: str | None = None,
        delimiter: str | None = None,
        batch_rows: int = 65_536,
        tmp_dir: Path | None = None,
    ) -> None:
        self.path = path
        self.format, self.gzipped = detect_format(path, format)
        self.delimiter = delimiter
        self.batch_rows = batch_rows
        self.tmp_dir = tmp_dir
        try:
            self.size = path.stat().st_size
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.series_meta: dict[SeriesKey, SeriesMeta] = {}
        self._stack = contextlib.ExitStack()
        self._raw: IO[bytes] | None = None

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def position(self) -> int:
        """Bytes of the stored file read so far (compressed bytes for .gz)."""
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return self.size

    def open_bytes(self) -> IO[bytes]:
        """The file's (decompressed) bytes; self._raw is the file itself, for progress."""
        try:
            raw = self._stack.enter_context(self.path.open("rb"))
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        self._raw = raw
        if self.gzipped:
            inflated = gzip.GzipFile(fileobj=raw, mode="rb")
            self._stack.callback(inflated.close)
            return cast(IO[bytes], inflated)
        return raw

    def chunks(self) -> Iterator[RawChunk]:
        """The rows of the file, batch by batch.

        Raises:
            IngestError: the file is not readable as its format (names the line where known).
            ConfigError: the file cannot be opened.
        """
        try:
            if self.format == "csv":
                yield from self._csv()
            elif self.format == "parquet":
                yield from self._parquet()
            else:
                yield from self._json()
        except (gzip.BadGzipFile, EOFError, OSError, pa.ArrowInvalid) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno is not None:
                raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            raise IngestError(
                [RowError(0, 0, None, f"{self.path.name} is not a readable {self.format} file: {exc}")]
            ) from None

    def header(self) -> list[str] | None:
        """The column names of a CSV or Parquet file (read before any row); None for JSON.

        Raises:
            IngestError: a CSV file without a header line, or a file that is not Parquet.
            ConfigError: a header that names a column twice.
        """
        try:
            if self.format == "csv":
                return self._csv_header()[0]
            if self.format == "parquet" and not self.gzipped:
                return list(pq.read_schema(self.path).names)
        except (OSError, pa.ArrowInvalid, EOFError) as exc:
            raise IngestError(
                [RowError(0, 0, None, f"{self.path.name} is not a readable {self.format} file: {exc}")]
            ) from None
        return None

    # ------------------------------------------------------------------ CSV
    def _csv_header(self) -> tuple[list[str], str]:
        opener = gzip.open if self.gzipped else open
        with opener(self.path, "rb") as fh:
            head = fh.read(1 << 16)
        text = head.decode("utf-8-sig", errors="replace")
        first = text.split("\n", 1)[0].rstrip("\r")
        if not first.strip():
            raise IngestError([RowError(1, 0, None, f"{self.path.name} has no header line")])
        delimiter = self.delimiter or (
            "\t" if self.path.name.lower().removesuffix(".gz").endswith(".tsv") else _sniff_delimiter(first)
        )
        names = [n.strip() for n in next(csv.reader([first], delimiter=delimiter))]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ConfigError(f"{self.path.name}: the header names column {name!r} twice")
            seen.add(name)
        return names, delimiter

    def _csv(self) -> Iterator[RawChunk]:
        names, delimiter = self._csv_header()
        self.delimiter = delimiter
        lines = CsvLines()
        unreadable: list[tuple[int, str, str]] = []

        def invalid_row(row: Any) -> str:
            if row.number is not None:
                lines.invalid(int(row.number))
            line = lines.line_of(int(row.number)) if row.number is not None else 0
            unreadable.append(
                (line, f"expected {row.expected_columns} fields, got {row.actual_columns}", row.text)
            )
            return "skip"

        stream = ScanningReader(self.open_bytes(), lines)
        reader = pacsv.open_csv(
            pa.PythonFile(stream, mode="r"),
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=1,
                use_threads=False,
                block_size=max(self.batch_rows * 64, 1 << 16),
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            table = pa.Table.from_batches([batch])
            chunk = RawChunk(
                table, lines.take(table.num_rows), unreadable=unreadable[:], position=self.position()
            )
            unreadable.clear()
            yield chunk
        if unreadable:
            yield RawChunk(
                pa.table({n: pa.array([], pa.string()) for n in names}),
                np.empty(0, np.int64),
                unreadable=unreadable[:],
                position=self.position(),
            )

    # ------------------------------------------------------------------ Parquet
    def _parquet(self) -> Iterator[RawChunk]:
        path = self.path
        if self.gzipped:
            # Parquet needs to seek: inflate to a temporary file, never into memory
            fd, name = tempfile.mkstemp(suffix=".parquet", dir=self.tmp_dir)
            os.close(fd)
            path = Path(name)
            self._stack.callback(path.unlink, missing_ok=True)
            with gzip.open(self.path, "rb") as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        # text columns come dictionary-encoded (as Parquet usually stores them): ids repeat over
        # millions of rows, and the store keys them by dictionary code without hashing strings
        with pq.ParquetFile(path) as probe:
            text = [
                f.name
                for f in probe.schema_arrow
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            ]
        pf = self._stack.enter_context(pq.ParquetFile(path, read_dictionary=text))
        meta = pf.schema_arrow.metadata or {}
        self.series_meta = decode_series_meta(meta.get(SERIES_META_KEY))
        total = max(pf.metadata.num_rows, 1)
        row = 0
        for batch in pf.iter_batches(batch_size=self.batch_rows):
            table = pa.Table.from_batches([batch])
            n = table.num_rows
            yield RawChunk(
                table,
                np.arange(row + 1, row + n + 1, dtype=np.int64),
                position=self.size * (row + n) // total,
            )
            row += n

    # ------------------------------------------------------------------ JSON and NDJSON
    def _json(self) -> Iterator[RawChunk]:
        src = self.open_bytes()
        first = b""
        while not first.strip():
            piece = src.read(_READ_BYTES)
            if not piece:
                break
            first += piece
        first = first.removeprefix(b"\xef\xbb\xbf")
        if not first.strip():
            return  # an empty file holds no rows
        splitter: NdjsonSplitter | JsonArraySplitter
        # a .json file holding one object per line is NDJSON, whatever its name says
        if self.format == "json" and first.lstrip()[:1] == b"[":
            splitter = JsonArraySplitter(self.batch_rows)
        else:
            splitter = NdjsonSplitter(self.batch_rows, blocks=True)
        piece = first
        while piece:
            for raw in splitter.feed(piece):
                yield _raw_json_chunk(raw, self.position())
            piece = src.read(_READ_BYTES)
        for raw in splitter.close():
            yield _raw_json_chunk(raw, self.position())


def _raw_json_chunk(raw: RawBatch, position: int) -> RawChunk:
    """One batch of JSON records, or a block of NDJSON lines (read column by column when its
    records are flat and alike, split into records otherwise)."""
    if raw.block is None:
        return _json_chunk(raw.records, raw.lines, position)
    flat = _flat_json_chunk(raw.block, raw.lines, position)
    return flat if flat is not None else _json_chunk(raw.block.split(b"\n"), raw.lines, position)


def _flat_json_chunk(block: bytes, lines: Sequence[int], position: int) -> RawChunk | None:
    """A block of NDJSON records with the first one's keys, in its order, and flat string or number
    values (gridpulse.ingest.flatjson), with the columns and types _json_chunk gives the same
    records; None when any line is otherwise."""
    end = block.find(b"\n")
    try:
        first = orjson.loads(block if end < 0 else block[:end])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(first, dict) or not first:
        return None
    fields: list[tuple[str, pa.DataType]] = []
    for key, value in first.items():
        if isinstance(value, str):
            fields.append((key, pa.string()))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields.append((key, pa.int64()))  # int64 when every value is an integer, as Arrow infers
        else:
            return None  # null, boolean, nested: the records path
    cols = read_flat_block(block, len(lines), fields)
    if cols is None:
        return None
    n = len(lines)
    table = pa.table(
        {k: v.dictionary_decode() if isinstance(v, pa.DictionaryArray) else v for k, v in cols.items()}
    )
    return RawChunk(
        table,
        np.asarray(lines, dtype=np.int64),
        present={k: np.ones(n, dtype=bool) for k in cols},
        records=block.split(b"\n"),
        position=position,
    )


def _json_chunk(records: Sequence[bytes], lines: Sequence[int], position: int) -> RawChunk:
    """Parse one batch of JSON records into columns (the union of their keys, first seen first)."""
    docs = load_records(records)
    unreadable: list[tuple[int, str, str]] = []
    keep_docs: list[dict[str, Any]] = []
    keep_lines: list[int] = []
    keep_records: list[bytes] = []
    for doc, line, rec in zip(docs, lines, records, strict=True):
        if isinstance(doc, dict):
            keep_docs.append(doc)
            keep_lines.append(line)
            keep_records.append(rec)
        else:
            reason = str(doc) if isinstance(doc, ValueError) else "row is not a JSON object"
            unreadable.append((line, reason, rec.decode("utf-8", errors="replace")))
    names: dict[str, None] = {}
    for doc in keep_docs:
        for key in doc:
            if key not in names:
                names[key] = None
    columns: dict[str, pa.Array] = {}
    present: dict[str, npt.NDArray[np.bool_]] = {}
    for name in names:
        values = [d.get(name) for d in keep_docs]
        present[name] = np.fromiter((name in d for d in keep_docs), bool, len(keep_docs))
        columns[name] = _json_column(values)
    # a batch of empty objects still has its rows: keep a placeholder column until they are counted
    table = pa.table(columns) if columns else pa.table({"_": pa.nulls(len(keep_docs))}).drop_columns(["_"])
    return RawChunk(
        table,
        np.asarray(keep_lines, dtype=np.int64),
        present=present,
        records=keep_records,
        unreadable=unreadable,
        position=position,
    )


def _json_column(values: list[Any]) -> pa.Array:
    """Values of one key as an Arrow array; mixed types become text, so numbers in quotes still parse."""
    try:
        arr = pa.array(values, from_pandas=True)
        if not (pa.types.is_struct(arr.type) or pa.types.is_list(arr.type)):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    return pa.array(
        [None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode() for v in values],
        pa.string(),
    )


def open_source(
    path: Path,
    *,
    format: str | None = None,
    delimiter: str | None = None,
    batch_rows: int = 65_536,
    tmp_dir: Path | None = None,
) -> FileSource:
    """A FileSource on `path` (see FileSource). Raises ConfigError for an unknown format or a missing file."""
    return FileSource(path, format=format, delimiter=delimiter, batch_rows=batch_rows, tmp_dir=tmp_dir)
