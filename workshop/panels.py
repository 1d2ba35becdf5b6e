"""Draw a provisioned Grafana dashboard inline with matplotlib, from the dashboard JSON's own PromQL.

Without Docker there is no Grafana, so the notebooks draw the same panels themselves::

    fig, report = draw_dashboard(stack.prometheus_url)            # the overview dashboard, last 15 minutes
    fig, report = draw_dashboard(url, path, since=timedelta(minutes=2))

Panels keep their Grafana position (gridPos on a 24-column grid) and type: timeseries -> lines,
stat/gauge/bargauge -> big numbers (value mappings, thresholds, units), piechart -> pie, heatmap -> image of
the per-bucket increases (Grafana's "heatmap" format de-accumulates `le` buckets the same way), alertlist ->
table of the firing/pending alerts Prometheus reports (/api/v1/alerts), table -> table, text -> text.
`report` says, per panel, "ok", "no data" or the error, so a notebook (or a test) can check every panel.
"""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from workshop import promql
from workshop.panel_drawers import OK, PanelData, draw_panel
from workshop.panel_format import alerts_frame
from workshop.promql import OVERVIEW_DASHBOARD

GRID_COLUMNS = 24
UNIT_HEIGHT_IN = 0.34  # one Grafana grid row is 30 px
RANGE_TYPES = {"timeseries", "heatmap"}  # drawn over time; the others show the latest value


def panel_rect(grid: dict, total_rows: int, fig_w: float, fig_h: float, pad_left: float = 0.15):
    """[left, bottom, width, height] in figure fractions for a gridPos, leaving room for title and ticks."""
    left = grid["x"] / GRID_COLUMNS + pad_left / fig_w
    right = (grid["x"] + grid["w"]) / GRID_COLUMNS - 0.15 / fig_w
    top = 1 - grid["y"] / total_rows - 0.42 / fig_h
    bottom = 1 - (grid["y"] + grid["h"]) / total_rows + 0.38 / fig_h
    return [left, bottom, max(right - left, 0.01), max(top - bottom, 0.01)]


# ---------------------------------------------------------------- fetching

def fetch_panel(prom_url: str, panel: dict, start: float, end: float, step: float) -> PanelData:
    """Run the panel's queries (range for time-based panels, instant for the others) or read its alerts."""
    data = PanelData(time_range=(start, end) if panel["type"] in RANGE_TYPES else None)
    try:
        if panel["type"] == "alertlist":
            data.alerts = alerts_frame(promql.api_get(prom_url, "alerts")["alerts"])
        for target in panel.get("targets", []):
            if not target.get("expr") or target.get("hide"):
                continue
            if panel["type"] in RANGE_TYPES:
                df = promql.range_query(prom_url, target["expr"], start=start, end=end, step=step)
            else:
                df = promql.instant(prom_url, target["expr"], time=end)
            data.series.append((target, df))
    except promql.PromQLError as exc:
        data.error = str(exc)
    return data


# ---------------------------------------------------------------- drawing one panel


# ---------------------------------------------------------------- the whole dashboard

def _seconds(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def draw_dashboard(prom_url: str, path: str | Path = OVERVIEW_DASHBOARD,
                   since: timedelta | datetime | float = timedelta(minutes=15),
                   end: datetime | float | None = None, step: float | None = None,
                   width: float = 16.0) -> tuple[plt.Figure, pd.DataFrame]:
    """Draw every panel of a dashboard JSON at its grid position; return the figure and a per-panel report.

    since: how far back time-based panels go (a timedelta before `end`, or a start time; moved back by less than
    a step so that the last point falls on `end`); end: default now; step: seconds between points (default:
    about 300 points across the range, at least 1 s).
    """
    dashboard = json.loads(Path(path).read_text())
    panels = list(promql.dashboard_panels(dashboard, rows=False))
    end_s = _seconds(end) if end is not None else datetime.now().timestamp()
    start_s = end_s - since.total_seconds() if isinstance(since, timedelta) else _seconds(since)
    step = step or max(1.0, round((end_s - start_s) / 300))
    start_s = end_s - math.ceil((end_s - start_s) / step) * step  # a range query's points run from start by step:
    # starting a whole number of steps before `end` puts the last point at `end`, where the other panels' instant
    # queries are evaluated, so a time series ends on the value a stat or bar gauge beside it shows
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    height = rows * UNIT_HEIGHT_IN
    fig = plt.figure(figsize=(width, height))
    fig.suptitle(f"{dashboard.get('title', Path(path).stem)} (drawn from Prometheus without Grafana; times in UTC)",
                 y=1 + 0.25 / height, fontsize=12)
    report = []
    for panel in panels:
        pad = 0.75 if panel["type"] in RANGE_TYPES else 0.15  # room for y tick labels
        ax = fig.add_axes(panel_rect(panel["gridPos"], rows, width, height, pad_left=pad))
        data = fetch_panel(prom_url, panel, start_s, end_s, step)
        status = draw_panel(ax, panel, data)
        if panel["type"] in RANGE_TYPES and status == OK:  # one time range for all panels, as in Grafana
            ax.set_xlim(*(datetime.fromtimestamp(t, UTC).replace(tzinfo=None) for t in (start_s, end_s)))
        report.append({"panel": panel.get("title", ""), "type": panel["type"], "status": status,
                       "queries": len(data.series)})
    return fig, pd.DataFrame(report)


def dashboard_url(grafana_url: str, path: str | Path = OVERVIEW_DASHBOARD) -> str:
    """The Grafana address of a provisioned dashboard (its fixed uid)."""
    uid = json.loads(Path(path).read_text())["uid"]
    return f"{grafana_url.rstrip('/')}/d/{uid}"
