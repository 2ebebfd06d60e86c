"""lexsort_order: np.lexsort's stable order, by one radix sort of a combined key when it fits."""

from __future__ import annotations

import numpy as np
import pytest

from gridpulse.arrays import lexsort_order


@pytest.mark.parametrize("seed", range(5))
def test_the_order_is_np_lexsorts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5_000
    keys = [
        rng.integers(-3, 4, n),
        rng.integers(0, 50, n),
        rng.integers(1_700_000_000_000_000, 1_700_000_000_000_900, n),
    ]
    want = np.lexsort(tuple(reversed(keys)))
    assert np.array_equal(lexsort_order(keys), want)  # ties keep their input order, as lexsort's
    huge = [rng.integers(0, 2**40, n), rng.integers(0, 2**40, n)]  # too wide for one int64 key
    assert np.array_equal(lexsort_order(huge), np.lexsort(tuple(reversed(huge))))


def test_sorted_input_and_empty_input() -> None:
    sid = np.repeat(np.arange(3), 4)
    ts = np.tile(np.arange(4), 3)
    assert np.array_equal(lexsort_order([sid, ts]), np.arange(12))
    assert len(lexsort_order([np.zeros(0, np.int64)])) == 0
    assert len(lexsort_order([])) == 0
