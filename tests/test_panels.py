"""Inline dashboard drawing (workshop.panels) on hand-made query results; test_dashboards_live.py runs it
against a real Prometheus."""
import json
import math
from itertools import combinations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from workshop import panel_drawers, panel_format, panels, procs, promql
from workshop.panel_drawers import NO_DATA, OK, PanelData
from workshop.promql import OVERVIEW_DASHBOARD

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OVERVIEW = json.loads(OVERVIEW_DASHBOARD.read_text())
BY_TITLE = {p["title"]: p for p in promql.dashboard_panels(OVERVIEW, rows=False)}
T0 = pd.Timestamp("2024-05-01 12:00:00", tz="UTC")


@pytest.fixture()
def ax():
    fig, axes = plt.subplots()
    yield axes
    plt.close(fig)


def texts(ax) -> str:
    return " | ".join(t.get_text() for t in ax.texts)


def series(values, **labels) -> pd.DataFrame:
    """A range-query result: one row per step, labels as columns."""
    times = [T0 + pd.Timedelta(seconds=5 * i) for i in range(len(values))]
    return pd.DataFrame({"timestamp": times, **{k: [v] * len(values) for k, v in labels.items()},
                         "value": [float(v) for v in values]})


def target(expr="x", legend_format=None) -> dict:
    return {"expr": expr, "legendFormat": legend_format} if legend_format else {"expr": expr}


# ---------------------------------------------------------------- helpers

def test_legend_follows_grafana_legend_format():
    labels = {"__name__": "predictions_total", "class_name": "fraud", "job": "ml-model-app"}
    assert panel_format.legend("{{class_name}}", labels) == "fraud"
    assert panel_format.legend("{{ job }} / {{class_name}}", labels) == "ml-model-app / fraud"
    assert panel_format.legend("{{missing}}", labels) == ""
    assert panel_format.legend(None, labels) == 'predictions_total{class_name="fraud", job="ml-model-app"}'
    assert panel_format.legend("", {}, "sum(rate(x[5m]))") == "sum(rate(x[5m]))"


@pytest.mark.parametrize("value, unit, decimals, text", [
    (0.0004, "s", None, "400 µs"), (0.0123, "s", None, "12.3 ms"), (2.5, "s", None, "2.5 s"),
    (0.99921, "percentunit", 2, "99.92 %"), (0.00172, "percentunit", None, "0.17 %"),
    (2.5, "suffix: pred/s", None, "2.5 pred/s"), (12345.0, None, None, "12,345"), (1000.0, None, None, "1,000"), (999.0, None, None, "999"), (0.5, "short", 1, "0.5"),
    (math.nan, "s", None, "NaN"), (math.inf, None, None, "∞"),
    (0.0, "s", None, "0 s"), (90.0, "s", None, "1.5 min"), (3 * 3600.0, "s", None, "3 h"),
])
def test_format_value(value, unit, decimals, text):
    assert panel_format.format_value(value, unit, decimals) == text


def test_value_mappings_and_thresholds_of_the_health_panel():
    defaults = BY_TITLE["Target health"]["fieldConfig"]["defaults"]
    assert panel_format.mapped(1.0, defaults["mappings"])["text"] == "UP"
    assert panel_format.mapped(0.0, defaults["mappings"])["text"] == "DOWN"
    assert panel_format.mapped(0.5, defaults["mappings"]) is None
    assert panel_format.threshold_color(0.0, defaults["thresholds"]) == "red"
    assert panel_format.threshold_color(1.0, defaults["thresholds"]) == "green"
    assert panel_format.threshold_color(math.nan, defaults["thresholds"]) == "red"  # the base step
    assert panel_format.color("dark-orange") == "darkorange" and panel_format.color("no-such-colour") == "black"


def test_bucket_counts_de_accumulate_le_and_sort_inf_last():
    df = pd.concat([series([1, 2], le="0.1"), series([4, 5], le="+Inf"), series([3, 2], le="0.5")])
    bounds, times, counts = panel_format.bucket_counts(df)
    assert bounds.tolist() == [0.1, 0.5, math.inf]
    assert times == [T0, T0 + pd.Timedelta(seconds=5)]
    assert counts.tolist() == [[1, 2], [2, 0], [1, 3]]  # per bucket, never negative


def test_panel_rects_stay_inside_the_figure_and_do_not_overlap():
    grid = [p["gridPos"] for p in promql.dashboard_panels(OVERVIEW, rows=False)]
    rows = max(g["y"] + g["h"] for g in grid)
    rects = [panels.panel_rect(g, rows, 16, rows * panels.UNIT_HEIGHT_IN, pad_left=0.75) for g in grid]
    for left, bottom, width, height in rects:
        assert 0 <= left and 0 <= bottom and left + width <= 1 and bottom + height <= 1 and width > 0 < height
    for (l1, b1, w1, h1), (l2, b2, w2, h2) in combinations(rects, 2):
        assert l1 + w1 <= l2 or l2 + w2 <= l1 or b1 + h1 <= b2 or b2 + h2 <= b1


# ---------------------------------------------------------------- one panel of each type

def test_timeseries_draws_one_line_per_series_and_skips_empty_ones(ax):
    data = PanelData(series=[(target("q", "{{class_name}}"), pd.concat([
        series([0.1, 0.2, 0.3], class_name="non_fraud"), series([0.0, 0.01, 0.02], class_name="fraud"),
        series([math.nan, math.nan, math.nan], class_name="unknown")]))])
    assert panel_drawers.draw_panel(ax, BY_TITLE["Throughput"], data) == OK
    assert sorted(line.get_label() for line in ax.lines) == ["fraud", "non_fraud"]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > 0.3  # panel min 0, headroom above the data
    assert ax.get_title(loc="left") == "Throughput"


LABEL_DELAY = next(p for p in promql.dashboard_panels(json.loads(
    (OVERVIEW_DASHBOARD.parent / "ml-model-quality.json").read_text()), rows=False) if p["title"] == "Label delay")


def y_tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    return [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True) if low <= v <= high]


@pytest.mark.parametrize("delays_s, unit", [([1.8, 2.1, 6.5, 7.2], " s"), ([0.0021, 0.0035], " ms"),
                                            ([2 * 3600, 5 * 3600, 9 * 3600], " h"), ([20 * 60, 47 * 60], " min"), ([40 * 60, 95 * 60], " h")])
def test_a_duration_axis_reads_zero_as_0_and_one_unit_throughout(ax, delays_s, unit):
    """Lesson 06's label-delay panel: no "0 µs" at the origin, no µs/ms/s mix; hours when delays are hours."""
    data = PanelData(series=[(target("q", "{{version}} p90"), series(delays_s, version="lr-1"))])
    assert panel_drawers.draw_panel(ax, LABEL_DELAY, data) == OK
    labels = y_tick_labels(ax)
    assert labels[0] == "0" and len(labels) >= 3 and all(t.endswith(unit) for t in labels[1:]), labels


def test_many_series_name_only_the_highest_in_the_legend(ax):
    many = pd.concat([series([0.1, 0.01 * i], feature=f"V{i}") for i in range(1, 30)])
    assert panel_drawers.draw_panel(ax, BY_TITLE["Throughput"], PanelData([(target("q", "{{feature}}"), many)])) == OK
    assert len(ax.lines) == 29
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"V{i}" for i in range(29, 21, -1)]
    assert "top 8 of 29" in texts(ax)


def test_bargauge_draws_one_bar_per_series_with_its_value(ax):
    panel = {"type": "bargauge", "title": "PSI now", "fieldConfig": {"defaults": {
        "unit": "short", "decimals": 2, "thresholds": {"mode": "absolute", "steps": [
            {"color": "green", "value": None}, {"color": "red", "value": 0.25}]}}}}
    now = pd.DataFrame({"feature": ["V14", "V3"], "value": [0.7, 0.03]})
    assert panel_drawers.draw_panel(ax, panel, PanelData([(target("topk(2, psi)", "{{feature}}"), now)])) == OK
    widths = sorted((bar.get_width(), bar.get_facecolor()) for bar in ax.patches)
    assert [w for w, _ in widths] == [0.03, 0.7]
    assert widths[0][1] != widths[1][1]  # below and above the red threshold
    ticks = {label.get_text(): y for label, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert ticks["V14"] > ticks["V3"]  # the first series on top, as in Grafana
    assert "0.70" in texts(ax)


def test_a_panel_without_data_says_so(ax):
    empty = pd.DataFrame(columns=["timestamp", "value"])
    assert panel_drawers.draw_panel(ax, BY_TITLE["Prediction latency P95"], PanelData([(target(), empty)])) == NO_DATA
    assert "No data" in texts(ax) and not ax.lines


def test_stat_applies_value_mappings(ax):
    up = pd.DataFrame({"instance": ["127.0.0.1:8000"], "job": ["ml-model-app"], "value": [1.0]})
    assert panel_drawers.draw_panel(ax, BY_TITLE["Target health"], PanelData([(target("up", "{{instance}}"), up)])) == OK
    assert "127.0.0.1:8000\nUP" in texts(ax)


def test_stat_shows_the_name_or_the_formatted_value(ax):
    version = pd.DataFrame({"version": ["lr-1234abcd"], "value": [1.0]})
    assert panel_drawers.draw_panel(ax, BY_TITLE["Model version"], PanelData([(target("m", "{{version}}"), version)])) == OK
    assert texts(ax) == "lr-1234abcd"
    fig, other = plt.subplots()
    accuracy = pd.DataFrame({"value": [0.99921]})
    assert panel_drawers.draw_panel(other, BY_TITLE["Model accuracy (held-out)"], PanelData([(target(), accuracy)])) == OK
    assert texts(other) == "99.92 %"
    plt.close(fig)


def test_stat_with_only_nan_is_no_data(ax):
    nan = pd.DataFrame({"value": [math.nan]})
    assert panel_drawers.draw_panel(ax, BY_TITLE["Model accuracy (held-out)"], PanelData([(target(), nan)])) == NO_DATA


def test_piechart_draws_a_wedge_per_class(ax):
    by_class = pd.DataFrame({"class_name": ["fraud", "non_fraud"], "value": [0.05, 2.45]})
    panel = BY_TITLE["Predictions by class"]
    assert panel_drawers.draw_panel(ax, panel, PanelData([(target("q", "{{class_name}}"), by_class)])) == OK
    assert len(ax.patches) == 2
    assert "2.0 %" in texts(ax) and "98.0 %" in texts(ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["fraud: 0.05 pred/s", "non_fraud: 2.45 pred/s"]


def test_piechart_of_zero_rates_is_no_data(ax):
    zeros = pd.DataFrame({"class_name": ["fraud", "non_fraud"], "value": [0.0, 0.0]})
    assert panel_drawers.draw_panel(ax, BY_TITLE["Predictions by class"], PanelData([(target(), zeros)])) == NO_DATA


def test_heatmap_is_an_image_of_bucket_counts(ax):
    df = pd.concat([series([1, 2], le="0.1"), series([3, 2], le="0.5"), series([4, 5], le="+Inf")])
    assert panel_drawers.draw_panel(ax, BY_TITLE["Latency distribution"], PanelData([(target(), df)])) == OK
    (image,) = ax.images
    assert np.asarray(image.get_array()).tolist() == [[1, 2], [2, 0], [1, 3]]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["100 ms", "500 ms", "+Inf"]
    (scale,) = [a for a in ax.figure.axes if a is not ax]  # the colour bar says what a cell counts
    assert scale.get_ylabel() == "req/s in the bucket"


def test_heatmap_cell_label_without_a_unit_is_generic():
    assert panel_format.cell_label(None) == panel_format.cell_label("short") == "value in the bucket"


def test_alertlist_shows_firing_and_pending_alerts_only(ax):
    alerts = panel_format.alerts_frame([
        {"state": "firing", "labels": {"alertname": "HighLatency", "severity": "warning"},
         "annotations": {"summary": "slow"}, "activeAt": "2024-05-01T12:00:00.123Z"},
        {"state": "pending", "labels": {"alertname": "FraudShareTooHigh", "severity": "critical"},
         "activeAt": "2024-05-01T12:01:00Z"},
        {"state": "inactive", "labels": {"alertname": "Quiet"}, "activeAt": ""}])
    assert panel_drawers.draw_panel(ax, BY_TITLE["Firing alerts"], PanelData(alerts=alerts)) == OK
    (table,) = ax.tables
    cells = [c.get_text().get_text() for c in table.get_celld().values()]
    assert "HighLatency" in cells and "FraudShareTooHigh" in cells and "Quiet" not in cells
    assert "2024-05-01 12:00:00" in cells


def test_alertlist_without_alerts_says_so(ax):
    assert panel_drawers.draw_panel(ax, BY_TITLE["Firing alerts"], PanelData(alerts=panel_format.alerts_frame([]))) == OK
    assert texts(ax) == "No firing or pending alerts"


def test_errors_and_unknown_panel_types_are_shown_not_raised(ax):
    status = panel_drawers.draw_panel(ax, BY_TITLE["Throughput"], PanelData(error="bad_data: parse error\n  query: x"))
    assert status == "error: bad_data: parse error" and "parse error" in texts(ax)
    fig, other = plt.subplots()
    assert panel_drawers.draw_panel(other, {"type": "geomap", "title": "Map"}, PanelData()) == "not drawn: geomap"
    plt.close(fig)


# ---------------------------------------------------------------- fetching and the whole dashboard

def test_unreachable_prometheus_is_reported_per_panel():
    url = f"http://127.0.0.1:{procs.free_port()}"
    data = panels.fetch_panel(url, BY_TITLE["Throughput"], start=0, end=60, step=5)
    assert "not reachable" in data.error
    fig, report = panels.draw_dashboard(url)
    plt.close(fig)
    assert report["panel"].tolist() == list(BY_TITLE)
    assert report["status"].str.startswith("error: Prometheus is not reachable").all()


@pytest.mark.parametrize("since", [61.3, 600.0, 3600.0])
def test_time_series_end_on_the_instant_of_the_other_panels(monkeypatch, since):
    """The range's points start a whole number of steps before `end`: the last one is where stat and bar gauge
    panels are evaluated, so a line never stops one evaluation short of the number beside it."""
    calls = []
    monkeypatch.setattr(promql, "range_query", lambda url, expr, start, end, step: calls.append((start, end, step))
                        or pd.DataFrame(columns=["timestamp", "value"]))
    monkeypatch.setattr(promql, "instant", lambda url, expr, time=None: calls.append(time)
                        or pd.DataFrame(columns=["value"]))
    end = 1_764_571_777.4
    fig, _ = panels.draw_dashboard("http://unused", since=end - since, end=end)
    plt.close(fig)
    ranges = [c for c in calls if isinstance(c, tuple)]
    assert ranges and {c for c in calls if not isinstance(c, tuple)} == {end}
    for start, stop, step in ranges:
        assert stop == end and start <= end - since and (end - start) / step == pytest.approx(round((end - start) / step))
        assert end - since - start < step


def test_dashboard_url_uses_the_fixed_uid():
    assert panels.dashboard_url("http://127.0.0.1:3000/") == "http://127.0.0.1:3000/d/ml-model-overview"


RECALL = {"type": "timeseries", "title": "Recall", "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0}}}


def recall_lines(start_high: bool, end_high: bool) -> PanelData:
    """Lesson 06's recall panel: four lines that fill the top left (and the top right unless end_high is False)."""
    shape = np.r_[np.full(10, 0.75 if start_high else 0.2), np.full(10, 0.75 if end_high else 0.2)]
    return PanelData([(target("q", f"{{{{version}}}} {name}"), series(shape + shift, version="lr-1"))
                      for name, shift in [("lower", -0.1), ("recall", 0.0), ("upper", 0.05), ("held-out", 0.1)]])


def test_the_legend_hides_no_line_it_moves_or_makes_room_above_them(ax):
    assert panel_drawers.draw_panel(ax, RECALL, recall_lines(start_high=True, end_high=False)) == OK
    assert not panel_drawers.hides_data(ax, ax.get_legend())
    assert ax.get_legend()._loc == 1 and ax.get_ylim()[1] < 1.0  # upper right, where the lines are low: no headroom
    fig, other = plt.subplots()
    assert panel_drawers.draw_panel(other, RECALL, recall_lines(start_high=True, end_high=True)) == OK
    assert not panel_drawers.hides_data(other, other.get_legend())  # high everywhere: the axis grew above them
    assert max(other.get_yticks()) <= 0.85 + 1e-9, "no tick labels in the legend's headroom"
    other.get_legend().set_loc("upper left")
    other.set_ylim(0, 0.9)
    assert panel_drawers.hides_data(other, other.get_legend())  # the check sees a legend on the lines
    plt.close(fig)


def test_a_dashboard_time_range_is_set_before_the_legend_looks_for_room(ax):
    start = T0.timestamp() - 60  # the range starts a minute before the first point, as lesson 06's `since`
    data = recall_lines(start_high=True, end_high=True)
    data.time_range = (start, T0.timestamp() + 100)
    assert panel_drawers.draw_panel(ax, RECALL, data) == OK
    assert ax.get_xlim()[0] == pytest.approx(matplotlib.dates.date2num(pd.Timestamp(start, unit="s")))
    assert not panel_drawers.hides_data(ax, ax.get_legend())
