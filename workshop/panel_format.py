"""Grafana's ways of showing values, for the inline panels: legends, units, value mappings, thresholds,
colours, and the de-accumulated buckets of a heatmap. Pure functions of the dashboard JSON and query results."""
import math
import re

import numpy as np
import pandas as pd
from matplotlib.colors import is_color_like

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
        for scale, name in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale or name == "µs":
                return _number(value / scale, decimals) + " " + name
    suffix = unit.removeprefix("suffix:").strip() if unit and unit.startswith("suffix:") else ""
    return _number(value, decimals) + (f" {suffix}" if suffix else "")


def _number(value: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"


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
