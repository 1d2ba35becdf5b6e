"""The alerting lesson's rules from Python: list them, derive the lesson-speed copy, run promtool.

    rules_table()                                  # DataFrame: one row per recording or alerting rule
    lesson_rules(dst_dir)                          # fast copy of prometheus/rules/*.yml for the live lesson
    promtool("test", "rules", *rule_test_files())  # run promtool / amtool, get their output

The lesson-speed copy: production rules wait minutes (`for: 5m` over 5-minute windows); a live lesson
and CI cannot. `lesson_rules` DERIVES a copy from the committed files instead of keeping a second one:
range windows are divided by `window_speedup` (default 10: [5m] -> [30s], never below 20s = 4 scrapes at
5 s) and `for:` by `for_speedup` (default 30: 5m -> 10s, 1m -> 2s), or both follow an explicit mapping
({"5m": "30s", ...}). Thresholds, labels, annotations and rule names stay as they are, so
dashboards and alerts built on `job:...:rate5m` work unchanged (in the copy that name holds a 30 s rate).
With a 5 s scrape/evaluation interval, ModelLatencyP95High then fires 20-25 s into a latency fault and
resolves about 25 s after it is cleared; ModelApiDown fires 5-10 s after the app stops (tests/test_rules.py
checks this with promtool). Measured end to end, at the webhook with the committed Alertmanager timings
(group_wait 10s, group_interval 30s): 34 s, 30 s and 18 s.
"""
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from workshop.paths import LESSON_RULES_DIR, RULE_TESTS_DIR, RULES_DIR
from workshop.system_deps import install_hint

DERIVED_MARKER = "# DERIVED by workshop.rules"
# Files whose production windows are far longer than the alerting lesson's: their own (window, for) speedups.
# quality.yml: labels arrive over days, so 1d -> 1m, 7d -> 7m and `for: 1h` -> 10s (notebook 06).
LESSON_SPEEDUPS: dict[str, tuple[float, float]] = {"quality.yml": (1440, 360)}
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
# A range selector or subquery: [5m], [1h:30s], [10m:]. String literals are skipped before matching.
_RANGE = re.compile(rf"\[(\s*)({_DURATION})(\s*)(:(\s*)({_DURATION})?(\s*))?\]")
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


# ---------------------------------------------------------------- durations

def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as "90s", "1h30m" or "500ms"."""
    text = str(text).strip()
    if not re.fullmatch(_DURATION, text):
        raise ValueError(f"not a Prometheus duration: {text!r} (examples: 30s, 5m, 1h30m)")
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for `seconds`: 90 -> "1m30s", 7200 -> "2h", 0.5 -> "500ms"."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_UNITS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def duration_converter(spec: float | Mapping[str, str], minimum: str = "0s") -> Callable[[str], str]:
    """A function old duration -> new duration: divide by a speedup factor (whole seconds, at least
    `minimum`) or look the duration up in an explicit mapping (a duration it lacks is an error)."""
    if isinstance(spec, Mapping):
        table = {parse_duration(old): format_duration(parse_duration(new)) for old, new in spec.items()}

        def convert(duration: str) -> str:
            seconds = parse_duration(duration)
            if seconds not in table:
                raise KeyError(f"duration {duration!r} is not in the mapping {dict(spec)}")
            return table[seconds]
        return convert
    if isinstance(spec, bool) or not isinstance(spec, int | float) or spec <= 0:
        raise ValueError(f"a speedup must be a positive number or a mapping, not {spec!r}")
    floor = parse_duration(minimum)

    def scale(duration: str) -> str:
        return format_duration(max(floor, round(parse_duration(duration) / spec)))
    return scale


def rewrite_ranges(expr: str, window: Callable[[str], str], step: Callable[[str], str] | None = None) -> str:
    """`expr` with every range window (and subquery step, by `step`, default `window`) converted.
    String literals (regexes such as "5[0-9]{2}") are left alone, and so are offsets: they point at a
    real moment in the past."""
    step = step or window

    def replace(match: re.Match) -> str:
        sp1, duration, sp2, subquery, sp3, resolution, sp4 = match.groups()
        out = f"[{sp1}{window(duration)}{sp2}"
        if subquery:
            out += f":{sp3}{step(resolution) if resolution else ''}{sp4}"
        return out + "]"

    pieces, position = [], 0
    for literal in _STRING_LITERAL.finditer(expr):
        pieces.append(_RANGE.sub(replace, expr[position:literal.start()]))
        pieces.append(literal.group(0))
        position = literal.end()
    pieces.append(_RANGE.sub(replace, expr[position:]))
    return "".join(pieces)


# ---------------------------------------------------------------- reading rule files

@dataclass(frozen=True)
class Rule:
    file: str
    group: str
    kind: str  # "record" or "alert"
    name: str
    expr: str
    for_: str | None = None  # alerts only
    severity: str | None = None
    summary: str | None = None


def rule_files(rules_dir: str | Path = RULES_DIR) -> list[Path]:
    return sorted(Path(rules_dir).glob("*.yml"))


def rule_test_files(tests_dir: str | Path = RULE_TESTS_DIR) -> list[Path]:
    return sorted(Path(tests_dir).glob("*.yml"))


def load_rules(rules_dir: str | Path = RULES_DIR) -> list[Rule]:
    """Every rule of every *.yml file in `rules_dir`, in file order."""
    rules = []
    for path in rule_files(rules_dir):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                kind = "alert" if "alert" in rule else "record"
                for_ = rule.get("for", "0s") if kind == "alert" else None
                labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
                rules.append(Rule(path.name, group["name"], kind, rule[kind], rule["expr"].strip(), for_,
                                  labels.get("severity"), annotations.get("summary")))
    return rules


def rules_table(rules_dir: str | Path = RULES_DIR):
    """The rules as a pandas DataFrame for notebooks (file, group, kind, name, for, severity, ...)."""
    import pandas as pd

    frame = pd.DataFrame([vars(rule) for rule in load_rules(rules_dir)])
    columns = ["file", "group", "kind", "name", "for", "severity", "summary", "expr"]
    return frame.rename(columns={"for_": "for"})[columns]


# ---------------------------------------------------------------- the lesson-speed copy

class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as `|` blocks, so the derived files stay readable."""


_BlockDumper.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value,
                                                       style="|" if "\n" in value else None))


def derive_rules(config: dict, window: Callable[[str], str], for_: Callable[[str], str],
                 step: Callable[[str], str] | None = None) -> dict:
    """A copy of a parsed rule file with converted range windows (subquery steps) and `for:` durations."""
    derived = {"groups": []}
    for group in config.get("groups", []):
        group = dict(group)
        if "interval" in group:
            group["interval"] = for_(group["interval"])
        group["rules"] = [dict(rule, expr=rewrite_ranges(str(rule["expr"]), window, step),
                               **({"for": for_(rule["for"])} if "for" in rule else {}))
                          for rule in group.get("rules", [])]
        derived["groups"].append(group)
    return derived


def lesson_rules(dst_dir: str | Path = LESSON_RULES_DIR, src_dir: str | Path = RULES_DIR,
                 window_speedup: float | Mapping[str, str] = 10, for_speedup: float | Mapping[str, str] = 30,
                 min_window: str = "20s",
                 per_file: Mapping[str, tuple[float, float]] = LESSON_SPEEDUPS) -> list[Path]:
    """Write the lesson-speed variant of every rule file in `src_dir` into `dst_dir`; return the paths.

    `window_speedup` / `for_speedup`: speedup factors for range windows / `for:` durations, or explicit mappings
    such as {"5m": "30s", "2h": "10m"}. Factor-scaled windows never go below `min_window` (rate() needs
    at least two scrapes in its window; four are safer). `per_file` gives some files their own
    (window, for) speedups (default LESSON_SPEEDUPS). Derived files left from an earlier call are
    replaced; other files in `dst_dir` are left alone.
    """
    src_dir, dst_dir = Path(src_dir).resolve(), Path(dst_dir).resolve()
    if src_dir == dst_dir:
        raise ValueError("dst_dir must differ from src_dir: the committed rules are never overwritten")
    sources = rule_files(src_dir)
    if not sources:
        raise FileNotFoundError(f"no *.yml rule files in {src_dir}")
    window, step = duration_converter(window_speedup, min_window), duration_converter(window_speedup)
    for_ = duration_converter(for_speedup)
    dst_dir.mkdir(parents=True, exist_ok=True)
    for stale in dst_dir.glob("*.yml"):
        if stale.read_text().startswith(DERIVED_MARKER):
            stale.unlink()
    how = (f"range windows {_describe(window_speedup)} (at least {min_window})" if not isinstance(window_speedup, Mapping)
           else f"range windows {dict(window_speedup)}") + f", for: {_describe(for_speedup)}"
    written = []
    for source in sources:
        if source.name in per_file:
            file_window, file_for = per_file[source.name]
            conversions = (duration_converter(file_window, min_window), duration_converter(file_for),
                           duration_converter(file_window))
            file_how = f"range windows {_describe(file_window)} (at least {min_window}), for: {_describe(file_for)}"
        else:
            conversions, file_how = (window, for_, step), how
        derived = derive_rules(yaml.safe_load(source.read_text()) or {}, *conversions)
        header = (f"{DERIVED_MARKER}.lesson_rules from {source.name}: do not edit, edit the source instead.\n"
                  f"# Lesson speed: {file_how}.\n"
                  "# Rule names keep their production windows (rate5m holds a shorter rate here), so\n"
                  "# dashboards and alerts work unchanged.\n")
        path = dst_dir / source.name
        path.write_text(header + yaml.dump(derived, Dumper=_BlockDumper, sort_keys=False, width=110,
                                           allow_unicode=True))
        written.append(path)
    return written


def _describe(spec: float | Mapping[str, str]) -> str:
    return str(dict(spec)) if isinstance(spec, Mapping) else f"/ {spec:g}"


# ---------------------------------------------------------------- promtool / amtool

def _run_tool(name: str, args) -> subprocess.CompletedProcess:
    binary = shutil.which(name)
    if binary is None:
        raise FileNotFoundError(f"{name} is not installed: {install_hint()}")
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=300)


def promtool(*args) -> subprocess.CompletedProcess:
    """Run promtool, e.g. promtool("check", "rules", *rule_files()); output in .stdout/.stderr."""
    return _run_tool("promtool", args)


def amtool(*args) -> subprocess.CompletedProcess:
    """Run amtool, e.g. amtool("check-config", workshop.paths.ALERTMANAGER_CONFIG)."""
    return _run_tool("amtool", args)
