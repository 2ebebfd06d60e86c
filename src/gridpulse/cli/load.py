"""`gridpulse load`: files, folders, public datasets and reference tables into the store.

When a server holds the data folder, each file is sent to it (POST /api/v1/files, or
/api/v1/reference/<kind>) and the server loads it with the same code; otherwise the store file
is opened here, with a writer of its own, as `gridpulse demo` does.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from gridpulse.cli.context import client_for, make_settings, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN, config_option
from gridpulse.config import Settings
from gridpulse.errors import ConfigError, GridpulseError
from gridpulse.ingest.files import LoadItem, load_item, plan_paths
from gridpulse.ingest.mapping import Mapping, parse_pairs
from gridpulse.ingest.rejects import RejectsWriter, default_rejects_path
from gridpulse.ingest.report import LoadProgress, LoadReport
from gridpulse.ingest.writer import Writer
from gridpulse.loaders import (
    DATASET_NAMES,
    KEYED_MAPPING,
    load_named_dataset,
    read_dataset,
    write_keyed_parquet,
)
from gridpulse.store import open_store, store_options
from gridpulse.store.base import REFERENCE_KINDS, Store

if TYPE_CHECKING:
    import httpx

__all__ = ["load", "mapping_from_flags"]

console = Console()

_UPLOAD_CHUNK = 1 << 20


def mapping_from_flags(mapping_file: Path | None, flags: dict[str, Any], units: list[str] | None) -> Mapping:
    """The mapping file (if any) with the flags given on top; `--unit kWh` or `--unit kwh=kWh`.

    Raises:
        ConfigError: the file is unreadable, or a key or flag value is malformed (names it).
    """
    base = Mapping.from_toml(mapping_file) if mapping_file is not None else Mapping()
    given = dict(flags)
    per_metric = dict(base.units)
    for item in units or []:
        if "=" in item:
            per_metric.update(parse_pairs([item], name="--unit"))
        else:
            given["unit"] = item
    if per_metric:
        given["units"] = per_metric
    return base.merged(given)


# ------------------------------------------------------------------------------------ output
def _fmt(n: int) -> str:
    return f"{n:,}"


def _summary(reports: list[LoadReport]) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col in ("file", "rows", "points", "inserted", "revised", "unchanged", "rejected", "s"):
        if col == "file":
            table.add_column(col, overflow="fold")
        else:
            table.add_column(col, justify="right", no_wrap=True)
    for r in reports:
        ref = r.kind.startswith("reference:")
        name = escape(r.path) + (
            f" ({r.kind.split(':', 1)[1]})" if ref or r.kind.startswith("dataset:") else ""
        )
        if r.error is not None:
            name = f"[red]{name} (failed)[/red]"
        table.add_row(
            name,
            _fmt(r.rows),
            "-" if ref else _fmt(r.points),
            _fmt(r.upserted) if ref else _fmt(r.inserted),
            "-" if ref else _fmt(r.revised),
            "-" if ref else _fmt(r.unchanged),
            _fmt(r.rejected),
            f"{r.seconds:.1f}",
        )
    if len(reports) > 1:
        t = LoadReport.total(reports)
        table.add_row(
            f"[bold]total ({t.files} files)[/bold]",
            _fmt(t.rows),
            _fmt(t.points),
            _fmt(t.inserted + t.upserted),
            _fmt(t.revised),
            _fmt(t.unchanged),
            _fmt(t.rejected),
            f"{t.seconds:.1f}",
        )
    console.print(table)
    if any(r.kind.startswith("reference:") for r in reports):
        console.print("reference files (their table in parentheses): inserted = rows upserted")
    total = LoadReport.total(reports)
    if total.seconds > 0 and total.rows:
        console.print(f"{_fmt(total.rows)} rows in {total.seconds:.1f} s ({total.rows_per_s:,.0f} rows/s)")
    for r in reports:
        if r.rejects_path:
            console.print(f"rejected rows of {r.path}: {r.rejects_path}", soft_wrap=True, markup=False)
    failed = [r for r in reports if r.failed]
    for r in failed if len(failed) > 1 else []:
        console.print(
            f"[red]{escape(r.path)}:[/red] {escape(r.error or 'every row was rejected')}", soft_wrap=True
        )
    if failed:
        raise GridpulseError(
            f"{len(failed)} of {len(reports)} files failed entirely: {failed[0].path}: "
            f"{failed[0].error or 'every row was rejected'}"
        )


@contextlib.contextmanager
def _progress(total_bytes: int) -> Iterator[Callable[[str, int, int, int], None]]:
    """A Rich bar over all the files' bytes, with the rows read and rows/s; yields update(name, done, rows, base)."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows, {task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task("loading", total=max(total_bytes, 1), rows="0", rate="-")

        def update(name: str, done_bytes: int, rows: int, base_rows: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            all_rows = base_rows + rows
            bar.update(
                task,
                description=Path(name).name,
                completed=done_bytes,
                rows=_fmt(all_rows),
                rate=_fmt(int(all_rows / elapsed)) if elapsed > 0 else "-",
            )

        yield update


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ------------------------------------------------------------------------------------ local
@contextlib.contextmanager
def _local_store(settings: Settings) -> Iterator[tuple[Store, Writer]]:
    store = open_store(settings.store_url, store_options(settings))
    writer = Writer(store).start()
    try:
        yield store, writer
    finally:
        writer.stop()
        store.close()


def _load_local(settings: Settings, items: list[LoadItem], rejects: Path | None) -> list[LoadReport]:
    sizes = {item.path: _size(item.path) for item in items}
    shared = RejectsWriter(rejects) if rejects is not None else None
    base = {"bytes": 0, "rows": 0}
    reports = []
    try:
        with _local_store(settings) as (store, writer), _progress(sum(sizes.values())) as update:

            def on_progress(p: LoadProgress) -> None:
                update(p.name, base["bytes"] + p.bytes_done, p.rows, base["rows"])

            for item in items:
                report = load_item(
                    writer,
                    store,
                    item,
                    rejects=shared,
                    progress=on_progress,
                    batch_rows=settings.ingest.batch_rows,
                    tmp_dir=settings.data_dir / "tmp",
                )
                reports.append(report)
                base["bytes"] += sizes[item.path]
                base["rows"] += report.rows
    finally:
        if shared is not None:
            shared.close()
    return reports


# ------------------------------------------------------------------------------------ server
def _file_chunks(path: Path, sent: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_UPLOAD_CHUNK):
            sent(len(chunk))
            yield chunk


def _send(
    client: httpx.Client,
    url: str,
    path: Path,
    params: dict[str, Any],
    sent: Callable[[int], None],
) -> httpx.Response:
    import httpx

    return client.post(
        url,
        params={**params, "include_rejects": "true"},
        content=_file_chunks(path, sent),
        headers={"Content-Type": "application/octet-stream"},
        timeout=httpx.Timeout(30.0, read=None),
    )


def _post_file(
    client: httpx.Client,
    url: str,
    path: Path,
    params: dict[str, Any],
    sent: Callable[[int], None],
) -> dict[str, Any]:
    resp = _send(client, url, path, params, sent)
    raise_for_api(resp)
    body: dict[str, Any] = resp.json()
    return body


def _write_rejects(body: dict[str, Any], path: Path, shared: RejectsWriter | None) -> str | None:
    """The rejected rows the server listed, written to the local rejects file; its path, or None."""
    listed = body.get("rejects") or []
    if not listed:
        return None
    writer = shared or RejectsWriter(default_rejects_path(path))
    try:
        for r in listed:
            writer.add(
                str(path), int(r.get("line") or 0), r.get("column"), str(r.get("reason")), r.get("row")
            )
    finally:
        if shared is None:
            writer.close()
    if body.get("rejects_truncated"):
        console.print(
            f"[yellow]{path}: the server listed {len(listed)} of {body.get('rejected')} rejected rows[/]"
        )
    return str(writer.path)


def _load_via_server(client: httpx.Client, items: list[LoadItem], rejects: Path | None) -> list[LoadReport]:
    sizes = {item.path: _size(item.path) for item in items}
    shared = RejectsWriter(rejects) if rejects is not None else None
    reports: list[LoadReport] = []
    done = {"bytes": 0, "rows": 0}
    try:
        with _progress(sum(sizes.values())) as update:
            for item in items:

                def sent(n: int, name: str = str(item.path)) -> None:
                    done["bytes"] += n
                    update(name, done["bytes"], 0, done["rows"])

                if item.reference is not None:
                    url = f"/api/v1/reference/{item.reference}"
                    params: dict[str, Any] = {"filename": item.path.name, **_ref_params(item.mapping)}
                    kind = f"reference:{item.reference}"
                else:
                    url = "/api/v1/files"
                    params = {
                        "filename": item.path.name,
                        "mapping": orjson.dumps(item.mapping.to_dict()).decode(),
                    }
                    kind = "points"
                resp = _send(client, url, item.path, params, sent)
                done["bytes"] = sum(sizes[i.path] for i in items[: items.index(item) + 1])
                try:
                    raise_for_api(resp)
                except GridpulseError as exc:
                    reports.append(_failed(resp, item.path, kind, exc, shared))
                    continue
                body = resp.json()
                rejects_path = _write_rejects(body, item.path, shared)
                report = LoadReport.from_dict(body | {"path": str(item.path), "rejects_path": rejects_path})
                done["rows"] += report.rows
                update(str(item.path), done["bytes"], 0, done["rows"])
                reports.append(report)
    finally:
        if shared is not None:
            shared.close()
    return reports


def _failed(
    resp: httpx.Response, path: Path, kind: str, exc: GridpulseError, shared: RejectsWriter | None
) -> LoadReport:
    """The report of a file the server refused; rows it listed as the cause go to the rejects file."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return LoadReport(path=str(path), kind=kind, error=str(exc))
    listed = [{"line": e.get("line"), "column": e.get("field"), "reason": e.get("reason")} for e in errors]
    rejects_path = _write_rejects({"rejects": listed}, path, shared)
    return LoadReport(
        path=str(path),
        kind=kind,
        rejected=int(body.get("error_count") or len(errors)),
        rejects_path=rejects_path,
        error=str(body.get("error") or exc),
    )


def _ref_params(mapping: Mapping) -> dict[str, str]:
    return {
        k: v
        for k, v in {"format": mapping.format, "delimiter": mapping.delimiter, "tz": mapping.tz}.items()
        if v
    }


# ------------------------------------------------------------------------------------ datasets
def _dataset(settings: Settings, client: httpx.Client | None, name: str, folder: Path) -> LoadReport:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"reading {name} with its reader", total=None)
        if client is None:
            with _local_store(settings) as (store, writer):
                bar.update(task, description=f"loading {name}")
                return load_named_dataset(writer, store, name, folder)
        ds = read_dataset(name, folder)
        upserted = 0
        for kind, rows in ds.reference.items():
            if rows:
                resp = client.post(
                    f"/api/v1/reference/{kind}",
                    params={"filename": f"{kind}.json"},
                    content=orjson.dumps(rows, default=str),
                )
                raise_for_api(resp)
                upserted += int(resp.json()["upserted"])
        bar.update(task, description=f"sending {name} to the server")
        with tempfile.TemporaryDirectory(prefix="gridpulse-load-") as tmp:
            path = Path(tmp) / f"{name}.parquet"
            write_keyed_parquet(ds, path)
            body = _post_file(
                client,
                "/api/v1/files",
                path,
                {"filename": path.name, "mapping": orjson.dumps(KEYED_MAPPING.to_dict()).decode()},
                lambda _: None,
            )
    return LoadReport.from_dict(
        body | {"path": str(folder), "kind": f"dataset:{name}", "rows": ds.source_rows, "upserted": upserted}
    )


# ------------------------------------------------------------------------------------ command
_CONFIG = config_option()


def load(
    paths: list[Path] = typer.Argument(
        ...,
        help="Files or folders (read recursively, sorted; a folder with assets/ and telemetry/ "
        "is the battery layout).",
        show_default=False,
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="csv, parquet, json or ndjson (default: the extension)."
    ),
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="CSV separator (default: detected; \\t: tab)."
    ),
    mapping_file: Path | None = typer.Option(None, "--mapping", help="TOML mapping file; flags override it."),
    time_column: str | None = typer.Option(
        None, "--time-column", help="Timestamp column (default: detected)."
    ),
    time_format: str | None = typer.Option(
        None, "--time-format", help="strptime format, e.g. '%d/%m/%Y %H:%M' (default: ISO 8601)."
    ),
    time_label: str | None = typer.Option(
        None, "--time-label", help="start (default) or end: the stamp ends its interval (needs --interval)."
    ),
    tz: str | None = typer.Option(None, "--tz", help="IANA zone of timestamps without an offset."),
    entity_column: str | None = typer.Option(None, "--entity-column", help="Entity id column."),
    entity: str | None = typer.Option(
        None, "--entity", help="One entity id for the file ({stem}: file name)."
    ),
    entity_kind: str | None = typer.Option(None, "--entity-kind", help="meter, plant, device, channel..."),
    metric_column: str | None = typer.Option(None, "--metric-column", help="Narrow: metric name column."),
    value_column: str | None = typer.Option(None, "--value-column", help="Narrow: value column."),
    metric: str | None = typer.Option(None, "--metric", help="Narrow: the metric of every value."),
    value_columns: str | None = typer.Option(
        None, "--value-columns", help="Wide: columns to load, e.g. kwh,kvarh or col=metric."
    ),
    wide: bool = typer.Option(False, "--wide", help="Wide: every column but time and entity."),
    exclude_columns: str | None = typer.Option(None, "--exclude-columns", help="Wide: columns to skip."),
    unit: list[str] | None = typer.Option(
        None, "--unit", help="kWh (all series) or metric=unit; repeatable."
    ),
    interval: str | None = typer.Option(None, "--interval", help="Nominal interval: 15min, 1h, PT30M..."),
    tags: list[str] | None = typer.Option(None, "--tags", help="k=v labels for new series; repeatable."),
    rejects: Path | None = typer.Option(
        None,
        "--rejects",
        help="One rejects file (.csv or .ndjson); default <file>.rejects.ndjson beside each.",
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help=f"Read PATH with a public dataset's reader: {', '.join(DATASET_NAMES)}."
    ),
    reference: str | None = typer.Option(
        None, "--reference", help=f"Upsert the files into a reference table: {', '.join(REFERENCE_KINDS)}."
    ),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Load CSV, Parquet, JSON or NDJSON files (gzipped too), a public dataset, or reference rows."""
    settings = make_settings(config, data_dir)
    if dataset is not None and reference is not None:
        raise ConfigError("--dataset and --reference do not go together")
    if reference is not None and reference not in REFERENCE_KINDS:
        raise ConfigError(f"--reference {reference!r} is not one of {', '.join(REFERENCE_KINDS)}")
    flags: dict[str, Any] = {
        "format": fmt,
        "delimiter": delimiter,
        "time_column": time_column,
        "time_format": time_format,
        "time_label": time_label,
        "tz": tz,
        "entity_column": entity_column,
        "entity": entity,
        "entity_kind": entity_kind,
        "metric_column": metric_column,
        "value_column": value_column,
        "metric": metric,
        "value_columns": value_columns,
        "wide": wide or None,
        "exclude_columns": exclude_columns,
        "interval": interval,
        "tags": dict(parse_pairs(tags, name="--tags")) if tags else None,
    }
    mapping = mapping_from_flags(mapping_file, flags, unit)
    client = client_for(settings, token)
    try:
        if dataset is not None:
            if len(paths) != 1:
                raise ConfigError("--dataset reads one folder: gridpulse load --dataset NAME PATH")
            reports = [_dataset(settings, client, dataset, paths[0])]
        else:
            items = plan_paths(paths, mapping, reference=reference)
            if not items:
                raise ConfigError(
                    f"no files to load in {', '.join(str(p) for p in paths)} (known extensions: "
                    ".csv .tsv .parquet .json .ndjson .jsonl, optionally .gz)"
                )
            if client is not None:
                reports = _load_via_server(client, items, rejects)
            else:
                reports = _load_local(settings, items, rejects)
    finally:
        if client is not None:
            client.close()
    _summary(reports)
