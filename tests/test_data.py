"""The dataset layer: the synthetic generator's schema, determinism and realism, and the loaders' sources."""
import csv
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from workshop import synthetic
from workshop.data import (
    COLUMNS,
    FEATURES,
    MONITORED_FEATURES,
    TARGET,
    DataSchemaError,
    from_openml_frame,
    load_dataset,
    validate_schema,
)
from workshop.training import split_dataset

V = synthetic.V_COLUMNS


@pytest.fixture(scope="module")
def mid_frame():
    return synthetic.generate(50_000, seed=0)


@pytest.fixture(scope="module")
def small_frame():
    """5,000 rows with 50 frauds: enough to sample from, quick to write as CSV."""
    return synthetic.generate(5_000, seed=1, fraud_rate=0.01)


def write_csv(frame: pd.DataFrame, path) -> str:
    """Write like the Kaggle file does: quoted header and quoted Class ("0"), numbers bare."""
    frame.astype({TARGET: str}).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return str(path)


# ---------------------------------------------------------------- generator


def test_generated_frame_has_the_kaggle_schema(mid_frame):
    assert list(mid_frame.columns) == COLUMNS == [*FEATURES, TARGET]
    assert (mid_frame[FEATURES].dtypes == np.float64).all()
    assert mid_frame[TARGET].dtype == np.int64
    assert set(mid_frame[TARGET].unique()) == {0, 1}
    validate_schema(mid_frame)
    assert mid_frame["Time"].is_monotonic_increasing  # chronological, like the real file
    assert mid_frame["Time"].between(0, synthetic.TIME_MAX).all()
    assert (mid_frame["Time"] == mid_frame["Time"].round()).all()  # whole seconds
    assert (mid_frame["Amount"] >= 0).all()


def test_same_seed_gives_the_same_frame_and_another_seed_does_not():
    first = synthetic.generate(3_000, seed=7)
    pd.testing.assert_frame_equal(first, synthetic.generate(3_000, seed=7))
    other = synthetic.generate(3_000, seed=8)
    assert not np.allclose(first[V].to_numpy(), other[V].to_numpy())
    assert not first["Amount"].equals(other["Amount"])


def test_fraud_rate_and_key_statistics_match_the_real_data(mid_frame):
    stats = synthetic.measure_statistics(mid_frame)
    assert stats["frauds"] == round(50_000 * synthetic.FRAUD_RATE) == 86
    assert stats["Time mean (s)"] == pytest.approx(94_814, rel=0.03)
    assert stats["Amount mean"] == pytest.approx(88.35, rel=0.15)
    assert stats["Amount median"] == pytest.approx(22.0, rel=0.10)
    for name, reference in synthetic.REFERENCE_CLASS_CORRELATION.items():
        assert stats[f"corr({name}, Class)"] == pytest.approx(reference, abs=0.07), name

    assert mid_frame[V].std().to_numpy() == pytest.approx(synthetic.V_STD, rel=0.10)
    legit, fraud = mid_frame[mid_frame[TARGET] == 0], mid_frame[mid_frame[TARGET] == 1]
    assert np.abs(legit[V].mean().to_numpy()).max() < 0.05
    mean_direction = synthetic.V_FRAUD_MEAN
    along = fraud[V].mean().to_numpy() @ mean_direction / (mean_direction @ mean_direction)
    assert along == pytest.approx(1.0, abs=0.25)
    # heavy tails: far more 5-sigma legit values than a normal distribution's 6e-7
    z = legit[V].to_numpy() / synthetic.V_STD
    assert (np.abs(z) > 5).mean() > 1e-3


def test_small_samples_keep_a_handful_of_frauds_and_reject_nonsense():
    assert synthetic.generate(1_000, seed=0)[TARGET].sum() == synthetic.MIN_FRAUDS
    assert synthetic.generate(10_000, seed=0, fraud_rate=0.01)[TARGET].sum() == 100
    with pytest.raises(ValueError, match="n_rows"):
        synthetic.generate(5)
    with pytest.raises(ValueError, match="fraud_rate"):
        synthetic.generate(1_000, fraud_rate=0.0)


def test_full_size_generation_is_fast_and_matches_the_real_extremes():
    started = time.perf_counter()
    frame = synthetic.generate()
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"full-size generation took {elapsed:.1f} s"
    assert frame.shape == (284_807, 31)
    assert frame[TARGET].sum() == 492
    stats = synthetic.measure_statistics(frame)
    assert stats["Time max (s)"] == synthetic.TIME_MAX and frame["Time"].min() == 0
    assert stats["Amount max"] > 10_000  # heavy-tailed amounts, tens of thousands at the top
    assert 5 < stats["fraud Amount median"] < 15
    assert 80 < stats["fraud Amount mean"] < 170
    assert stats["fraud Amount max"] <= 2_125.87
    assert stats["V5 min"] < -50  # real: -113.7


def test_logistic_regression_is_good_but_not_perfect():
    """The property the lessons rely on: AP near the published 0.71-0.75, not a trivially separable 1.0."""
    split = split_dataset(synthetic.generate(150_000, seed=0), seed=42)
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    model.fit(split.X_train, split.y_train)
    x_test, y_test = split.X_test, split.y_test
    scores = model.predict_proba(x_test)[:, 1]
    assert 0.55 <= average_precision_score(y_test, scores) <= 0.85
    assert 0.90 <= roc_auc_score(y_test, scores) <= 0.995
    assert 0.4 <= recall_score(y_test, scores >= 0.5) <= 0.85


# ---------------------------------------------------------------- loaders


def test_feature_lists_and_split_helpers(small_frame):
    assert FEATURES == ["Time", *V, "Amount"]
    assert MONITORED_FEATURES == [*V, "Amount"]
    split = split_dataset(small_frame)
    assert list(split.X_train.columns) == FEATURES and split.y_train.name == TARGET
    assert (len(split.X_train), len(split.X_val), len(split.X_test)) == (3_000, 1_000, 1_000)
    assert [part.sum() for part in (split.y_train, split.y_val, split.y_test)] == [30, 10, 10]


def test_synthetic_source_reports_what_it_generated():
    frame, source = load_dataset("synthetic", n_rows=2_000, seed=3)
    pd.testing.assert_frame_equal(frame, synthetic.generate(2_000, seed=3))
    assert (source.name, source.n_rows, source.n_fraud) == ("synthetic", 2_000, frame[TARGET].sum())
    assert "Synthetic" in source.description and "2,000 rows" in source.description


def test_auto_uses_the_csv_when_present_and_synthetic_otherwise(tmp_path, small_frame):
    csv_path = tmp_path / "creditcard.csv"
    _, source = load_dataset("auto", n_rows=1_000, csv_path=csv_path)
    assert source.name == "synthetic"

    write_csv(small_frame, csv_path)
    frame, source = load_dataset("auto", csv_path=csv_path)
    assert source.name == "csv" and "creditcard.csv" in source.description
    assert (source.n_rows, source.n_fraud) == (5_000, 50)
    pd.testing.assert_frame_equal(frame, small_frame, check_exact=False, rtol=1e-12)


def test_csv_with_columns_in_another_order_is_reordered(tmp_path, small_frame):
    shuffled = small_frame[list(reversed(COLUMNS))]
    frame, _ = load_dataset("csv", csv_path=write_csv(shuffled, tmp_path / "c.csv"))
    assert list(frame.columns) == COLUMNS


def test_csv_subsample_is_stratified_seeded_and_chronological(tmp_path, small_frame):
    path = write_csv(small_frame, tmp_path / "c.csv")
    frame, source = load_dataset("csv", n_rows=1_000, seed=5, csv_path=path)
    assert len(frame) == 1_000 and frame[TARGET].sum() == 10
    assert frame["Time"].is_monotonic_increasing
    assert "stratified sample of 5,000" in source.description
    again, _ = load_dataset("csv", n_rows=1_000, seed=5, csv_path=path)
    pd.testing.assert_frame_equal(frame, again)
    other, _ = load_dataset("csv", n_rows=1_000, seed=6, csv_path=path)
    assert not frame["V1"].equals(other["V1"])


def _drop_v7(frame):
    return frame.drop(columns="V7")


def _add_column(frame):
    return frame.assign(Merchant=1.0)


def _class_two(frame):
    return frame.assign(Class=frame[TARGET].where(frame.index != 3, 2))


def _nan_in_v4(frame):
    return frame.assign(V4=frame["V4"].where(frame.index != 10))


def _text_in_v3(frame):
    return frame.assign(V3=frame["V3"].astype(str).where(frame.index != 0, "abc"))


@pytest.mark.parametrize(("corrupt", "message"), [
    (_drop_v7, "missing columns: V7"),
    (_add_column, "unexpected columns: Merchant"),
    (_class_two, "Class must be 0 or 1, found also: 2"),
    (_nan_in_v4, r"missing values \(NaN\) in: V4 \(1 rows\)"),
    (_text_in_v3, "non-numeric columns: V3"),
])
def test_invalid_csv_is_rejected_with_what_is_wrong(tmp_path, small_frame, corrupt, message):
    path = write_csv(corrupt(small_frame.head(50)), tmp_path / "creditcard.csv")
    with pytest.raises(DataSchemaError, match=message):
        load_dataset("csv", csv_path=path)
    with pytest.raises(DataSchemaError, match=message):
        load_dataset("auto", csv_path=path)  # a broken file is reported, never silently replaced


def test_missing_csv_and_unknown_source_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="kaggle.com"):
        load_dataset("csv", csv_path=tmp_path / "nothing.csv")
    with pytest.raises(ValueError, match="source must be one of"):
        load_dataset("kaggle")


def test_openml_frame_is_converted_to_the_kaggle_schema(small_frame):
    """OpenML 1597 has no Time and string labels; never downloaded in tests (no internet)."""
    openml_like = small_frame.drop(columns="Time").head(400).copy()
    openml_like[TARGET] = pd.Categorical(openml_like[TARGET].astype(str))
    converted = from_openml_frame(openml_like)
    assert list(converted.columns) == COLUMNS
    assert converted[TARGET].dtype == np.int64
    assert converted[TARGET].tolist() == small_frame[TARGET].head(400).tolist()
    pd.testing.assert_frame_equal(converted[V], small_frame[V].head(400))
    times = converted["Time"]
    assert times.is_monotonic_increasing and 0 <= times.min() and times.max() <= synthetic.TIME_MAX
    assert times.max() - times.min() > 0.9 * synthetic.TIME_MAX  # spread over the two days
    pd.testing.assert_frame_equal(converted, from_openml_frame(openml_like))  # deterministic

    quoted = openml_like.assign(Class=openml_like[TARGET].map({"0": "'0'", "1": "'1'"}).astype(str))
    assert from_openml_frame(quoted)[TARGET].tolist() == converted[TARGET].tolist()
    with pytest.raises(DataSchemaError, match="labels must be '0' or '1'"):
        from_openml_frame(openml_like.assign(Class="fraud"))
    with pytest.raises(DataSchemaError, match="missing columns"):
        from_openml_frame(openml_like.drop(columns="Amount"))
