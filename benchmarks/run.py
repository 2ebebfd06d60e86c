"""Run every benchmark and write benchmarks/results/. Usage: python benchmarks/run.py [--rows N]."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest_http


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per ingest body")
    ap.add_argument("--repeats", type=int, default=3, help="runs per engine; the median is reported")
    args = ap.parse_args()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    ingest_http.run(rows=args.rows, repeats=args.repeats, out_dir=out)


if __name__ == "__main__":
    main()
