"""Query Prometheus from Python and read the PromQL of the provisioned Grafana dashboards.

- `instant(url, query)`: one DataFrame row per series, labels as columns, plus `value`.
- `range_query(url, query, start, end, step)`: long DataFrame (`timestamp`, labels..., `value`).
- `wait_for(url, query, predicate, timeout)`: poll until the result satisfies `predicate`.
- `last_evaluation(url, group)`: when a rule group last finished an evaluation, to read what it recorded.
- `dashboard_queries(path)`: (panel title, panel type, expr) for every query in a dashboard JSON, so
  notebooks can draw the same panels inline when Grafana is not running.
Errors from the HTTP API are raised as `PromQLError` with Prometheus' own message and the query.
"""
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import requests

from workshop.paths import DASHBOARDS_DIR
from workshop.polling import poll_until

OVERVIEW_DASHBOARD = DASHBOARDS_DIR / "ml-model-overview.json"


class PromQLError(RuntimeError):
    """A query Prometheus rejected (`error_type` 'bad_data', 'execution', ...) or could not answer."""

    def __init__(self, message: str, error_type: str = "unknown"):
        super().__init__(message)
        self.error_type = error_type


class PanelQuery(NamedTuple):
    title: str
    type: str
    expr: str


def api_get(prom_url: str, path: str, params: dict | None = None, timeout: float = 10.0):
    """GET /api/v1/<path> and return its `data`, or raise PromQLError with a useful message."""
    url = f"{prom_url.rstrip('/')}/api/v1/{path}"
    try:
        response = requests.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise PromQLError(f"Prometheus is not reachable at {prom_url} ({type(exc).__name__}); start it with "
                          "`make up` or workshop.stack.Stack().start()", "unreachable") from exc
    try:
        body = response.json()
    except ValueError:
        raise PromQLError(f"HTTP {response.status_code} from {url}: {response.text[:300]}", "http") from None
    if body.get("status") != "success":
        query = (params or {}).get("query", "")
        raise PromQLError(f"{body.get('errorType')}: {body.get('error')}\n  query: {query}",
                          body.get("errorType", "unknown"))
    return body["data"]


def _timestamp(value) -> float | str:
    if isinstance(value, datetime):  # includes pandas.Timestamp
        return value.timestamp()
    return value


def _frame(rows: list[dict], first: list[str]) -> pd.DataFrame:
    labels = sorted({key for row in rows for key in row} - {*first, "value"})
    return pd.DataFrame(rows, columns=[*first, *labels, "value"])


def _series_rows(data: dict) -> list[dict]:
    kind, result = data["resultType"], data["result"]
    if kind in ("scalar", "string"):
        return [{"timestamp": result[0], "value": result[1]}]
    if kind == "vector":
        return [{**series["metric"], "timestamp": series["value"][0], "value": series["value"][1]}
                for series in result]
    return [{**series["metric"], "timestamp": t, "value": v}
            for series in result for t, v in series["values"]]


def _to_frame(data: dict, with_time: bool) -> pd.DataFrame:
    rows = _series_rows(data)
    if not with_time:
        rows = [{k: v for k, v in row.items() if k != "timestamp"} for row in rows]
    df = _frame(rows, ["timestamp"] if with_time else [])
    if "timestamp" in df:
        df["timestamp"] = pd.to_datetime(df["timestamp"].astype(float), unit="s", utc=True)
    df["value"] = df["value"].astype(float)  # Prometheus sends numbers as strings ("NaN", "+Inf" included)
    return df


def instant(prom_url: str, query: str, time: datetime | float | None = None) -> pd.DataFrame:
    """Evaluate `query` at one instant: labels as columns, `value` last (a range vector adds `timestamp`)."""
    params = {"query": query} | ({"time": _timestamp(time)} if time is not None else {})
    data = api_get(prom_url, "query", params)
    return _to_frame(data, with_time=data["resultType"] == "matrix")


def range_query(prom_url: str, query: str, start: datetime | float | timedelta,
                end: datetime | float | None = None, step: float | str | timedelta = "15s") -> pd.DataFrame:
    """Evaluate `query` from start to end (default: now) every `step`; start may be a timedelta before end."""
    end = datetime.now().astimezone() if end is None else end
    if isinstance(start, timedelta):
        start = _timestamp(end) - start.total_seconds()
    if isinstance(step, timedelta):
        step = step.total_seconds()
    data = api_get(prom_url, "query_range",
                   {"query": query, "start": _timestamp(start), "end": _timestamp(end), "step": step})
    return _to_frame(data, with_time=True)


def wait_for(prom_url: str, query: str, predicate: Callable[[pd.DataFrame], bool] | None = None,
             timeout: float = 30.0, interval: float = 0.5) -> pd.DataFrame:
    """Poll `query` until `predicate(result)` is true (default: any series), return that result."""
    predicate = predicate or (lambda df: not df.empty)

    def probe() -> pd.DataFrame | PromQLError:
        try:
            return instant(prom_url, query)
        except PromQLError as exc:
            if exc.error_type == "bad_data":  # a malformed query never gets better by waiting
                raise
            return exc

    return poll_until(probe, done=lambda r: isinstance(r, pd.DataFrame) and predicate(r), timeout=timeout,
                      interval=interval, what=f"{query!r} satisfying the condition",
                      describe=lambda last: f"last result:\n{last}")


def last_evaluation(prom_url: str, group: str) -> float:
    """Unix time of the newest finished evaluation of the rule group named `group` (/api/v1/rules).

    Every rule of a group records its samples at the same evaluation timestamp, at or just before this time,
    and an alert reads the series recorded before it in that evaluation. So an instant query at this time
    reads exactly what that evaluation recorded, the values its alerts showed: a time a few seconds in the
    past can land on the evaluation before, and "now" on one being written."""
    groups = [g for g in api_get(prom_url, "rules")["groups"] if g["name"] == group]
    if not groups:
        raise PromQLError(f"no rule group named {group!r} is loaded", "not_found")
    newest = max(pd.Timestamp(g["lastEvaluation"]) for g in groups)
    if newest.year < 2000:  # Go's zero time: loaded, not evaluated yet
        raise PromQLError(f"rule group {group!r} has not been evaluated yet", "not_evaluated")
    return newest.timestamp()


def dashboard_panels(dashboard: dict, rows: bool = True):
    """Every panel of a dashboard, those inside (collapsed) rows too; the rows themselves unless rows=False."""
    for panel in dashboard.get("panels", []):
        if rows or panel.get("type") != "row":
            yield panel
        yield from dashboard_panels(panel, rows)


def dashboard_queries(path: str | Path = OVERVIEW_DASHBOARD) -> list[PanelQuery]:
    """Every PromQL expression of a provisioned dashboard (a JSON file, or every JSON file in a folder)."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    queries = []
    for file in files:
        for panel in dashboard_panels(json.loads(file.read_text())):
            for target in panel.get("targets", []):
                if target.get("expr") and not target.get("hide"):
                    queries.append(PanelQuery(panel.get("title", ""), panel["type"], target["expr"]))
    return queries
