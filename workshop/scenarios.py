"""Traffic scenarios: seeded, composable transforms of the replayed record stream, with drift ground truth.

A scenario is a list of steps. Each step starts at an exact record index (`onset`, counted from the start
of the stream) and either changes the record (shift, gradual shift, scale) or changes which rows are
sampled (fraud share). A record is *drifted* when any step is active for its index: that is the ground truth
the drift lesson measures detection delay against.

Select scenarios with short specs (steps joined by commas):

    clean                        records replayed as sampled
    shift:V14:1.0@500            from record 500 on, V14 + 1.0 x its reference std
    gradual:V14:1.0@500+2000     same shift, ramped in linearly over 2000 records
    scale:Amount:3@0             Amount x 3 from the first record
    fraud:0.10@0                 frauds make up 10 % of the records from record 0 on
    concept:0.8@500              from record 500 on, 80 % of the frauds look like legitimate transactions
                                 (concept drift: same inputs, another meaning; recall falls, inputs barely move)
    shift:V14:1.0@500,scale:Amount:3@1000

`workshop.scenario_stream.stream(df, scenario, n, seed)` generates the records offline, without any server.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from workshop.data import FEATURES


@dataclass(frozen=True)
class Step:
    """One drift step. Subclasses override `transform` (change a record) or `wants_fraud` (change sampling)."""

    onset: int

    def __post_init__(self):
        if isinstance(self.onset, bool) or not isinstance(self.onset, int) or self.onset < 0:
            raise ValueError(f"ONSET is a record index >= 0, got {self.onset!r}")

    def active(self, index: int) -> bool:
        return index >= self.onset

    def transform(self, index: int, record: dict, std: Mapping[str, float]) -> None:
        """Change `record` in place (only called while active)."""

    def wants_fraud(self, rng: np.random.Generator) -> bool | None:
        """Whether the next row should be a fraud (only called while active); None: no opinion."""
        return None


def _check_feature(feature: str) -> None:
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; expected one of Time, V1..V28, Amount")


def _check_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_share(share: float, example: str) -> None:
    _check_finite("SHARE", share)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"SHARE is a fraction in [0, 1] ({example}), got {share:g}")


@dataclass(frozen=True)
class SuddenShift(Step):
    feature: str
    sigmas: float

    def __post_init__(self):
        super().__post_init__()
        _check_feature(self.feature)
        _check_finite("SIGMAS", self.sigmas)

    @property
    def spec(self) -> str:
        return f"shift:{self.feature}:{self.sigmas:g}@{self.onset}"

    @property
    def description(self) -> str:
        return f"{self.feature} shifted by {self.sigmas:+g} reference std from record {self.onset} on"

    def transform(self, index, record, std):
        record[self.feature] += self.sigmas * std[self.feature]


@dataclass(frozen=True)
class GradualShift(SuddenShift):
    ramp: int

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.ramp, bool) or not isinstance(self.ramp, int) or self.ramp < 1:
            raise ValueError(f"RAMP must be at least 1 record, got {self.ramp!r}")

    @property
    def spec(self) -> str:
        return f"gradual:{self.feature}:{self.sigmas:g}@{self.onset}+{self.ramp}"

    @property
    def description(self) -> str:
        return (f"{self.feature} shifted by up to {self.sigmas:+g} reference std, ramped in linearly over "
                f"records {self.onset}..{self.onset + self.ramp - 1}")

    def progress(self, index: int) -> float:
        """Share of the full shift applied at `index`: 1/ramp at onset, 1 from onset + ramp - 1 on."""
        return min(1.0, (index - self.onset + 1) / self.ramp) if index >= self.onset else 0.0

    def transform(self, index, record, std):
        record[self.feature] += self.progress(index) * self.sigmas * std[self.feature]


@dataclass(frozen=True)
class Scale(Step):
    feature: str
    factor: float

    def __post_init__(self):
        super().__post_init__()
        _check_feature(self.feature)
        _check_finite("FACTOR", self.factor)

    @property
    def spec(self) -> str:
        return f"scale:{self.feature}:{self.factor:g}@{self.onset}"

    @property
    def description(self) -> str:
        return f"{self.feature} multiplied by {self.factor:g} from record {self.onset} on"

    def transform(self, index, record, std):
        record[self.feature] *= self.factor


@dataclass(frozen=True)
class FraudShare(Step):
    share: float

    def __post_init__(self):
        super().__post_init__()
        _check_share(self.share, "0.10 means 10 %")

    @property
    def spec(self) -> str:
        return f"fraud:{self.share:g}@{self.onset}"

    @property
    def description(self) -> str:
        return f"frauds make up {self.share:.3%} of the records from record {self.onset} on (label shift)"

    def wants_fraud(self, rng):
        return bool(rng.random() < self.share)


@dataclass(frozen=True)
class ConceptDrift(Step):
    """Fraudsters change pattern: a share of the frauds arrive with a legitimate transaction's features (their
    label stays 1). P(fraud | x) changes while P(x) barely does: recall falls, input-drift statistics stay quiet."""
    share: float

    def __post_init__(self):
        super().__post_init__()
        _check_share(self.share, "0.8 means 80 % of frauds disguised")

    @property
    def spec(self) -> str:
        return f"concept:{self.share:g}@{self.onset}"

    @property
    def description(self) -> str:
        return f"{self.share:.0%} of the frauds look like legitimate transactions from record {self.onset} on (concept drift)"

    def disguises(self, rng) -> bool:
        return bool(rng.random() < self.share)


@dataclass(frozen=True)
class Scenario:
    """A named, ordered list of steps; `clean` has none."""

    steps: tuple[Step, ...] = ()
    name: str = field(default="")

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", ",".join(s.spec for s in self.steps) or "clean")

    @property
    def description(self) -> str:
        return "; ".join(s.description for s in self.steps) or "records replayed as sampled"

    @property
    def onset(self) -> int | None:
        """Index of the first drifted record (None for a clean scenario)."""
        return min((s.onset for s in self.steps), default=None)

    def drifted(self, index: int) -> bool:
        return any(s.active(index) for s in self.steps)

    def then(self, *others: Scenario) -> Scenario:
        """Compose: this scenario's steps followed by the others' (applied in that order)."""
        return Scenario(self.steps + tuple(s for o in others for s in o.steps))

    def __str__(self) -> str:
        return f"{self.name}: {self.description}"


def clean() -> Scenario:
    """Records replayed as sampled."""
    return Scenario()


def sudden_shift(feature: str, sigmas: float, onset: int = 0) -> Scenario:
    """From record `onset` on, add `sigmas` x the feature's reference std (e.g. a 1-sigma shift of V14)."""
    return Scenario((SuddenShift(onset, feature, sigmas),))


def gradual_shift(feature: str, sigmas: float, onset: int = 0, ramp: int = 1000) -> Scenario:
    """Like sudden_shift, but ramped in linearly over `ramp` records."""
    return Scenario((GradualShift(onset, feature, sigmas, ramp),))


def scale(feature: str, factor: float, onset: int = 0) -> Scenario:
    """From record `onset` on, multiply the feature by `factor` (e.g. Amount x 3)."""
    return Scenario((Scale(onset, feature, factor),))


def concept_drift(share: float, onset: int = 0) -> Scenario:
    """From record `onset` on, a `share` of the frauds carry a legitimate row's features (label still 1)."""
    return Scenario((ConceptDrift(onset, share),))


def fraud_share(share: float, onset: int = 0) -> Scenario:
    """From record `onset` on, resample so that frauds make up `share` of the records (e.g. 0.10)."""
    return Scenario((FraudShare(onset, share),))


# ---------------------------------------------------------------- the spec language

class ScenarioSpecError(ValueError):
    """A scenario spec that cannot be parsed; the message shows the accepted forms."""


NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
FEATURE = r"(?P<feature>\w+)"
ONSET = r"(?:@(?P<onset>\d+))?"  # optional, defaults to 0



class Kind(NamedTuple):
    """One entry of the registry: what follows "keyword:" in a spec, and how to build the scenario."""

    pattern: re.Pattern
    usage: str
    description: str
    build: Callable[[re.Match], Scenario]


REGISTRY = {
    "shift": Kind(re.compile(rf"{FEATURE}:(?P<sigmas>{NUMBER}){ONSET}"), "shift:FEATURE:SIGMAS[@ONSET]",
                  "sudden shift by SIGMAS x the feature's reference std",
                  lambda m: sudden_shift(m["feature"], float(m["sigmas"]), _onset(m))),
    "gradual": Kind(re.compile(rf"{FEATURE}:(?P<sigmas>{NUMBER})@(?P<onset>\d+)\+(?P<ramp>\d+)"),
                    "gradual:FEATURE:SIGMAS@ONSET+RAMP", "the same shift, ramped in linearly over RAMP records",
                    lambda m: gradual_shift(m["feature"], float(m["sigmas"]), _onset(m), int(m["ramp"]))),
    "scale": Kind(re.compile(rf"{FEATURE}:(?P<factor>{NUMBER}){ONSET}"), "scale:FEATURE:FACTOR[@ONSET]",
                  "the feature multiplied by FACTOR", lambda m: scale(m["feature"], float(m["factor"]), _onset(m))),
    "fraud": Kind(re.compile(rf"(?P<share>{NUMBER}){ONSET}"), "fraud:SHARE[@ONSET]",
                  "frauds resampled to make up SHARE (0..1) of the records",
                  lambda m: fraud_share(float(m["share"]), _onset(m))),
    "concept": Kind(re.compile(rf"(?P<share>{NUMBER}){ONSET}"), "concept:SHARE[@ONSET]",
                    "concept drift: a SHARE (0..1) of the frauds carry legitimate features",
                    lambda m: concept_drift(float(m["share"]), _onset(m))),
}
EXAMPLES = ("clean", "shift:V14:1.0@500", "gradual:V14:1.0@500+2000", "scale:Amount:3@0", "fraud:0.10@0",
            "concept:0.8@500", "shift:V14:1.0@500,scale:Amount:3@1000")


def usage() -> str:
    forms = "\n".join(f"  {kind.usage:<36}{kind.description}" for kind in REGISTRY.values())
    return (f"scenario specs (join several with commas):\n  {'clean':<36}records replayed as sampled\n{forms}\n"
            f"FEATURE is one of Time, V1..V28, Amount; ONSET is a record index (default 0).\n"
            f"examples: {'  '.join(EXAMPLES)}")


def parse_scenario(spec: str | Scenario) -> Scenario:
    """Parse a spec such as 'shift:V14:1.0@500' or 'fraud:0.1@0,scale:Amount:3@0' (a Scenario passes through)."""
    if isinstance(spec, Scenario):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ScenarioSpecError(f"empty scenario spec\n{usage()}")
    steps = []
    for part in (p.strip() for p in spec.split(",")):
        if part == "clean":
            continue
        keyword, _, rest = part.partition(":")
        if keyword not in REGISTRY:
            raise ScenarioSpecError(f"unknown scenario {keyword!r} in {spec!r}\n{usage()}")
        kind = REGISTRY[keyword]
        match = kind.pattern.fullmatch(rest)
        if match is None:
            raise ScenarioSpecError(f"cannot parse {part!r}: expected {kind.usage}\n{usage()}")
        try:
            steps.extend(kind.build(match).steps)
        except ValueError as exc:
            raise ScenarioSpecError(f"{part!r}: {exc}") from None
    return Scenario(tuple(steps))


def _onset(m: re.Match) -> int:
    return int(m["onset"] or 0)
