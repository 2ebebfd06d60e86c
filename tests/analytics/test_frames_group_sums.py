"""group_sums: every path (rows in order, runs, dense counting, sorting) gives each group's sum
added one value after another in input order, so the bits do not depend on the path taken."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from gridpulse.analytics.frames import group_sums


def _sequential(keys: list[np.ndarray], values: np.ndarray) -> dict[tuple[int, ...], tuple[float, int]]:
    """Each key tuple's sum, one Python float addition after another in input order, and its count."""
    sums: dict[tuple[int, ...], float] = defaultdict(float)
    counts: dict[tuple[int, ...], int] = defaultdict(int)
    for i, v in enumerate(values.tolist()):
        k = tuple(int(key[i]) for key in keys)
        sums[k] += v
        counts[k] += 1
    return {k: (sums[k], counts[k]) for k in sums}


def _check(keys: list[np.ndarray], values: np.ndarray) -> None:
    got_keys, (sums,), counts = group_sums(keys, [values])
    want = _sequential(keys, values)
    tuples = list(zip(*(k.tolist() for k in got_keys), strict=True))
    assert tuples == sorted(want)  # distinct, in key order
    assert sums.tolist() == [want[t][0] for t in tuples]  # the same bits, not just close
    assert counts.tolist() == [want[t][1] for t in tuples]
    assert all(k.dtype == np.int64 for k in got_keys) and sums.dtype == np.float64


@pytest.mark.parametrize("seed", range(3))
def test_every_path_sums_in_input_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3_000
    values = rng.random(n) * 10.0 ** rng.integers(-3, 4, n)  # magnitudes apart: order shows in the bits
    series = rng.integers(1, 20, n)
    slot = rng.integers(0, 24, n)
    # dense: 19 series x 24 slots, unsorted, 10-40 values a group (where pairwise sums differ)
    _check([series, slot], values)
    # sorted, groups in runs
    order = np.lexsort((slot, series))
    _check([series[order], slot[order]], values)
    # sorted, each row its own group
    ts = np.arange(n) * 900
    _check([np.zeros(n, np.int64), ts], values)
    # too wide to count densely: sorted first
    wide = rng.integers(0, 10**9, n) * 1_000_000
    _check([wide % 7, wide], values)
    _check([series, wide], values)
    # too wide for one combined key
    _check([rng.integers(0, 2**40, n), rng.integers(0, 2**40, n) // 2**20 * 2**20], values)


def test_a_series_gives_the_same_bits_alone_or_among_many() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    series = rng.integers(0, 2_000, n)
    slot = rng.integers(0, 96, n)
    values = rng.random(n) * 10.0 ** rng.integers(-3, 4, n)
    (s_all, slot_all), (sums_all,), _ = group_sums([series, slot], [values])  # sorted path (wide)
    alone = series == 5
    (_, slot_one), (sums_one,), _ = group_sums([series[alone], slot[alone]], [values[alone]])  # dense
    assert sums_one.tolist() == sums_all[s_all == 5].tolist()
    assert slot_one.tolist() == slot_all[s_all == 5].tolist()


def test_empty_and_integer_columns() -> None:
    keys, sums, counts = group_sums([np.zeros(0, np.int64)], [np.zeros(0, np.int64)])
    assert [len(k) for k in keys] == [0] and len(sums[0]) == 0 and len(counts) == 0
    (k,), (s,), c = group_sums([np.array([3, 1, 3])], [np.array([1, 2, 4])])
    assert k.tolist() == [1, 3] and s.tolist() == [2.0, 5.0] and c.tolist() == [1, 2]
