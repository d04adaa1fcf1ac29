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


@settings(max_examples=300, deadline=None)
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
