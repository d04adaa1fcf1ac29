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
