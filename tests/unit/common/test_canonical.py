import math

import pytest

from venom_common.canonical import NonFiniteNumber, canonical_dumps, strict_loads


def test_sorted_compact_utf8() -> None:
    assert canonical_dumps({"b": 1, "a": [1, 2, {"d": "é", "c": None}]}) == '{"a":[1,2,{"c":null,"d":"é"}],"b":1}'.encode()


def test_same_object_same_bytes_whatever_insertion_order() -> None:
    assert canonical_dumps({"x": 1, "y": 2}) == canonical_dumps({"y": 2, "x": 1})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_refused(bad: float) -> None:
    with pytest.raises(NonFiniteNumber):
        canonical_dumps({"v": [1, bad]})


@pytest.mark.parametrize("text", ['{"v": NaN}', '{"v": Infinity}', '[-Infinity]'])
def test_strict_loads_refuses_constants(text: str) -> None:
    with pytest.raises(NonFiniteNumber):
        strict_loads(text)


def test_strict_loads_round_trip() -> None:
    value = {"a": 1.5, "b": "ü", "c": [True, None]}
    assert strict_loads(canonical_dumps(value)) == value


# --- the fast encoder is byte-identical to the reference json.dumps (the ledger's hashed bytes) ---

import json  # noqa: E402
import sys  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from venom_common.canonical import reference_dumps  # noqa: E402

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: big integers included
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)  # subnormals, ±0.0, 1e-07, 1e+16, …
    | st.sampled_from([0.1, 1e-07, 1e16, 1e+22, -0.0, 5e-324, 1.7976931348623157e308, 123456789012345680.0, 0.004211])
    | st.text()  # any Unicode: control characters, quotes, backslashes, astral planes, U+2028
)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
                     max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(), _JSON, max_size=8) | st.lists(_JSON, max_size=8))
def test_fast_path_is_byte_identical_to_json_dumps(value: object) -> None:
    try:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: neither encodes
        with pytest.raises(UnicodeEncodeError):
            canonical_dumps(value)
        return
    assert canonical_dumps(value) == expected == reference_dumps(value)


def test_scalars_and_tuples_take_the_reference_path() -> None:
    for value in ("é\n", 1.0, 2**70, None, True, (1, "a"), [(1, 2)]):
        assert canonical_dumps(value) == reference_dumps(value)


def test_lone_surrogate_fails_like_the_reference() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_dumps({"s": "\ud800"})


def test_unserialisable_and_unsortable_fail_like_the_reference() -> None:
    with pytest.raises(TypeError):
        canonical_dumps({"x": object()})
    with pytest.raises(TypeError):
        canonical_dumps({1: "a", "b": 2})


def test_circular_value_fails_like_the_reference() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(NonFiniteNumber):  # json.dumps: ValueError "Circular reference detected"
        reference_dumps(loop)
    limit = sys.getrecursionlimit()
    with pytest.raises(NonFiniteNumber):
        canonical_dumps(loop)
    assert sys.getrecursionlimit() == limit


def test_non_finite_nested_deep_is_refused() -> None:
    with pytest.raises(NonFiniteNumber):
        canonical_dumps({"a": [{"b": [math.inf]}]})


# --- canonical_dumps_json: orjson where its bytes are provably the reference's -----------------------

import random  # noqa: E402
import struct  # noqa: E402

import venom_common.canonical as canonical_module  # noqa: E402
from venom_common.canonical import canonical_dumps_json  # noqa: E402

_JSON_ONLY = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _JSON_ONLY, max_size=8) | st.lists(_JSON_ONLY, max_size=8))
def test_json_fast_path_is_byte_identical_to_json_dumps(value: object) -> None:
    try:
        expected = reference_dumps(value)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            canonical_dumps_json(value)
        return
    assert canonical_dumps_json(value) == expected


def test_json_fast_path_on_random_doubles() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        raw = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        for x in (raw, rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-8, 18), round(rng.random(), 4)):
            if math.isfinite(x):
                assert canonical_dumps_json({"x": [x, -x]}) == reference_dumps({"x": [x, -x]}), repr(x)


@pytest.mark.parametrize("value", [1e-05, 1.5e-05, 9.99e-05, 1e16, 1.2345678901234568e+17, 5e-324, 1e+22, 0.0001, -0.0,
                                   2**64, 2**63 - 1, -(2**63), 10.00001])
def test_json_fast_path_edge_numbers(value: float) -> None:
    assert canonical_dumps_json({"v": value, "s": "1e16 0.00001 null"}) == reference_dumps({"v": value, "s": "1e16 0.00001 null"})
    # first in a list, later in a list, nested: every place a number token can start
    for wrapped in ([value], [1, value], {"a": [{"b": value}, "x"]}, [[value, -value]]):
        assert canonical_dumps_json(wrapped) == reference_dumps(wrapped), wrapped
        assert canonical_dumps_json(wrapped, finite=True) == reference_dumps(wrapped), wrapped


def test_json_fast_path_strings_that_look_like_numbers_stay_exact() -> None:
    # Strings holding what the checks look for may send a value to the exact path; the bytes stay the reference's.
    for text in ("a:1e5,", "[1e+16]", ",0.00001", ":null", "x,null}", "e-5]", "1.5e-07}"):
        for value in ({"s": text, "n": 1.5}, [text, 2], {text: [text]}):
            assert canonical_dumps_json(value) == reference_dumps(value)
            assert canonical_dumps_json(value, finite=True) == reference_dumps(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_fast_path_refuses_non_finite(bad: float) -> None:  # orjson alone would write null
    with pytest.raises(NonFiniteNumber):
        canonical_dumps_json({"v": [1, {"w": bad}]})


def test_json_fast_path_keeps_nulls_and_escapes() -> None:
    for value in ({"a": None}, {"q": 'say "hi"\\', "n": None}, {"k\n": "\x00\x1f\x7f\u2028"}):
        assert canonical_dumps_json(value) == reference_dumps(value)


def test_json_fast_path_is_taken_for_an_event_record(monkeypatch) -> None:
    # A recorded event's data (the ledger's hot path) must not fall back to the slower encoder.
    # ("e-" in the id and the node name: an exponent is only looked for before ",", "}" or "]")
    record = {"id": "01a201ce-5723-7e24-9671-61f841014e16", "source": "/venom/node-e-1/arbiter",
              "type": "venom.beat.v1", "time": "2026-11-22T05:50:29.667293Z", "subject": "venom.beat.node-e-1",
              "data": {"node": "node-e-1", "beat": 3, "t_lambda_s": 0.004211, "period_s": 1.0, "theta": 0.25,
                       "vitals": {"beat_count": 3, "cycle_time_ms": 4.2, "missed_deadlines": 0}}}
    expected = reference_dumps(record)

    def no_fallback(value: object) -> bytes:
        raise AssertionError("fell back to canonical_dumps")

    monkeypatch.setattr(canonical_module, "canonical_dumps", no_fallback)
    assert canonical_dumps_json(record) == expected


def test_json_fast_path_with_finite_values_keeps_nulls_fast(monkeypatch) -> None:
    value = {"a": None, "b": [1.5, None, {"c": None}], "s": "null"}
    expected = reference_dumps(value)

    def no_fallback(value: object) -> bytes:
        raise AssertionError("fell back to canonical_dumps")

    monkeypatch.setattr(canonical_module, "canonical_dumps", no_fallback)
    assert canonical_dumps_json(value, finite=True) == expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(), _JSON_ONLY, max_size=8))
def test_json_fast_path_finite_is_byte_identical(value: object) -> None:
    try:
        expected = reference_dumps(value)
    except UnicodeEncodeError:
        return
    assert canonical_dumps_json(value, finite=True) == expected
