"""Automated canary analysis: deploy a candidate to a share of the traffic, watch it in Prometheus, then
promote it or roll it back by itself (lesson 08).

    deploy(models_dir, "lr-5e6f7a8b", mode="canary", weight=0.2)       # lesson 07's deployment file
    result = analyse(prom_url, models_dir, "lr-5e6f7a8b", CanaryPolicy(duration_s=60), webhook_url=...)
    result.decision, result.reason       # "promote" / "rollback", and why
    result.steps                         # one row per look: the numbers every check saw
    plot_canary(result)                  # the timeline

Every `step_s` seconds, over the last `window`, the candidate version is compared with the champion:
- error ratio     5xx answers of the candidate / its prediction requests        (<= max_error_ratio)
- P95 latency     histogram_quantile over each version's latency buckets: the candidate's P95 may exceed the
                  champion's, same window, by at most max_added_p95_s (a busy machine slows both alike)
- score drift     PSI between the candidate's and the champion's fraud-probability histograms, since the start
- SRM             sample ratio mismatch since the start: do the versions get the configured shares?
                  (chi-square p >= srm_alpha)
- alerts          any firing alert labelled with the candidate's version, or named in `alerts`
The first failed check rolls back at once; a candidate that passes every look until `duration_s` is promoted
(not enough requests by then: rolled back, the safe side). Rollback and promote rewrite the deployment file;
the app re-reads it within a second and answers every request meanwhile. Every look and the decision are
JSON log lines (workshop.release.log); the decision is also posted to the webhook receiver (workshop.webhook).
"""
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from scipy import stats

from workshop import deployment, promql
from workshop.drift_stats import psi
from workshop.release import log

PROMOTE, ROLLBACK = "promote", "rollback"


@dataclass(frozen=True)
class CanaryPolicy:
    duration_s: float = 60.0        # how long the canary runs at most (bounded)
    step_s: float = 5.0             # one look every step_s
    window: str = "30s"             # rate() window of each look (>= 2 scrape intervals)
    min_requests: int = 50          # candidate requests in the window before any check may fail
    max_error_ratio: float = 0.01
    max_added_p95_s: float = 0.1    # candidate P95 - champion P95, same window (noise: a few ms)
    max_score_psi: float = 0.25     # the drift lesson's "significant" PSI ...
    min_scores: int = 200           # ... on at least this many candidate scores (noise: PSI ~ 11 / N here)
    srm_alpha: float = 0.001        # SRM p-value below this: the split is broken, results are not trustworthy
    alerts: tuple[str, ...] = ("ModelApiDown", "ModelErrorRatioHigh", "ModelVersionSampleRatioMismatch")


@dataclass
class CanaryResult:
    candidate: str
    champion: str
    weight: float
    decision: str
    reason: str
    started: datetime
    decided: datetime
    steps: pd.DataFrame = field(repr=False)
    notification: dict | None = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        return (self.decided - self.started).total_seconds()


def deploy(models_dir, version: str, mode: str = "canary", weight: float = 0.1) -> dict:
    """Candidate `version` next to the current champion: a canary answers `weight` of the requests
    (lesson 07's split), a shadow scores every request and answers none."""
    models_dir = Path(models_dir)
    spec = deployment.read_deployment(models_dir) if (models_dir / deployment.DEPLOYMENT).exists() else None
    champion = spec["champion"] if spec else deployment.version_of_champion_copy(models_dir)
    spec = deployment.write_deployment(models_dir, champion, {version: weight},
                                       mode="shadow" if mode == "shadow" else "split")
    log("deployed", candidate=version, champion=champion, mode=mode, weight=weight)
    return spec


# ---------------------------------------------------------------- one look

def _value(prom_url: str, query: str) -> float:
    frame = promql.instant(prom_url, query)
    return float(frame["value"].iloc[0]) if len(frame) else math.nan


def _answered(prom_url: str, version: str, at: float | None = None) -> float:
    """Requests `version` has answered, as of the last scrape before `at` (default: now). The raw counter, not
    increase(): over a look's few scrapes, increase() extrapolates a long-running series (the champion's) to the
    window's edges but not a series that starts at 0 (the candidate's), and that alone gave a correct 30 % split
    SRM p-values of 0.01 down to 7e-4 at the first looks."""
    frame = promql.instant(prom_url, f'sum(prediction_latency_seconds_count{{version="{version}"}})', time=at)
    return float(frame["value"].iloc[0]) if len(frame) else 0.0  # no series yet: nothing answered


def _histogram(prom_url: str, metric: str, version: str, window: str) -> pd.Series:
    frame = promql.instant(prom_url, f'sum by (le) (increase({metric}_bucket{{version="{version}"}}[{window}]))')
    if frame.empty:
        return pd.Series(dtype=float)
    cumulative = frame.assign(le=frame["le"].astype(float)).set_index("le")["value"].sort_index()
    return cumulative.diff().fillna(cumulative.iloc[0]).clip(lower=0)  # per-bucket counts


def look(prom_url: str, candidate: str, champion: str, weight: float, policy: CanaryPolicy, since: float) -> dict:
    """The numbers of one look at Prometheus, and which checks fail (None: not enough data yet)."""
    w, v = policy.window, candidate
    requests_w = _value(prom_url, f'sum(increase(prediction_latency_seconds_count{{version="{v}"}}[{w}]))')
    errors_w = _value(prom_url, f'sum(increase(prediction_errors_total{{version="{v}"}}[{w}]))')
    p95 = {ver: _value(prom_url, f'histogram_quantile(0.95, sum by (le) '
                                 f'(rate(prediction_latency_seconds_bucket{{version="{ver}"}}[{w}])))')
           for ver in (candidate, champion)}
    # Score drift and SRM are judged on everything since the canary started (noise shrinks with the count).
    elapsed = f"{max(int(time.time() - since), 1)}s"
    cand_scores = _histogram(prom_url, "fraud_probability", candidate, elapsed)
    champ_scores = _histogram(prom_url, "fraud_probability", champion, elapsed)
    score_psi = (psi(cand_scores.to_numpy(), (champ_scores / champ_scores.sum()).to_numpy())
                 if len(champ_scores) == len(cand_scores) and cand_scores.sum() >= policy.min_scores
                 and champ_scores.sum() > 0 else math.nan)
    counts = {ver: _answered(prom_url, ver) - _answered(prom_url, ver, at=since) for ver in (candidate, champion)}
    observed = np.nan_to_num([counts[candidate], counts[champion]])
    srm_p = (float(stats.chisquare(observed, observed.sum() * np.array([weight, 1 - weight])).pvalue)
             if observed.sum() >= 2 * policy.min_requests else math.nan)
    alerts = promql.instant(prom_url, 'ALERTS{alertstate="firing"}')
    firing = sorted({row.alertname for row in alerts.itertuples()
                     if getattr(row, "version", None) == v or row.alertname in policy.alerts}) if len(alerts) else []
    error_ratio = errors_w / requests_w if requests_w else math.nan
    enough = requests_w >= policy.min_requests
    failures = []
    if enough and error_ratio > policy.max_error_ratio:
        failures.append(f"error ratio {error_ratio:.1%} > {policy.max_error_ratio:.1%}")
    added = p95[v] - p95[champion]
    if enough and added > policy.max_added_p95_s:
        failures.append(f"P95 latency {p95[v] * 1000:.0f} ms is {added * 1000:.0f} ms above the champion's "
                        f"{p95[champion] * 1000:.1f} ms (limit +{policy.max_added_p95_s * 1000:.0f} ms)")
    if score_psi > policy.max_score_psi:
        failures.append(f"score PSI vs champion {score_psi:.2f} > {policy.max_score_psi}")
    if srm_p < policy.srm_alpha:
        failures.append(f"sample ratio mismatch: {observed[0]:.0f} vs {observed[1]:.0f} requests for a "
                        f"{weight:.0%} split (p = {srm_p:.1e})")
    if firing:
        failures.append(f"alerts firing: {', '.join(firing)}")
    return {"candidate_requests": requests_w, "error_ratio": error_ratio, "p95_candidate_s": p95[v],
            "p95_champion_s": p95[champion], "score_psi": score_psi, "srm_p": srm_p,
            "candidate_share": observed[0] / observed.sum() if observed.sum() else math.nan,
            "alerts": firing, "enough_data": enough, "failures": failures}


# ---------------------------------------------------------------- the loop and the decision

def analyse(prom_url: str, models_dir, candidate: str, policy: CanaryPolicy = CanaryPolicy(),
            webhook_url: str | None = None, weight: float | None = None) -> CanaryResult:
    """Watch the deployed canary for at most policy.duration_s, then promote or roll back (see module doc)."""
    spec = deployment.read_deployment(models_dir)
    champion, weight = spec["champion"], weight if weight is not None else spec["challengers"][candidate]
    # The clock starts once Prometheus has scraped the app routing `weight` to the candidate (the app re-reads
    # the deployment file within a second): requests before that all went to the champion.
    promql.wait_for(prom_url, f'max(model_routing_weight{{version="{candidate}"}}) == {weight}',
                    timeout=max(30.0, 3 * policy.step_s))
    started, since = datetime.now(UTC), time.time()
    log("canary_started", candidate=candidate, champion=champion, weight=weight, **asdict(policy))
    rows, decision, reason, passed_looks = [], None, "", 0
    while decision is None:
        time.sleep(policy.step_s)
        numbers = look(prom_url, candidate, champion, weight, policy, since)
        t = time.time() - since
        rows.append({"t_s": round(t, 1), **numbers})
        log("canary_look", candidate=candidate, t_s=round(t, 1), **{k: _rounded(x) for k, x in numbers.items()})
        passed_looks += numbers["enough_data"] and not numbers["failures"]
        if numbers["failures"]:
            decision, reason = ROLLBACK, "; ".join(numbers["failures"])
        elif t >= policy.duration_s:
            decision = PROMOTE if passed_looks else ROLLBACK
            reason = (f"every check passed in {passed_looks} looks over {t:.0f} s" if passed_looks else
                      f"not enough candidate requests in {t:.0f} s (< {policy.min_requests} per window)")
    if decision == PROMOTE:
        deployment.promote(models_dir, candidate)
    else:
        deployment.rollback(models_dir, champion)
    result = CanaryResult(candidate, champion, weight, decision, reason, started, datetime.now(UTC),
                          pd.DataFrame(rows))
    log("canary_decision", candidate=candidate, champion=champion, decision=decision, reason=reason,
        seconds=round(result.seconds, 1), looks=len(rows))
    if webhook_url:
        result.notification = notify(webhook_url, result)
    return result


def _rounded(x):
    return round(x, 6) if isinstance(x, float) and math.isfinite(x) else x if not isinstance(x, float) else None


def notify(webhook_url: str, result: CanaryResult) -> dict:
    """Post the decision to the webhook receiver, shaped like an Alertmanager notification (so the receiver's
    table and the alert timeline show it next to the alerts) with the whole decision under `decision`."""
    name = "CanaryPromoted" if result.decision == PROMOTE else "CanaryRolledBack"
    labels = {"alertname": name, "version": result.candidate, "champion": result.champion, "job": "release",
              "severity": "info" if result.decision == PROMOTE else "warning"}
    payload = {"receiver": "release-pipeline", "status": "resolved" if result.decision == PROMOTE else "firing",
               "groupLabels": {"alertname": name}, "commonLabels": labels,
               "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": result.reason},
                           "startsAt": result.started.isoformat(), "endsAt": result.decided.isoformat()}],
               "decision": {"decision": result.decision, "reason": result.reason, "candidate": result.candidate,
                            "champion": result.champion, "seconds": round(result.seconds, 1),
                            "looks": len(result.steps)}}
    response = requests.post(webhook_url, json=payload, timeout=10)
    response.raise_for_status()
    log("decision_posted", url=webhook_url, status=response.status_code, alertname=name)
    return payload


# ---------------------------------------------------------------- the timeline

def plot_canary(result: CanaryResult, ax=None):
    """P95 latency of both versions at every look, the failed looks, and the decision; Axes returned.
    A linear axis from 0 when the latencies are alike; a log axis (ticks in ms) when they differ by over 20x."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    steps = result.steps
    ms = steps[["p95_champion_s", "p95_candidate_s"]].to_numpy(dtype=float) * 1000
    ax.plot(steps["t_s"], ms[:, 0], "o-", color="#1f77b4", label=f"champion {result.champion}")
    ax.plot(steps["t_s"], ms[:, 1], "s-", color="#ff7f0e", label=f"candidate {result.candidate}")
    seen = ms[np.isfinite(ms) & (ms > 0)]
    wide = seen.size > 0 and seen.max() / seen.min() > 20
    failed = steps[steps["failures"].map(bool)]
    ax.scatter(failed["t_s"], failed["p95_candidate_s"].fillna(0) * 1000 + (1e-3 if wide else 0), marker="o",
               s=260, facecolors="none", edgecolors="#d62728", linewidths=2, zorder=3,
               label="look with a failed check")
    if wide:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} ms"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(0, 1.25 * seen.max() if seen.size else 1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "0" if v == 0 else f"{v:g} ms"))
    colour = "#2ca02c" if result.decision == PROMOTE else "#d62728"
    ax.axvline(steps["t_s"].iloc[-1], color=colour, ls="--", label=f"{result.decision} after {result.seconds:.0f} s")
    ax.set_xlim(0, steps["t_s"].max() * 1.05 + 1)
    ax.set(xlabel="seconds since the canary started", ylabel="P95 latency (ms" + (", log scale)" if wide else ")"),
           title=f"Canary {result.candidate} at {result.weight:.0%} of the traffic: {result.decision}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax
