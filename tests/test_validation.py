"""record_to_row's one-pass check for the usual record gives what the per-field check gives, for any values."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.validation import RequestError, number, record_to_row

FEATURES = ["a", "b", "c"]
values = (st.integers() | st.integers(-10**20, 10**20) | st.floats() | st.booleans() | st.none()
          | st.text(max_size=3) | st.lists(st.integers(), max_size=2))


def field_by_field(record: dict) -> tuple[list[float] | None, str | None, str | None]:
    """The reference: number() on every field in order -> (row, None, None), or (None, reason, first bad field)."""
    for name in FEATURES:
        try:
            number(record[name], "body", name)
        except RequestError as exc:
            return None, exc.reason, name
    return [float(record[name]) for name in FEATURES], None, None


@settings(max_examples=400, derandomize=True, database=None)
@given(st.fixed_dictionaries({name: values for name in FEATURES}))
def test_fast_path_agrees_with_the_field_by_field_check(record):
    row, reason, field = field_by_field(record)
    try:
        got = record_to_row(record, FEATURES)
    except RequestError as exc:
        assert (exc.reason, exc.details["fields"]) == (reason, [field])
        return
    assert reason is None and [float(v) for v in got] == row  # ints within 1e15 convert exactly


@pytest.mark.parametrize("value, reason", [(True, "non_numeric"), (float("nan"), "non_finite"),
                                           (float("inf"), "non_finite"), (10**400, "out_of_range"),
                                           (-1e15 - 1, "out_of_range"), ("1", "non_numeric")])
def test_one_bad_value_among_good_ones_is_named(value, reason):
    with pytest.raises(RequestError) as caught:
        record_to_row({"a": 1, "b": value, "c": 2.5}, FEATURES)
    assert caught.value.reason == reason and caught.value.details["fields"] == ["b"]


def test_the_limits_themselves_are_accepted():
    assert record_to_row({"a": 1e15, "b": -10**15, "c": 0}, FEATURES) == [1e15, -10**15, 0]
