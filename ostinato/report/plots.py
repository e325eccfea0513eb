"""PNG charts of the report's aggregates (matplotlib, Agg backend: no display needed).

Each function draws one figure from an already-aggregated table and writes it to ``path``; none of them
touches the shards.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless machines and Ray workers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ostinato.report.aggregates import Histogram  # noqa: E402

_DPI = 100
_COLOR = "#3b6ea8"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def bar_chart(labels: list[str], values: list[float], path: Path, *, title: str, xlabel: str = "",
              horizontal: bool = False) -> Path:
    """One bar per label, in the order given (horizontal bars read the first label at the top)."""
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.3 * len(labels)) if horizontal else 3.5))
    if horizontal:
        ax.barh(range(len(labels))[::-1], values, color=_COLOR)
        ax.set_yticks(range(len(labels))[::-1], labels)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.bar(range(len(labels)), values, color=_COLOR)
        ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0, ha="right")
        ax.set_ylabel(xlabel)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return _save(fig, path)


def key_mode_chart(counts: pd.DataFrame, path: Path, *, pitch_order: tuple[str, ...]) -> Path:
    """Grouped bars: tracks per tonic (in ``pitch_order``, unknown spellings after), one bar per mode."""
    keys = [k for k in pitch_order if k in set(counts["key"])]
    keys += sorted(set(counts["key"]) - set(keys))
    modes = sorted(counts["mode"].dropna().unique())
    table = counts.pivot_table(index="key", columns="mode", values="n", aggfunc="sum", fill_value=0)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        ax.bar(np.arange(len(keys)) + i * width, table.reindex(keys)[mode].fillna(0), width=width, label=mode)
    ax.set_xticks(np.arange(len(keys)) + width * (len(modes) - 1) / 2, keys)
    ax.set_ylabel("tracks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Key and mode")
    ax.legend()
    return _save(fig, path)


def histogram_chart(hist: Histogram, path: Path, *, title: str, xlabel: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.stairs(hist.counts, hist.edges, fill=True, color=_COLOR)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tracks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return _save(fig, path)


def transition_heatmap(matrix: pd.DataFrame, path: Path) -> Path:
    """Row-normalised transition probabilities (each row: where that chord goes next), counts annotated."""
    counts = matrix.to_numpy(dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    probs = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.5 * len(matrix) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(probs, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), matrix.index)
    ax.set_xlabel("next chord")
    ax.set_ylabel("chord")
    ax.set_title("Chord transitions (Roman numerals), P(next | chord)")
    if len(matrix) <= 16:
        for (i, j), p in np.ndenumerate(probs):
            if counts[i, j]:
                ax.text(j, i, f"{p:.2f}", ha="center", va="center", fontsize=7, color="white" if p > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def stage_chart(timings: pd.DataFrame, path: Path) -> Path:
    """Mean and 95th-percentile seconds per track for each stage."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(timings))
    ax.bar(x - 0.2, timings["mean_s"], width=0.4, label="mean", color=_COLOR)
    ax.bar(x + 0.2, timings["p95_s"], width=0.4, label="95th percentile", color="#d08c3b")
    ax.set_xticks(x, timings["stage"])
    ax.set_ylabel("seconds per track")
    ax.set_title("Stage timings")
    ax.legend()
    return _save(fig, path)
