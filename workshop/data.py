"""The credit-card fraud data the lessons train and monitor on, from one of three sources (see data/README.md).

- "csv": the real Kaggle file, put by the user at data/creditcard.csv (validated before use);
- "openml": the same rows from OpenML (data_id 1597) -- needs internet, used only when asked for;
- "synthetic": workshop.synthetic.generate, offline and seeded;
- "auto": "csv" when the file exists, else "synthetic".

    frame, source = load_dataset()
    print(source.description)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import train_test_split

from workshop import synthetic
from workshop.paths import DATA_DIR

TARGET = "Class"
FEATURES = ["Time", *synthetic.V_COLUMNS, "Amount"]
COLUMNS = [*FEATURES, TARGET]
MONITORED_FEATURES = [name for name in FEATURES if name != "Time"]  # Time only grows: drift by design
DEFAULT_CSV_PATH = DATA_DIR / "creditcard.csv"
SOURCES = ("auto", "csv", "openml", "synthetic")
OPENML_DATA_ID = 1597
KAGGLE_URL = "https://www.kaggle.com/datasets/mlg-ulb/creditcardfraud"


class DataSchemaError(ValueError):
    """A data frame is not shaped like the Kaggle credit-card fraud data; the message says what is wrong."""


@dataclass(frozen=True)
class DataSource:
    """Where a loaded frame came from; `description` is meant to be printed by the notebooks."""

    name: str  # "csv" | "openml" | "synthetic"
    description: str
    n_rows: int
    n_fraud: int

    @property
    def fraud_rate(self) -> float:
        return self.n_fraud / self.n_rows


def validate_schema(frame: pd.DataFrame) -> None:
    """Raise DataSchemaError unless `frame` has exactly the 31 Kaggle columns (any order), all numeric and
    finite, no missing values, at least one row, and Class only 0 or 1."""
    problems = []
    columns = list(frame.columns)
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    missing = [name for name in COLUMNS if name not in columns]
    extra = [name for name in columns if name not in COLUMNS]
    for label, names in (("duplicated", duplicated), ("missing", missing), ("unexpected", extra)):
        if names:
            problems.append(f"{label} columns: {', '.join(map(str, names))}")
    if problems:
        raise DataSchemaError(f"{'; '.join(problems)} (expected exactly: Time, V1..V28, Amount, Class)")
    if frame.empty:
        raise DataSchemaError("the data has no rows")

    non_numeric = [name for name in COLUMNS
                   if not ptypes.is_numeric_dtype(frame[name]) or ptypes.is_bool_dtype(frame[name])]
    if non_numeric:
        raise DataSchemaError(f"non-numeric columns: {', '.join(non_numeric)}")
    missing_values = frame[COLUMNS].isna().sum()
    if missing_values.any():
        counts = ", ".join(f"{name} ({n} rows)" for name, n in missing_values[missing_values > 0].items())
        raise DataSchemaError(f"missing values (NaN) in: {counts}")
    infinite = [name for name in COLUMNS if not np.isfinite(frame[name].to_numpy(dtype=float)).all()]
    if infinite:
        raise DataSchemaError(f"infinite values in: {', '.join(infinite)}")
    bad_classes = sorted(set(frame[TARGET].unique()) - {0, 1})
    if bad_classes:
        raise DataSchemaError(f"{TARGET} must be 0 or 1, found also: {', '.join(map(str, bad_classes[:10]))}")


def stratified_sample(frame: pd.DataFrame, n_rows: int, seed: int = 0) -> pd.DataFrame:
    """`n_rows` rows keeping the fraud share, in their original (chronological) order; the whole frame
    when it has no more than `n_rows` rows."""
    if n_rows >= len(frame):
        return frame
    sample, _ = train_test_split(frame, train_size=n_rows, stratify=frame[TARGET], random_state=seed)
    return sample.sort_index().reset_index(drop=True)


def from_openml_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert OpenML 1597 (V1..V28, Amount, Class as strings '0'/'1', no Time) to the Kaggle schema.

    OpenML dropped the Time column. It is replaced by a deterministic synthetic one: evenly spaced
    quantiles of the generator's two-day day/night profile (0..172,792 s), assigned in row order because
    the rows keep the original file's chronological order. Time is therefore realistic in range and
    rhythm but not the real timestamp of any transaction.
    """
    expected = [*synthetic.V_COLUMNS, "Amount", TARGET]
    missing = [name for name in expected if name not in frame.columns]
    extra = [name for name in frame.columns if name not in expected]
    if missing or extra:
        raise DataSchemaError(f"OpenML frame: missing columns {missing}, unexpected columns {extra}")
    labels = frame[TARGET].astype(str).str.strip().str.strip("'\"")
    unknown = sorted(set(labels) - {"0", "1"})
    if unknown:
        raise DataSchemaError(f"OpenML frame: {TARGET} labels must be '0' or '1', found also {unknown[:10]}")
    converted = frame[expected[:-1]].astype(np.float64).reset_index(drop=True)
    converted.insert(0, "Time", synthetic.evenly_spaced_times(len(frame)))
    converted[TARGET] = labels.astype(np.int64).to_numpy()
    validate_schema(converted)
    return converted


def read_csv(path: Path | str) -> pd.DataFrame:
    """Read and validate the Kaggle CSV; columns come back in COLUMNS order with an int64 Class."""
    frame = pd.read_csv(path)
    try:
        validate_schema(frame)
    except DataSchemaError as error:
        raise DataSchemaError(f"{path}: {error}") from None
    return frame[COLUMNS].astype({TARGET: np.int64})


def _fetch_openml() -> pd.DataFrame:
    from sklearn.datasets import fetch_openml  # network access, only when this source is asked for

    try:
        bunch = fetch_openml(data_id=OPENML_DATA_ID, as_frame=True, parser="auto")
    except OSError as error:
        raise RuntimeError(f"could not download OpenML dataset {OPENML_DATA_ID} (needs internet): {error}. "
                           "Use source='synthetic', or put creditcard.csv in data/ (see data/README.md).") from error
    return from_openml_frame(bunch.frame)


def _describe(name: str, frame: pd.DataFrame, full_rows: int, origin: str) -> DataSource:
    n_rows, n_fraud = len(frame), int(frame[TARGET].sum())
    sampled = f" (stratified sample of {full_rows:,})" if n_rows < full_rows else ""
    text = f"{origin}: {n_rows:,} rows{sampled}, {n_fraud:,} frauds ({n_fraud / n_rows:.3%})."
    return DataSource(name=name, description=text, n_rows=n_rows, n_fraud=n_fraud)


def load_dataset(source: str = "auto", n_rows: int | None = None, seed: int = 0,
                 csv_path: Path | str = DEFAULT_CSV_PATH) -> tuple[pd.DataFrame, DataSource]:
    """Load the fraud data with Kaggle's columns (Time, V1..V28, Amount, Class) and say where it came from.

    `n_rows` takes a seeded stratified sample of the csv/openml data (all of it when smaller) and is the
    generated size for "synthetic" (default: the real file's 284,807 rows). `seed` drives both.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    csv_path = Path(csv_path)
    if source == "auto":
        source = "csv" if csv_path.is_file() else "synthetic"

    if source == "synthetic":
        frame = synthetic.generate(n_rows or synthetic.FULL_ROWS, seed=seed)
        origin = (f"Synthetic credit-card-fraud-like data (workshop.synthetic, seed {seed}; not the real data -- "
                  f"put creditcard.csv in data/ to use it)")
        return frame, _describe(source, frame, len(frame), origin)

    if source == "csv":
        if not csv_path.is_file():
            raise FileNotFoundError(f"{csv_path} not found: download creditcard.csv from {KAGGLE_URL} "
                                    "and put it there (see data/README.md), or use source='synthetic'")
        frame, origin = read_csv(csv_path), f"Kaggle credit-card fraud data ({csv_path.name})"
    else:
        frame = _fetch_openml()
        origin = f"OpenML dataset {OPENML_DATA_ID} (Kaggle rows; Time synthesised from a day/night profile)"
    full_rows = len(frame)
    frame = stratified_sample(frame, n_rows, seed) if n_rows else frame
    return frame, _describe(source, frame, full_rows, origin)
