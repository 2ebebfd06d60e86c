"""A PNG of forecasts against actuals, for backtests (matplotlib, no screen needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gridpulse.forecast.backtest import BacktestResult

__all__ = ["plot_backtest"]


def plot_backtest(result: BacktestResult, path: Path, *, unit: str = "", max_series: int = 6) -> Path:
    """Actuals and each origin's forecast with its 80 % and 95 % bands, one panel per series.

    Raises:
        GridpulseError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from gridpulse.errors import GridpulseError

        raise GridpulseError("plots need matplotlib: pip install 'gridpulse[forecast]'") from None
    names = list(dict.fromkeys(h.name for _, h, _ in result.forecasts))[:max_series]
    fig, axes = plt.subplots(len(names), 1, figsize=(12, 2.8 * len(names)), squeeze=False)
    step_us = result.step_s * 1_000_000
    for ax, name in zip(axes[:, 0], names, strict=True):
        runs = [(h, fc) for _, h, fc in result.forecasts if h.name == name]
        h = runs[0][0]
        lo = min(fc.origin_us for _, fc in runs) - 7 * 86_400_000_000
        hi = max(fc.origin_us for _, fc in runs) + result.steps * step_us
        ts = h.grid_us()
        keep = (ts >= lo) & (ts < hi)
        ax.plot(ts[keep].astype("datetime64[us]"), h.values[keep], color="black", lw=0.8, label="actual")
        for i, (_, fc) in enumerate(runs):
            t = fc.ts_us().astype("datetime64[us]")
            ax.fill_between(t, fc.lo95, fc.hi95, color="tab:blue", alpha=0.15, lw=0, label="95 %" if i == 0 else None)
            ax.fill_between(t, fc.lo80, fc.hi80, color="tab:blue", alpha=0.3, lw=0, label="80 %" if i == 0 else None)
            ax.plot(t, fc.mean, color="tab:blue", lw=1, label=result.model if i == 0 else None)
        row = next((r for r in result.per_series if r["name"] == name), {})
        mase = row.get("mase", float("nan"))
        ax.set_title(f"{name}: {result.model}, MASE {mase:.2f}" if not np.isnan(mase) else name, fontsize=9)
        ax.set_ylabel(unit)
        ax.set_xlabel("time (UTC)")
        ax.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
