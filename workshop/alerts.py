"""Watching alerts live: Prometheus' rule states, Alertmanager's view of them, and a timeline to plot.

    prometheus_alerts(prom_url)                   # DataFrame: the pending and firing alerts, with labels
    watch_alert(prom_url, "ModelLatencyP95High")  # poll, print each state change, return once it fires
    alertmanager_alerts(am_url)                   # DataFrame: what Alertmanager holds (active / suppressed)
    wait_for_alertmanager(am_url, predicate)      # poll that DataFrame until predicate(df) is true
    alert_intervals(prom_url, start, end)         # the ALERTS series as (alertname, state, start, end) rows
    plot_alert_timeline(intervals, notifications) # bars per alert, webhook deliveries as markers

An alert rule is "inactive" (no ALERTS series), "pending" (condition true, `for:` not yet elapsed) or
"firing" (Prometheus sends it to Alertmanager). Alertmanager's own states are "active", "suppressed"
(inhibited or silenced: kept, not sent) and "unprocessed".
"""
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import pandas as pd
import requests

from workshop import promql
from workshop.polling import poll_until

INACTIVE, PENDING, FIRING = "inactive", "pending", "firing"
STATE_COLORS = {PENDING: "#f2b134", FIRING: "#d62728"}


class Transition(NamedTuple):
    at: datetime         # wall-clock time (UTC) when the poll saw the new state
    elapsed_s: float     # seconds since watch_alert was called
    state: str           # inactive, pending or firing


# ---------------------------------------------------------------- Prometheus

def prometheus_alerts(prom_url: str) -> pd.DataFrame:
    """Pending and firing alerts from Prometheus' /api/v1/alerts: alertname, state, active_at, value, labels."""
    rows = [{"alertname": a["labels"].get("alertname"), "state": a["state"],
             "active_at": pd.Timestamp(a["activeAt"]) if a.get("activeAt") else pd.NaT,
             "value": float(a["value"]), "labels": a["labels"]}
            for a in promql.api_get(prom_url, "alerts")["alerts"]]
    return pd.DataFrame(rows, columns=["alertname", "state", "active_at", "value", "labels"])


def alert_state(prom_url: str, alertname: str, **labels: str) -> str:
    """firing if any matching alert fires, else pending if one is pending, else inactive."""
    alerts = prometheus_alerts(prom_url)
    matching = [row.state for row in alerts.itertuples()
                if row.alertname == alertname and all(row.labels.get(k) == v for k, v in labels.items())]
    return FIRING if FIRING in matching else PENDING if PENDING in matching else INACTIVE


def watch_alert(prom_url: str, alertname: str, until: str = FIRING, timeout: float = 120.0,
                interval: float = 0.5, echo: Callable[[str], None] | None = print,
                **labels: str) -> list[Transition]:
    """Poll the state of `alertname` until it is `until` (firing, pending or inactive); return every state
    seen, with when it was first seen. `echo` prints each change as it happens (None: silent).
    Raises TimeoutError naming the states seen."""
    if until not in (INACTIVE, PENDING, FIRING):
        raise ValueError(f"until must be inactive, pending or firing, not {until!r}")
    start = time.monotonic()
    seen: list[Transition] = []

    def probe() -> str:
        state = alert_state(prom_url, alertname, **labels)
        if not seen or seen[-1].state != state:
            seen.append(Transition(datetime.now(UTC), round(time.monotonic() - start, 1), state))
            if echo:
                echo(f"{seen[-1].elapsed_s:6.1f} s  {alertname}: {state}")
        return state

    poll_until(probe, done=lambda state: state == until, timeout=timeout, interval=interval,
               what=f"{alertname} {until}", describe=lambda _: f"states seen: {[(t.elapsed_s, t.state) for t in seen]}")
    return seen


def alert_intervals(prom_url: str, start: datetime | float, end: datetime | float | None = None,
                    step: float = 1.0) -> pd.DataFrame:
    """When each alert was pending or firing, from the ALERTS series Prometheus writes for every active
    alert: one row per uninterrupted run (alertname, state, start, end), all instances of a name merged."""
    columns = ["alertname", "state", "start", "end"]
    samples = promql.range_query(prom_url, "count by (alertname, alertstate) (ALERTS)", start, end, step)
    if samples.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    gap = pd.Timedelta(seconds=1.5 * step)
    for (name, state), group in samples.groupby(["alertname", "alertstate"]):
        times = group["timestamp"].sort_values().reset_index(drop=True)
        run_ids = (times.diff() > gap).cumsum()  # a new run wherever a sample is missing
        for _, run in times.groupby(run_ids):
            rows.append([name, state, run.iloc[0], run.iloc[-1] + pd.Timedelta(seconds=step)])
    return pd.DataFrame(rows, columns=columns).sort_values(["start", "alertname"], ignore_index=True)


# ---------------------------------------------------------------- Alertmanager

def alertmanager_alerts(am_url: str, **params) -> pd.DataFrame:
    """Alertmanager's alerts (/api/v2/alerts; params such as filter='job="x"' or inhibited="false"):
    alertname, job, severity, state, inhibited_by (alert names), silenced_by, receivers, starts_at."""
    response = requests.get(f"{am_url.rstrip('/')}/api/v2/alerts", params=params, timeout=10)
    response.raise_for_status()
    alerts = response.json()
    names = {a["fingerprint"]: a["labels"].get("alertname") for a in alerts}
    rows = [{"alertname": a["labels"].get("alertname"), "job": a["labels"].get("job"),
             "severity": a["labels"].get("severity"), "state": a["status"]["state"],
             "inhibited_by": sorted(names.get(f, f) for f in a["status"]["inhibitedBy"]),
             "silenced_by": a["status"]["silencedBy"],
             "receivers": [r["name"] for r in a.get("receivers", [])],
             "starts_at": pd.Timestamp(a["startsAt"])} for a in alerts]
    columns = ["alertname", "job", "severity", "state", "inhibited_by", "silenced_by", "receivers", "starts_at"]
    return pd.DataFrame(rows, columns=columns).sort_values(["alertname", "starts_at"], ignore_index=True)


def wait_for_alertmanager(am_url: str, predicate: Callable[[pd.DataFrame], bool], timeout: float = 60.0,
                          interval: float = 0.5) -> pd.DataFrame:
    """Poll alertmanager_alerts(am_url) until predicate(df) is true; return that DataFrame."""
    return poll_until(lambda: alertmanager_alerts(am_url), done=predicate, timeout=timeout, interval=interval,
                      what="the expected Alertmanager state",
                      describe=lambda alerts: f"it holds:\n{alerts[['alertname', 'job', 'state', 'inhibited_by']]}")


# ---------------------------------------------------------------- the timeline

def plot_alert_timeline(intervals: pd.DataFrame, notifications: pd.DataFrame | None = None, ax=None,
                        events: dict[str, datetime] | None = None):
    """One row per alert: pending (amber) and firing (red) bars from alert_intervals(); webhook
    notifications (WebhookReceiver.table()) as markers, ▲ firing, ▼ resolved; `events` as labelled
    vertical lines (e.g. {"latency fault on": t0}). Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    has_notes = notifications is not None and not notifications.empty
    first_seen = {}  # rows top to bottom in order of first appearance
    for name, when in [*zip(intervals["alertname"], pd.to_datetime(intervals["start"], utc=True), strict=True),
                       *(zip(notifications["alertname"], pd.to_datetime(notifications["received_at"], utc=True),
                             strict=True) if has_notes else [])]:
        first_seen[name] = min(when, first_seen.get(name, when))
    names = sorted(first_seen, key=first_seen.get)
    rows = {name: i for i, name in enumerate(names)}
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.55 * max(3, len(names)) + 1.5))
    for item in intervals.itertuples():
        ax.barh(rows[item.alertname], (item.end - item.start).total_seconds() / 86400, left=item.start,
                height=0.5, color=STATE_COLORS.get(item.state, "grey"), label=item.state)
    if has_notes:
        for status, marker in (("firing", "^"), ("resolved", "v")):
            sent = notifications[notifications["status"] == status]
            ax.scatter(pd.to_datetime(sent["received_at"], utc=True), [rows[n] - 0.4 for n in sent["alertname"]],
                       marker=marker, color="black", zorder=3, label=f"webhook: {status}")
    for label, when in (events or {}).items():
        ax.axvline(when, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (when, 1.01), xycoords=("data", "axes fraction"), rotation=25, fontsize=8,
                    va="bottom", ha="left")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.4, -0.8)  # first alert on top, room for the markers above each bar
    ax.set_xlabel("time (UTC)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title("Alert states in Prometheus and notifications at the webhook", pad=40 if events else 6)
    return ax
