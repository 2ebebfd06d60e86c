"""Small numpy helpers every layer may use (the store sorts with them, so does analytics)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["lexsort_order"]


def lexsort_order(keys: Sequence[npt.NDArray[np.integer[Any]]]) -> npt.NDArray[np.int64]:
    """The stable order sorting rows by integer key tuples, the most significant key first:
    np.lexsort's order, three times faster when the keys fit one int64 together (then one
    radix argsort of the combined key does it: 720,000 rows, 15 ms where lexsort took 45 ms).
    """
    if not keys or len(keys[0]) == 0:
        return np.arange(len(keys[0]) if keys else 0, dtype=np.int64)
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - lo + 1 for k, lo in zip(keys, lows, strict=True)]
    if math.prod(spans) < 2**62:
        combined = np.zeros(len(keys[0]), np.int64)
        for k, lo, span in zip(keys, lows, spans, strict=True):
            combined = combined * span + (k.astype(np.int64) - lo)
        if bool(np.all(combined[1:] >= combined[:-1])):  # in order already, as store reads mostly are
            return np.arange(len(combined), dtype=np.int64)
        return np.argsort(combined, kind="stable").astype(np.int64)
    return np.lexsort(tuple(reversed(keys))).astype(np.int64)
