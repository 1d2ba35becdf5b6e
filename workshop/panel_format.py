"""Grafana's ways of showing values, for the inline panels: legends, units, value mappings, thresholds,
colours, and the de-accumulated buckets of a heatmap. Pure functions of the dashboard JSON and query results."""
import math
import re

import numpy as np
import pandas as pd
from matplotlib.colors import is_color_like
from matplotlib.ticker import Formatter, MaxNLocator

GRAFANA_COLORS = {"green": "tab:green", "red": "tab:red", "blue": "tab:blue", "purple": "tab:purple",
                  "orange": "tab:orange", "yellow": "gold", "dark-orange": "darkorange", "text": "black"}
CLASS_COLORS = {"non_fraud": "#1f77b4", "fraud": "#d62728"}  # every lesson: legitimate blue, fraud red


def class_color(name: str) -> str | None:
    """Red for a series about frauds, blue for legitimate predictions, None (the default cycle) otherwise."""
    return next((colour for key, colour in CLASS_COLORS.items() if key in name), None)


def label_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ("timestamp", "value")]


def legend(fmt: str | None, labels: dict, expr: str = "") -> str:
    """Grafana's legendFormat: `{{name}}` becomes the label's value; without a format, the series' labels."""
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: str(labels.get(m.group(1), "")), fmt)
    shown = {k: v for k, v in labels.items() if k != "__name__" and isinstance(v, str)}
    if not shown:
        return labels.get("__name__") or expr
    return labels.get("__name__", "") + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def format_value(value: float, unit: str | None = None, decimals: int | None = None) -> str:
    """A number as Grafana would print it for the common units (s, percentunit, percent, "suffix: X")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "percentunit":
        return f"{value * 100:.{2 if decimals is None else decimals}f} %"
    if unit == "percent":
        return f"{value:.{2 if decimals is None else decimals}f} %"
    if unit == "s":
        if value == 0:
            return "0 s"
        scale, name = duration_unit(value)
        return _number(value / scale, decimals) + " " + name
    suffix = unit.removeprefix("suffix:").strip() if unit and unit.startswith("suffix:") else ""
    return _number(value, decimals) + (f" {suffix}" if suffix else "")


DURATION_UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"), (1e-3, "ms"), (1e-6, "µs"))


def duration_unit(seconds: float) -> tuple[float, str]:
    """(seconds per unit, name) of the largest unit `seconds` is at least one of (µs below a millisecond)."""
    return next(((scale, name) for scale, name in DURATION_UNITS if abs(seconds) >= scale), DURATION_UNITS[-1])


class AxisFormatter(Formatter):
    """Tick labels in a panel's unit. Zero reads "0"; a duration axis uses ONE unit throughout, the one that suits
    the top of the axis (0, 2 s, 4 s ... or 0, 0.5 h, 1 h ...), never a mix of µs, ms and s."""

    def __init__(self, unit: str | None):
        self.unit = unit

    def __call__(self, value: float, pos=None) -> str:
        if value == 0:
            return "0"
        if self.unit != "s":
            return format_value(value, self.unit)
        scale, name = duration_unit(_axis_top(self.axis, value))
        return f"{_number(value / scale, None)} {name}"


class DurationLocator(MaxNLocator):
    """Round ticks in the unit AxisFormatter will print (0, 15, 30, 45 min rather than 0, 1000, 2000 s)."""

    def __init__(self):
        super().__init__(nbins=6, steps=[1, 2, 2.5, 5, 10])

    def tick_values(self, vmin, vmax):
        scale, _ = duration_unit(max(abs(vmin), abs(vmax)))
        return super().tick_values(vmin / scale, vmax / scale) * scale


def axis_ticks(axis, unit: str | None) -> None:
    """Grafana-like ticks on a matplotlib axis (ax.yaxis / ax.xaxis) for a panel's unit."""
    axis.set_major_formatter(AxisFormatter(unit))
    if unit == "s":
        axis.set_major_locator(DurationLocator())


def _axis_top(axis, fallback: float) -> float:
    if axis is None:
        return abs(fallback)
    top = max(abs(v) for v in axis.get_view_interval())
    return top if np.isfinite(top) and top > 0 else abs(fallback)


def _number(value: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.3g}" if abs(value) < 1e3 else f"{value:,.0f}"  # 1,000 rather than .3g's "1e+03"


def color(name: str | None, default: str = "black") -> str:
    name = GRAFANA_COLORS.get(name, name)
    return name if name and is_color_like(name) else default


def mapped(value: float, mappings: list[dict]) -> dict | None:
    """The {text, color} of the first value mapping that matches `value` (Grafana "value" mappings)."""
    for mapping in mappings or []:
        if mapping.get("type") == "value":
            for key, result in mapping.get("options", {}).items():
                try:
                    if float(key) == value:
                        return result
                except ValueError:
                    continue
    return None


def threshold_color(value: float, thresholds: dict | None) -> str | None:
    """Colour of the highest threshold step at or below `value` (the base step has value null)."""
    steps = (thresholds or {}).get("steps", [])
    chosen = None
    for step in steps:
        if step.get("value") is None or (not math.isnan(value) and value >= step["value"]):
            chosen = step.get("color")
    return chosen


def cell_label(unit: str | None) -> str:
    """Colour-bar label of a heatmap: what one cell's value is, in its cellValues unit ("suffix: req/s" -> req/s)."""
    name = unit.removeprefix("suffix:").strip() if unit and unit.startswith("suffix:") else ""
    return f"{name} in the bucket" if name else "value in the bucket"


def bucket_counts(df: pd.DataFrame) -> tuple[np.ndarray, list, np.ndarray]:
    """Cumulative `le` buckets over time -> (upper bounds, timestamps, per-bucket counts [bucket, time])."""
    wide = df.pivot_table(index="le", columns="timestamp", values="value", aggfunc="sum", dropna=False)
    wide.index = wide.index.astype(float)  # "+Inf" parses as inf
    wide = wide.sort_index()
    cumulative = wide.to_numpy(dtype=float)
    counts = np.diff(cumulative, axis=0, prepend=0.0)
    counts = np.clip(counts, 0, None)  # a counter reset inside the window must not show as negative
    return wide.index.to_numpy(), list(wide.columns), counts


def alerts_frame(alerts: list[dict]) -> pd.DataFrame:
    rows = [{"state": a["state"], "alertname": a["labels"].get("alertname", ""),
             "severity": a["labels"].get("severity", ""), "since": a.get("activeAt", "")[:19].replace("T", " "),
             "summary": a.get("annotations", {}).get("summary", "")} for a in alerts]
    return pd.DataFrame(rows, columns=["state", "alertname", "severity", "since", "summary"])
