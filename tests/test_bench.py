"""`make bench`'s parsing of wrk's report, on real `wrk --latency` output (tests/data/wrk/).

The old parser searched for the first "99%" anywhere and crashed when a standard-deviation share such as
"72.99%" came first (stdev_share_ends_in_99.txt is a real report with its two "+/- Stdev" shares set to
72.99% and 68.50%, the values that broke it). The benchmark itself is `make bench`, not a test.
"""
import io
import re
from pathlib import Path

import pytest

from app.drift import PROFILE
from workshop.bench import WRK_SCRIPT, WrkOutputError, parse_wrk, without_drift_profile

SAMPLES = Path(__file__).parent / "data" / "wrk"


@pytest.mark.parametrize("name, expected", [
    ("ok_microseconds.txt", dict(req_per_s=11226.45, requests=23563, p50_ms=0.752, p99_ms=7.83, errors=0, non_2xx=0, socket_errors=0)),
    ("ok_slow_tail.txt", dict(req_per_s=5967.19, requests=12099, p50_ms=1.04, p99_ms=101.29, errors=0, non_2xx=0, socket_errors=0)),
    ("stdev_share_ends_in_99.txt", dict(req_per_s=11226.45, requests=23563, p50_ms=0.752, p99_ms=7.83, errors=0, non_2xx=0, socket_errors=0)),
])
def test_percentiles_come_from_the_latency_distribution_block(name, expected):
    result = parse_wrk((SAMPLES / name).read_text())
    assert result == pytest.approx(expected)


def test_non_2xx_responses_are_counted_as_errors():
    """errors.txt: a real run that sent a record with missing fields (every answer a 400)."""
    result = parse_wrk((SAMPLES / "errors.txt").read_text())
    assert (result["non_2xx"], result["socket_errors"], result["errors"], result["requests"]) == (578, 0, 578, 578)
    text = (SAMPLES / "errors.txt").read_text().replace("  Non-2xx", "  Socket errors: connect 0, read 2, write 0, "
                                                             "timeout 5\n  Non-2xx")
    assert parse_wrk(text)["errors"] == 578 + 7  # wrk prints this line only when sockets failed


@pytest.mark.parametrize("damage", ["no --latency", "no Requests/sec", "truncated block"])
def test_an_incomplete_report_is_refused_with_the_report_shown(damage):
    text = (SAMPLES / "ok_microseconds.txt").read_text()
    if damage == "no --latency":
        text = text.split("  Latency Distribution")[0] + text.split("7.83ms\n")[1]
    elif damage == "no Requests/sec":
        text = text.replace("Requests/sec:  11226.45\n", "")
    else:
        text = text.replace("     99%    7.83ms\n", "")
    with pytest.raises(WrkOutputError, match="not a complete"):
        parse_wrk(text)


def test_the_lua_body_survives_json_with_closing_double_brackets():
    body = '{"columns": ["V1"], "data": [[1.0], [2.0]]}'
    script = WRK_SCRIPT.format(body=body)
    opening = script.index("[==[") + 4
    assert script[opening:script.index("]==]")] == body


def test_the_drift_off_model_copy_has_everything_but_the_profile(model_dir, tmp_path):
    copy = without_drift_profile(model_dir, tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in model_dir.iterdir()
                                                            if p.is_file() and p.name != PROFILE)  # not models/<version>/


def test_the_old_unanchored_pattern_misreads_this_sample():
    """What issue 9 found: the first "99%" is the stdev share, and the token after it is not a latency."""
    text = (SAMPLES / "stdev_share_ends_in_99.txt").read_text()
    assert re.search(r"99%\s+(\S+)", text).group(1) == "Req/Sec"
    assert parse_wrk(text)["p99_ms"] == pytest.approx(7.83)


def test_the_flask_floor_answers_what_the_ceiling_answers():
    """The two reference cases differ only by Flask: same request read, same bytes back."""
    from workshop.bare_app import BODY
    from workshop.bare_app import app as bare_app
    from workshop.flask_floor_app import app as floor_app

    answer = floor_app.test_client().post("/predict", data=b'{"V1": 1}', content_type="application/json")
    seen = {}
    environ = {"CONTENT_LENGTH": "9", "wsgi.input": io.BytesIO(b'{"V1": 1}')}
    body = b"".join(bare_app(environ, lambda status, headers: seen.update(status=status, headers=dict(headers))))
    assert (answer.status, answer.data, answer.content_type) == (seen["status"], body, seen["headers"]["Content-Type"])
    assert body == BODY


def test_the_report_splits_the_gap_to_the_ceiling_into_flask_and_the_features():
    from workshop.bench_report import report

    def case(req_per_s, cpu_us):
        return dict(req_per_s=req_per_s, p50_ms=1.0, p99_ms=5.0, errors=0, cpu_us=cpu_us)
    single = {"ceiling": case(6000, 150), "flask_floor": case(3600, 250), "production": case(2000, 450),
              "drift_off": case(2050, 440), "logging_off": case(2200, 410), "split": case(1900, 470),
              "shadow": case(1800, 480), "naive": case(300, 3000)}
    text = report({"single": single, "batch": {}, "cold_start_s": {"ceiling": 0.5, "production": 1.5},
                   "rounds": 3, "seconds": 5, "connections": 8, "batch_rows": 1000})
    assert "floor: empty Flask view, same gunicorn" in text
    assert ("empty Flask view / ceiling throughput: 0.60 (the most a Flask app reaches); production / empty Flask "
            "view: 0.56; server CPU per request: gunicorn + HTTP 150 us, Flask +100 us, the features +200 us") in text
    assert "production / ceiling throughput: 0.33 (median of same-round ratios; goal >= 0.5: NOT met)" in text


def test_the_ratios_pair_cases_measured_in_the_same_round():
    """The machine slows down in round 2: each round's ratio cancels that, the ratio of medians would not."""
    from workshop.bench_report import paired
    per_round = {"ceiling": [6000, 3000, 4500], "production": [3100, 1400, 2000]}
    assert paired({"per_round_req_per_s": per_round, "single": {}}, "production", "ceiling") == pytest.approx(
        (1400 / 3000, 2000 / 4500, 3100 / 6000))
    assert 2000 / 4500 != pytest.approx(1400 / 3000)  # the unpaired ratio of the median runs differs
