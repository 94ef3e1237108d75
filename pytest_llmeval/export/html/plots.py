"""Figures of the HTML report, drawn with matplotlib's Agg canvas and returned as
``data:image/png;base64,...`` URIs (the report stays one self-contained file).

matplotlib is imported inside the functions: importing this module is free. No pyplot: each
figure is a standalone ``Figure`` on its own Agg canvas (no global state, no GUI backend).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.stats import finite

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CANDIDATE = "#2563eb"
BASELINE = "#9ca3af"
PASS = "#16a34a"
FAIL = "#dc2626"
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777")
DPI = 100


def available() -> bool:
    """Whether matplotlib can be imported (the ``report`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _points(
    metrics: Mapping[str, Mapping[str, Any]], names: Sequence[str]
) -> list[tuple[str, float, float | None, float | None]]:
    out = []
    for name in names:
        m = metrics.get(name) or {}
        value = finite(m.get("value"))
        if value is not None:
            out.append((name, value, finite(m.get("lo")), finite(m.get("hi"))))
    return out


def _errorbars(
    ax: Any,
    rows: Sequence[tuple[str, float, float | None, float | None]],
    offset: float,
    color: str,
    label: str,
    positions: Mapping[str, int],
) -> None:
    ys = [positions[name] + offset for name, *_ in rows]
    xs = [value for _, value, _, _ in rows]
    lower = [value - lo if lo is not None else 0.0 for _, value, lo, _ in rows]
    upper = [hi - value if hi is not None else 0.0 for _, value, _, hi in rows]
    ax.errorbar(
        xs,
        ys,
        xerr=[[max(v, 0.0) for v in lower], [max(v, 0.0) for v in upper]],
        fmt="o",
        color=color,
        ecolor=color,
        elinewidth=2.2,
        capsize=4,
        markersize=6,
        label=label,
    )


def interval_plot(
    title: str,
    metrics: Mapping[str, Mapping[str, Any]],
    names: Sequence[str],
    baseline: Mapping[str, Mapping[str, Any]] | None = None,
    xlim: tuple[float, float] | None = (0.0, 1.0),
    labels: Mapping[str, str] | None = None,
    thresholds: Mapping[str, tuple[str, float]] | None = None,
) -> str | None:
    """Point values with their 95% intervals, one row per name (metrics or slices), the
    baseline's beside them in grey; threshold marks as short vertical ticks. None when there
    is nothing to draw."""
    rows = _points(metrics, names)
    if not rows:
        return None
    order = [name for name, *_ in rows]
    positions = {name: i for i, name in enumerate(reversed(order))}
    fig = _figure(8.0, 0.8 + 0.4 * len(order))
    ax = fig.add_subplot()
    _style(ax)
    base_rows = [r for r in _points(baseline or {}, order)] if baseline else []
    if base_rows:
        _errorbars(ax, base_rows, -0.18, BASELINE, "baseline", positions)
    _errorbars(ax, rows, 0.18 if base_rows else 0.0, CANDIDATE, "this run", positions)
    for name, (_op, value) in (thresholds or {}).items():
        if name in positions:
            y = positions[name]
            ax.plot([value, value], [y - 0.38, y + 0.38], color=FAIL, linewidth=1.4, alpha=0.8)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([(labels or {}).get(n, n) for n in reversed(order)])
    ax.set_ylim(-0.6, len(order) - 0.4)
    if xlim is not None:
        ax.set_xlim(xlim[0] - 0.02 * (xlim[1] - xlim[0]), xlim[1] + 0.02 * (xlim[1] - xlim[0]))
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    handles, texts = ax.get_legend_handles_labels()
    if thresholds and any(n in positions for n in thresholds):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color=FAIL, linewidth=1.4))
        texts.append("threshold")
    if len(handles) > 1:
        fig.legend(handles, texts, fontsize=8, loc="outside upper right", ncol=3, frameon=False)
    return to_data_uri(fig)


def latency_histogram(by_task: Mapping[str, Sequence[float]]) -> str | None:
    """Per-sample latency (ms) per task: step histograms on shared bins (log-spaced when the
    range is wide), with each task's p50 and p95 marked."""
    series = {task: [v for v in values if v > 0] for task, values in by_task.items()}
    series = {task: values for task, values in series.items() if values}
    if not series:
        return None
    import numpy as np

    everything = np.concatenate([np.asarray(v, dtype=float) for v in series.values()])
    lo, hi = float(everything.min()), float(everything.max())
    log = hi / lo > 20
    if hi <= lo:
        hi = lo * 1.1 + 1.0
    bins = (np.geomspace(lo, hi, 30) if log else np.linspace(lo, hi, 30)).tolist()
    fig = _figure(8.0, 3.0)
    ax = fig.add_subplot()
    _style(ax)
    for i, (task, values) in enumerate(sorted(series.items())):
        color = PALETTE[i % len(PALETTE)]
        ax.hist(values, bins=bins, histtype="stepfilled", alpha=0.25, color=color)
        ax.hist(values, bins=bins, histtype="step", linewidth=1.6, color=color, label=task)
        p50, p95 = np.percentile(values, [50, 95])
        ax.axvline(float(p50), color=color, linestyle="--", linewidth=1.0)
        ax.axvline(float(p95), color=color, linestyle=":", linewidth=1.2)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("latency per sample (ms); dashed: p50, dotted: p95", fontsize=9)
    ax.set_ylabel("samples", fontsize=9)
    fig.legend(fontsize=8, loc="outside upper right", ncol=4, frameon=False)
    return to_data_uri(fig)
