"""The benchmark's report (workshop.bench): a table of the cases and the ratios that are the result, each
against its goal."""
import statistics

GOALS = {"share_of_ceiling": 0.50, "drift_on_off": 0.95, "logging_on_off": 0.85, "columnar_rows_per_s": 50_000}

LABELS = {"ceiling": "ceiling: bare WSGI, same gunicorn", "flask_floor": "floor: empty Flask view, same gunicorn",
          "production": "production: drift + pred. log on",
          "drift_off": "production, drift monitoring off", "logging_off": "production, prediction log off",
          "split": "split 90/10: linear + boosted trees", "shadow": "shadow: linear answers, trees shadow",
          "naive": "baseline: naive seed-style app"}


def paired(results: dict, case: str, reference: str) -> tuple[float, float, float] | None:
    """case / reference throughput, round by round (both measured within the same minute), as (median, min, max)
    over the rounds: a machine shared with other work drifts in speed, and pairing cancels that drift. None when
    a case was not run."""
    per_round = results.get("per_round_req_per_s") or {name: [r["req_per_s"]] for name, r in results["single"].items()}
    if case not in per_round or reference not in per_round:
        return None
    ratios = [a / b for a, b in zip(per_round[case], per_round[reference], strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def _paired_text(ratio: tuple[float, float, float], goal: float) -> str:
    median, low, high = ratio
    spread = f", rounds {low:.2f}-{high:.2f}" if high > low else ""
    return f"{median:.2f} (median of same-round ratios{spread}; {_goal(median, goal)})"


def _goal(value: float, goal: float) -> str:
    return f"goal >= {goal:g}: {'met' if value >= goal else 'NOT met'}"


def _cpu(r: dict) -> str:
    return "n/a" if r.get("cpu_us") is None else f"{r['cpu_us']:.0f}"


def _cpu_ratios(ceiling: dict, prod: dict, drift_off: dict) -> list[str]:
    if None in (ceiling.get("cpu_us"), prod.get("cpu_us"), drift_off.get("cpu_us")):
        return []
    return [f"server CPU per request (steadier than req/s on a shared machine): ceiling / production "
            f"{ceiling['cpu_us'] / prod['cpu_us']:.2f}, drift off / on {drift_off['cpu_us'] / prod['cpu_us']:.2f}"]


def _floor_lines(ceiling: dict, floor: dict | None, prod: dict) -> list[str]:
    """Where the gap to the ceiling goes: Flask itself (ceiling -> empty Flask view), then the lessons' features
    (empty Flask view -> production)."""
    if floor is None:
        return []
    cpu = ""
    if None not in (ceiling.get("cpu_us"), floor.get("cpu_us"), prod.get("cpu_us")):
        cpu = (f"; server CPU per request: gunicorn + HTTP {ceiling['cpu_us']:.0f} us, Flask "
               f"+{floor['cpu_us'] - ceiling['cpu_us']:.0f} us, the features +{prod['cpu_us'] - floor['cpu_us']:.0f} us")
    return [f"empty Flask view / ceiling throughput: {floor['req_per_s'] / ceiling['req_per_s']:.2f} (the most a Flask "
            f"app reaches); production / empty Flask view: {prod['req_per_s'] / floor['req_per_s']:.2f}{cpu}"]


def _versions_lines(prod: dict, split: dict, shadow: dict, dropped: float | None) -> list[str]:
    """Lesson 07: what a second model version costs the service, split and shadow, against one model."""
    drop = "n/a" if dropped is None else f"{dropped:.0%}"
    return [f"model versions, throughput vs one model: split 90/10 {split['req_per_s'] / prod['req_per_s']:.2f}, "
            f"shadow {shadow['req_per_s'] / prod['req_per_s']:.2f}",
            f"shadow latency bound: p50 {shadow['p50_ms']:.2f} ms vs {prod['p50_ms']:.2f} ms, p99 "
            f"{shadow['p99_ms']:.2f} ms vs {prod['p99_ms']:.2f} ms (one model); records the shadow queue dropped "
            f"at full load: {drop}"]


def report(results: dict) -> str:
    single, batch, cold = results["single"], results["batch"], results["cold_start_s"]
    ceiling, prod, naive = single["ceiling"], single["production"], single["naive"]
    lines = [f"POST /predict, {results['connections']} connections, {results['seconds']:g} s per run, median of "
             f"{results['rounds']} alternating rounds (naive: 1 run)",
             f"{'case':36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x ceiling':>10} {'x naive':>8}"
             f" {'CPU us/req':>11}"]
    for name, r in single.items():
        lines.append(f"{LABELS[name]:36} {r['req_per_s']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                     f"{r['errors']:7d} {r['req_per_s'] / ceiling['req_per_s']:10.2f} "
                     f"{r['req_per_s'] / naive['req_per_s']:8.1f} {_cpu(r):>11}")
    logged = paired(results, "production", "logging_off")
    lines += ["",
              f"production / ceiling throughput: {_paired_text(paired(results, 'production', 'ceiling'), GOALS['share_of_ceiling'])}; "
              f"p99 {prod['p99_ms']:.1f} ms vs the ceiling's {ceiling['p99_ms']:.1f} ms",
              *_floor_lines(ceiling, single.get("flask_floor"), prod),
              f"drift monitoring on / off throughput: "
              f"{_paired_text(paired(results, 'production', 'drift_off'), GOALS['drift_on_off'])}",
              *([f"prediction logging on / off throughput: {_paired_text(logged, GOALS['logging_on_off'])}"]
                if logged else []),
              *_cpu_ratios(ceiling, prod, single["drift_off"]),
              f"production / naive baseline throughput: {prod['req_per_s'] / naive['req_per_s']:.1f}x",
              *_versions_lines(prod, single["split"], single["shadow"], results.get("shadow_dropped_share")),
              "",
              f"POST /predict/batch, {results['batch_rows']:,}-row batches, production mode"]
    for fmt, label in (("columnar", 'columnar {"columns": [...], "data": [[...]]}'),
                       ("records", 'one object per record {"records": [...]}')):
        r = batch.get(fmt, {})
        if "unsupported" in r:
            lines.append(f"  {label:46} not served: {r['unsupported'][:120]}")
        elif r:
            lines.append(f"  {label:46} {r['rows_per_s']:9,.0f} rows/s  p99 {r['p99_ms']:.0f} ms  "
                         f"errors {r['errors']}  CPU {_cpu(r)} us per batch")
    if "rows_per_s" in batch.get("columnar", {}):
        rows = batch["columnar"]["rows_per_s"]
        lines.append(f"  columnar: {_goal(rows, GOALS['columnar_rows_per_s'])} rows/s"
                     + (f"; {rows / batch['records']['rows_per_s']:.1f}x the records format"
                        if "rows_per_s" in batch.get("records", {}) else ""))
    lines += ["",
              f"cold start, process start to /ready 200 (median of {results['rounds']}): production "
              f"{cold['production']:.2f} s, bare gunicorn {cold['ceiling']:.2f} s "
              f"(the app's own share: {cold['production'] - cold['ceiling']:.2f} s)"]
    return "\n".join(lines)

