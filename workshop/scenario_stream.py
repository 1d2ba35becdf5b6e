"""A scenario's record stream, generated offline and seeded (the traffic simulator and the drift harness
replay it; see workshop.scenarios for the scenarios themselves)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import count

import numpy as np
import pandas as pd

from workshop.data import FEATURES, TARGET
from workshop.scenarios import ConceptDrift, FraudShare, Scenario, SuddenShift, parse_scenario


def reference_std(df: pd.DataFrame) -> dict[str, float]:
    """Population std of every feature: the unit of the shift scenarios unless another reference is given."""
    return {name: float(df[name].std(ddof=0)) for name in FEATURES}


def stream(df: pd.DataFrame, scenario: str | Scenario = "clean", n: int | None = None, seed: int = 0, *,
           std: Mapping[str, float] | None = None, with_label: bool = False) -> Iterator[tuple]:
    """Yield `(index, record, drifted)` for n records (endless if n is None) sampled with replacement from df.

    `record` holds exactly the model's input fields (Time, V1..V28, Amount) as floats, ready to POST.
    Deterministic for a given (df, scenario, seed); a scenario never changes the records before its onset,
    so every scenario's prefix equals the clean stream's. `std` overrides the per-feature reference stds
    used by shifts (e.g. the training profile's); by default they are computed from df.
    With `with_label=True` the tuples are `(index, record, drifted, label)` (the row's true Class).
    Bad arguments raise here, not at the first record.
    """
    scenario = parse_scenario(scenario)
    missing = [c for c in (*FEATURES, TARGET) if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}")
    if len(df) == 0:
        raise ValueError("df is empty")
    std = dict(reference_std(df) if std is None else std)
    unknown = sorted({s.feature for s in scenario.steps if isinstance(s, SuddenShift)} - set(std))
    if unknown:
        raise ValueError(f"no reference std given for {unknown}")
    values = df[FEATURES].to_numpy(dtype=np.float64)
    labels = df[TARGET].to_numpy().astype(int)
    pools = {True: np.flatnonzero(labels == 1), False: np.flatnonzero(labels == 0)}
    if any(isinstance(s, FraudShare) and 0 < s.share for s in scenario.steps) and not len(pools[True]):
        raise ValueError("a fraud-share scenario needs at least one fraud row in df")
    if any(isinstance(s, FraudShare | ConceptDrift) and s.share < 1 for s in scenario.steps) and not len(pools[False]):
        raise ValueError("a fraud-share scenario needs at least one legitimate row in df")
    # concept drift draws from its own generator: the rows and labels stay those of the clean stream
    return _records(scenario, values, labels, pools, std, n, np.random.default_rng(seed), with_label,
                    np.random.default_rng([seed, 1]))


def _records(scenario: Scenario, values: np.ndarray, labels: np.ndarray, pools: dict, std: dict,
             n: int | None, rng: np.random.Generator, with_label: bool,
             concept_rng: np.random.Generator) -> Iterator[tuple]:
    for index in count() if n is None else range(n):
        active = [s for s in scenario.steps if s.active(index)]
        wants = [w for w in (s.wants_fraud(rng) for s in active) if w is not None]
        if wants:  # the last fraud-share step wins
            pool = pools[wants[-1]]
            row = int(pool[rng.integers(len(pool))])
        else:
            row = int(rng.integers(len(values)))
        features = row
        if labels[row] == 1 and any(s.disguises(concept_rng) for s in active if isinstance(s, ConceptDrift)):
            features = int(pools[False][concept_rng.integers(len(pools[False]))])  # a fraud in legitimate clothes
        record = dict(zip(FEATURES, values[features].tolist(), strict=True))
        for step in active:
            step.transform(index, record, std)
        drifted = bool(active)
        yield (index, record, drifted, int(labels[row])) if with_label else (index, record, drifted)


def stream_frame(df: pd.DataFrame, scenario: str | Scenario = "clean", n: int = 1000, seed: int = 0, *,
                 std: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The same n records as a DataFrame: FEATURES, the true Class and the `drifted` flag, indexed by ordinal."""
    rows = [{**record, TARGET: label, "drifted": drifted}
            for _, record, drifted, label in stream(df, scenario, n, seed, std=std, with_label=True)]
    return pd.DataFrame(rows, columns=[*FEATURES, TARGET, "drifted"])
