"""Traffic scenarios: deterministic, exact onsets, the right amount of drift, clear errors for bad specs."""
from itertools import islice

import numpy as np
import pytest

from workshop.data import FEATURES, load_dataset
from workshop.scenario_stream import reference_std, stream, stream_frame
from workshop.scenarios import (
    EXAMPLES,
    FraudShare,
    GradualShift,
    Scale,
    Scenario,
    ScenarioSpecError,
    SuddenShift,
    fraud_share,
    gradual_shift,
    parse_scenario,
    scale,
    sudden_shift,
)


@pytest.fixture(scope="module")
def df():
    frame, _ = load_dataset(source="synthetic", n_rows=5_000, seed=3)
    return frame


def records(df, spec, n, seed=0, **kwargs):
    return list(stream(df, spec, n, seed, **kwargs))


def column(items, feature):
    return np.array([record[feature] for _, record, *_ in items])


@pytest.mark.parametrize("spec", EXAMPLES)
def test_every_example_is_deterministic_and_seeded(df, spec):
    first, again, other = records(df, spec, 300), records(df, spec, 300), records(df, spec, 300, seed=1)
    assert first == again
    assert first != other
    assert [i for i, *_ in first] == list(range(300))


def test_clean_replays_dataset_rows_exactly_and_is_never_drifted(df):
    rows = {tuple(r) for r in df[FEATURES].to_numpy().tolist()}
    items = records(df, "clean", 200)
    assert all(list(record) == FEATURES for _, record, _ in items)
    assert all(tuple(record.values()) in rows for _, record, _ in items)
    assert not any(drifted for *_, drifted in items)


def test_endless_stream_when_n_is_none(df):
    assert [i for i, *_ in islice(stream(df, "clean", None, 0), 2500)] == list(range(2500))


def test_sudden_shift_starts_exactly_at_onset(df):
    clean, shifted = records(df, "clean", 400), records(df, "shift:V14:1.5@150", 400)
    step = 1.5 * df["V14"].std(ddof=0)
    diff = column(shifted, "V14") - column(clean, "V14")
    assert np.all(diff[:150] == 0) and np.allclose(diff[150:], step)
    assert [d for *_, d in shifted] == [i >= 150 for i in range(400)]
    for feature in ("V1", "V17", "Amount", "Time"):  # nothing else moves
        assert np.array_equal(column(shifted, feature), column(clean, feature))


def test_shift_uses_a_given_reference_std(df):
    std = {**reference_std(df), "V14": 2.0}
    diff = column(records(df, "shift:V14:-1@0", 50, std=std), "V14") - column(records(df, "clean", 50), "V14")
    assert np.allclose(diff, -2.0)


def test_gradual_shift_ramps_linearly_to_the_full_shift(df):
    onset, ramp, sigmas = 100, 200, 2.0
    clean, drifting = records(df, "clean", 500), records(df, f"gradual:V14:{sigmas}@{onset}+{ramp}", 500)
    full = sigmas * df["V14"].std(ddof=0)
    diff = column(drifting, "V14") - column(clean, "V14")
    index = np.arange(500)
    expected = full * np.clip((index - onset + 1) / ramp, 0, 1) * (index >= onset)
    assert np.allclose(diff, expected)
    assert np.all(diff[:onset] == 0) and diff[onset] > 0  # drifted from the onset record on
    assert diff[onset + ramp // 2 - 1] == pytest.approx(full / 2)
    assert np.allclose(diff[onset + ramp - 1:], full)
    assert [d for *_, d in drifting] == list(index >= onset)


def test_scale_multiplies_from_onset(df):
    clean, scaled = records(df, "clean", 300), records(df, "scale:Amount:3@120", 300)
    before, after = column(clean, "Amount"), column(scaled, "Amount")
    assert np.array_equal(after[:120], before[:120])
    assert np.allclose(after[120:], 3 * before[120:])
    assert before[120:].sum() > 0


def test_fraud_share_is_reached_after_onset_and_prefix_is_clean(df):
    onset, n, share = 1_000, 6_000, 0.10
    clean = records(df, "clean", onset, with_label=True)
    items = records(df, f"fraud:{share}@{onset}", n, with_label=True)
    assert items[:onset] == clean
    labels = np.array([label for *_, label in items])
    tolerance = 3 * np.sqrt(share * (1 - share) / (n - onset))
    assert abs(labels[onset:].mean() - share) < tolerance
    assert [d for _, _, d, _ in items] == [i >= onset for i in range(n)]
    # frauds are real fraud rows of df, not relabelled legitimate ones
    fraud_rows = {tuple(r) for r in df.loc[df["Class"] == 1, FEATURES].to_numpy().tolist()}
    assert all(tuple(rec.values()) in fraud_rows for _, rec, _, label in items if label == 1)


def test_fraud_share_zero_removes_frauds(df):
    items = records(df, "fraud:0@0", 3_000, with_label=True)
    assert not any(label for *_, label in items)


def test_composed_steps_apply_in_order_with_their_own_onsets(df):
    clean, both = records(df, "clean", 100), records(df, "shift:V14:1@10,scale:Amount:2@20", 100)
    assert np.allclose(column(both, "Amount")[20:], 2 * column(clean, "Amount")[20:])
    assert np.array_equal(column(both, "Amount")[:20], column(clean, "Amount")[:20])
    assert np.all(column(both, "V14")[:10] == column(clean, "V14")[:10])
    assert [d for *_, d in both] == [i >= 10 for i in range(100)]
    composed = parse_scenario("shift:V14:1@10").then(parse_scenario("scale:Amount:2@20"))
    assert composed == parse_scenario("shift:V14:1@10,scale:Amount:2@20")
    assert composed.onset == 10 and parse_scenario("clean").onset is None


@pytest.mark.parametrize("spec, expected", [
    ("clean", Scenario()),
    ("shift:V14:1.0@500", Scenario((SuddenShift(500, "V14", 1.0),))),
    ("shift:V14:-0.5", Scenario((SuddenShift(0, "V14", -0.5),))),
    ("gradual:V14:1.0@500+2000", Scenario((GradualShift(500, "V14", 1.0, 2000),))),
    ("scale:Amount:3@0", Scenario((Scale(0, "Amount", 3.0),))),
    ("fraud:0.10@0", Scenario((FraudShare(0, 0.10),))),
    (" fraud:1e-1@7 , scale:Time:2 ", Scenario((FraudShare(7, 0.1), Scale(0, "Time", 2.0)))),
])
def test_parse_specs(spec, expected):
    scenario = parse_scenario(spec)
    assert scenario == expected
    assert parse_scenario(scenario.name) == scenario  # the name is a canonical spec
    assert scenario.description and parse_scenario(scenario) is scenario


@pytest.mark.parametrize("spec, message", [
    ("", "empty scenario spec"),
    ("drift:V14:1", "unknown scenario 'drift'"),
    ("shift:V99:1@0", "unknown feature 'V99'"),
    ("shift:V14:abc", "expected shift:FEATURE:SIGMAS[@ONSET]"),
    ("shift:V14:nan@3", "expected shift:FEATURE:SIGMAS[@ONSET]"),
    ("shift:V14:1@-5", "expected shift:FEATURE:SIGMAS[@ONSET]"),
    ("gradual:V14:1@5", "expected gradual:FEATURE:SIGMAS@ONSET+RAMP"),
    ("gradual:V14:1@5+0", "RAMP must be at least 1"),
    ("fraud:10@0", "SHARE is a fraction in [0, 1]"),
    ("scale:Amount", "expected scale:FEATURE:FACTOR[@ONSET]"),
    ("scale:Amount:1e999", "FACTOR must be a finite number"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ScenarioSpecError) as info:
        parse_scenario(spec)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_factories_match_specs_and_validate_like_the_parser():
    assert sudden_shift("V14", 1.0, onset=500) == parse_scenario("shift:V14:1.0@500")
    assert gradual_shift("V14", 1.0, 500, 2000) == parse_scenario("gradual:V14:1@500+2000")
    assert scale("Amount", 3) == parse_scenario("scale:Amount:3@0")
    assert fraud_share(0.1) == parse_scenario("fraud:0.1")
    for make, message in ((lambda: sudden_shift("V14", float("inf")), "SIGMAS must be a finite"),
                          (lambda: scale("v14", 2), "unknown feature"),
                          (lambda: fraud_share(0.1, onset=-1), "ONSET is a record index"),
                          (lambda: gradual_shift("V14", 1, 0, ramp=0), "RAMP must be at least 1")):
        with pytest.raises(ValueError, match=message):
            make()


def test_stream_checks_its_data(df):
    with pytest.raises(ValueError, match="lacks columns"):
        stream(df.drop(columns=["V3"]), "clean", 1)
    with pytest.raises(ValueError, match="at least one fraud row"):
        stream(df[df["Class"] == 0], "fraud:0.1@0", 1)
    with pytest.raises(ValueError, match="no reference std given for"):
        stream(df, "shift:V14:1", 1, std={"V1": 1.0})


def test_stream_frame_holds_the_same_records(df):
    frame = stream_frame(df, "gradual:Amount:1@20+10", 50, seed=4)
    items = records(df, "gradual:Amount:1@20+10", 50, seed=4, with_label=True)
    assert list(frame.columns) == [*FEATURES, "Class", "drifted"] and list(frame.index) == list(range(50))
    assert frame[FEATURES].to_dict(orient="records") == [record for _, record, _, _ in items]
    assert frame["Class"].tolist() == [label for *_, label in items]
    assert frame["drifted"].tolist() == [i >= 20 for i in range(50)]
