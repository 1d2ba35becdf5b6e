"""Drawing one Grafana panel into a matplotlib axis, by panel type (see workshop.panels for the dashboard)."""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from workshop.panel_format import (
    alerts_frame,
    axis_ticks,
    bucket_counts,
    cell_label,
    class_color,
    color,
    format_value,
    label_columns,
    legend,
    mapped,
    threshold_color,
)

NO_DATA, OK = "no data", "ok"


@dataclass
class PanelData:
    """What one panel shows: (target, result) per visible query, or the alerts of an alert list."""

    series: list[tuple[dict, pd.DataFrame]] = field(default_factory=list)
    alerts: pd.DataFrame | None = None
    error: str | None = None
    time_range: tuple[float, float] | None = None  # (start, end) unix seconds of a dashboard's shared x axis


def _defaults(panel: dict) -> dict:
    return panel.get("fieldConfig", {}).get("defaults", {})


def _message(ax, text: str, colour: str = "grey") -> None:
    ax.text(0.5, 0.5, textwrap.fill(text, 60), ha="center", va="center", color=colour, transform=ax.transAxes,
            fontsize=9)


def _finite(df: pd.DataFrame) -> pd.DataFrame:
    return df[np.isfinite(df["value"].to_numpy(dtype=float))] if not df.empty else df


def draw_timeseries(ax, panel: dict, data: PanelData) -> str:
    unit, drawn = _defaults(panel).get("unit"), 0
    for target, df in data.series:
        labels = label_columns(df)
        groups = df.groupby(labels, dropna=False) if labels else [((), df)]
        for key, series in groups:
            if _finite(series).empty:
                continue
            names = dict(zip(labels, key if isinstance(key, tuple) else (key,), strict=True))
            series = series.sort_values("timestamp")
            name = legend(target.get("legendFormat"), names, target["expr"])
            ax.plot(series["timestamp"].dt.tz_convert(None), series["value"], lw=1.8, label=name,
                    color=class_color(name))
            drawn += 1
    if not drawn:
        return NO_DATA
    if data.time_range:  # one time range for all panels, as in Grafana (before the legend looks for room)
        ax.set_xlim(*(datetime.fromtimestamp(t, UTC).replace(tzinfo=None) for t in data.time_range))
    if "min" in _defaults(panel):  # Grafana's axis minimum, with headroom above a flat line
        low = _defaults(panel)["min"]
        high = np.nanmax([np.nanmax(np.asarray(line.get_ydata(), dtype=float)) for line in ax.lines])
        ax.set_ylim(low, low + 1.15 * (high - low) if high > low else None)
    axis_ticks(ax.yaxis, unit)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    _legend(ax)
    return OK


def _legend(ax, most: int = 8) -> None:
    """A legend that stays readable: with many series, only the `most` highest at the end are named."""
    lines = ax.lines
    if len(lines) > most:
        last = [np.asarray(line.get_ydata(), dtype=float) for line in lines]
        last = [values[np.isfinite(values)][-1] if np.isfinite(values).any() else -np.inf for values in last]
        top = sorted(range(len(lines)), key=lambda i: last[i], reverse=True)[:most]
        for i, line in enumerate(ax.lines):  # named lines get distinct colours, the rest fade to grey
            line.set(color=plt.cm.tab10(top.index(i)) if i in top else "lightgrey", lw=1.8 if i in top else 1,
                     zorder=3 if i in top else 2)
        lines = [lines[i] for i in top]
        ax.text(0.99, 0.98, f"legend: top {most} of {len(ax.lines)} now", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="grey")
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="upper left")
    keep_legend_clear(ax)


def hides_data(ax, legend) -> bool:
    """Whether any point of a line is drawn under the legend box."""
    box = legend.get_window_extent(ax.figure.canvas.get_renderer()).padded(4)
    for line in ax.lines:
        xy = ax.transData.transform(line.get_xydata())
        inside = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
        if inside.any():
            return True
    return False


def keep_legend_clear(ax) -> None:
    """Move the legend to the free upper corner; if neither is free, raise the y axis so the lines pass under it.

    Call it once the axis limits are final."""
    legend = ax.get_legend()
    if legend is None:
        return
    for loc in ("upper left",) if ax.texts else ("upper left", "upper right"):  # a note sits upper right
        legend.set_loc(loc)
        if not hides_data(ax, legend):
            return
    legend.set_loc("upper left")
    low, top = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if low <= t <= top]
    box = legend.get_window_extent(ax.figure.canvas.get_renderer()).transformed(ax.transAxes.inverted())
    room = max(box.y0 - 0.04, 0.3)  # the share of the axis height left under the legend
    high = max(np.nanmax(np.asarray(line.get_ydata(), dtype=float)) for line in ax.lines)
    ax.set_ylim(low, low + ((high if high > low else top) - low) / room)
    ax.set_yticks(ticks)  # no tick labels in the headroom (no "120 %" precision)


def draw_stat(ax, panel: dict, data: PanelData) -> str:
    defaults, options = _defaults(panel), panel.get("options", {})
    mode = options.get("textMode", "auto")
    items = []
    for target, df in data.series:
        for _, row in df.iterrows():
            value = float(row["value"])
            names = {k: row[k] for k in label_columns(df)}
            hit = mapped(value, defaults.get("mappings")) or {}
            text = hit.get("text") or format_value(value, defaults.get("unit"), defaults.get("decimals"))
            colour = hit.get("color") or (defaults.get("color", {}).get("fixedColor")
                                          if defaults.get("color", {}).get("mode") == "fixed"
                                          else threshold_color(value, defaults.get("thresholds")))
            items.append((legend(target.get("legendFormat"), names, target["expr"]), text, color(colour),
                          math.isfinite(value)))
    ax.set_xticks([])
    ax.set_yticks([])
    if not items:
        return NO_DATA
    background = options.get("colorMode") == "background"
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)  # the coloured background fills the panel exactly
    for i, (name, text, colour, _) in enumerate(items):
        y = 1 - (i + 0.5) / len(items)
        shown = {"name": name, "value": text}.get(mode, f"{name}\n{text}" if mode == "value_and_name" else text)
        if background:
            ax.axhspan(y - 0.5 / len(items), y + 0.5 / len(items), color=colour, alpha=0.85)
        ax.text(0.5, y, shown, ha="center", va="center", transform=ax.transAxes, fontweight="bold",
                fontsize=max(9, 20 - 3 * len(items) - max(0, len(shown) - 14) // 3),
                color="white" if background else colour)
    return OK if any(finite for *_, finite in items) else NO_DATA


def draw_piechart(ax, panel: dict, data: PanelData) -> str:
    unit = _defaults(panel).get("unit")
    names, values = [], []
    for target, df in data.series:
        for _, row in _finite(df).iterrows():
            names.append(legend(target.get("legendFormat"), {k: row[k] for k in label_columns(df)}))
            values.append(max(float(row["value"]), 0.0))
    if not values or sum(values) <= 0:
        return NO_DATA
    colours = [class_color(n) or f"C{i}" for i, n in enumerate(names)]
    wedges, *_ = ax.pie(values, autopct=lambda p: f"{p:.1f} %" if p >= 0.05 else "", startangle=90,
                        counterclock=False, textprops={"fontsize": 8}, colors=colours)
    ax.legend(wedges, [f"{n}: {format_value(v, unit)}" for n, v in zip(names, values, strict=True)],
              fontsize=7, loc="center left", bbox_to_anchor=(0.95, 0.5))
    ax.set_aspect("equal")
    return OK


def draw_heatmap(ax, panel: dict, data: PanelData) -> str:
    frames = [df for _, df in data.series if not df.empty and "le" in df]
    if not frames:
        return NO_DATA
    bounds, times, counts = bucket_counts(pd.concat(frames))
    if not np.isfinite(counts).any():
        return NO_DATA
    start, end = (mdates.date2num(t.tz_convert(None)) for t in (times[0], times[-1]))
    image = ax.imshow(np.nan_to_num(counts), aspect="auto", origin="lower", interpolation="nearest",
                      cmap=panel.get("options", {}).get("color", {}).get("scheme", "Oranges"),
                      extent=[start, end if end > start else start + 1e-5, -0.5, len(bounds) - 0.5])
    unit = panel.get("options", {}).get("yAxis", {}).get("unit")
    ticks = range(0, len(bounds), max(1, len(bounds) // 8))
    ax.set_yticks(list(ticks), [("+Inf" if np.isinf(bounds[i]) else format_value(bounds[i], unit)) for i in ticks])
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.tick_params(labelsize=7)
    ax.set_ylabel("latency ≤ (bucket)", fontsize=7)
    scale = plt.colorbar(image, ax=ax, pad=0.01)
    scale.ax.tick_params(labelsize=6)
    scale.set_label(cell_label(panel.get("options", {}).get("cellValues", {}).get("unit")), fontsize=7)
    return OK


def draw_alertlist(ax, panel: dict, data: PanelData) -> str:
    ax.axis("off")
    wanted = {state for state, on in panel.get("options", {}).get("stateFilter", {"firing": True}).items() if on}
    alerts = data.alerts if data.alerts is not None else alerts_frame([])
    alerts = alerts[alerts["state"].isin(wanted)].head(panel.get("options", {}).get("maxItems", 20))
    if alerts.empty:
        _message(ax, "No " + " or ".join(sorted(wanted & {"firing", "pending"})) + " alerts", "tab:green")
        return OK
    # one row per alert name and state (instances counted), sized to the panel so rows never overlap
    alerts = alerts.groupby(["state", "alertname", "severity"], as_index=False, sort=False).agg(
        since=("since", "min"), instances=("since", "size"))
    alerts["alertname"] += alerts["instances"].map(lambda n: f" (×{n})" if n > 1 else "")
    table = ax.table(cellText=alerts[["state", "alertname", "severity", "since"]].to_numpy().tolist(),
                     colLabels=["state", "alert", "severity", "since (UTC)"], cellLoc="left",
                     colWidths=[0.12, 0.4, 0.16, 0.32], bbox=[0, 0, 1, 1])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (row, _), cell in table.get_celld().items():
        if row > 0:
            cell.set_text_props(color="tab:red" if alerts.iloc[row - 1]["state"] == "firing" else "darkorange")
    return OK


def draw_table(ax, panel: dict, data: PanelData) -> str:
    ax.axis("off")
    rows = [[legend(t.get("legendFormat"), {k: r[k] for k in label_columns(df)}, t["expr"]),
             format_value(float(r["value"]), _defaults(panel).get("unit"))]
            for t, df in data.series for _, r in df.iterrows()]
    if not rows:
        return NO_DATA
    ax.table(cellText=rows[:20], colLabels=["series", "value"], loc="upper center", cellLoc="left")
    return OK


def draw_text(ax, panel: dict, data: PanelData) -> str:
    ax.axis("off")
    ax.text(0, 1, textwrap.fill(panel.get("options", {}).get("content", ""), 90), va="top", fontsize=8,
            transform=ax.transAxes)
    return OK


def draw_bargauge(ax, panel: dict, data: PanelData) -> str:
    """Horizontal bars, one per series, coloured by the panel's thresholds (Grafana's bar gauge)."""
    defaults = _defaults(panel)
    bars = [(legend(target.get("legendFormat"), {k: row[k] for k in label_columns(df)}, target["expr"]),
             float(row["value"])) for target, df in data.series for _, row in _finite(df).iterrows()]
    if not bars:
        ax.set_xticks([])
        ax.set_yticks([])
        return NO_DATA
    names, values = zip(*bars, strict=True)
    colours = [color(threshold_color(v, defaults.get("thresholds")), "tab:blue") for v in values]
    positions = np.arange(len(bars))[::-1]  # the first series on top, as in Grafana
    ax.barh(positions, values, color=colours, height=0.7)
    ax.set_yticks(positions, names, fontsize=7)
    if "max" in defaults:
        ax.set_xlim(defaults.get("min", 0), max(defaults["max"], max(values)))
    for y, v in zip(positions, values, strict=True):
        ax.text(v, y, " " + format_value(v, defaults.get("unit"), defaults.get("decimals")), va="center",
                fontsize=7)
    axis_ticks(ax.xaxis, defaults.get("unit"))
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    return OK


DRAWERS = {"timeseries": draw_timeseries, "stat": draw_stat, "gauge": draw_stat, "bargauge": draw_bargauge,
           "piechart": draw_piechart, "heatmap": draw_heatmap, "alertlist": draw_alertlist,
           "table": draw_table, "text": draw_text}


def draw_panel(ax, panel: dict, data: PanelData) -> str:
    """Draw one panel into `ax`; return "ok", "no data" or "error: ..." (shown in the panel as Grafana does)."""
    ax.set_title(panel.get("title", ""), fontsize=10, loc="left", fontweight="bold")
    if data.error:
        ax.set_xticks([])
        ax.set_yticks([])
        _message(ax, data.error, "tab:red")
        return f"error: {data.error.splitlines()[0]}"
    drawer = DRAWERS.get(panel["type"])
    if drawer is None:
        ax.axis("off")
        _message(ax, f"panel type {panel['type']!r} is not drawn inline (open Grafana)")
        return f"not drawn: {panel['type']}"
    status = drawer(ax, panel, data)
    if status == NO_DATA:
        _message(ax, "No data")
    return status
