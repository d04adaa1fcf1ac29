"""F-ARB-5, F-ARB-6, F-MESH-3."""

import math

import pytest

from venom_arbiter.domain.genome import (
    INITIAL,
    MODE_TABLES,
    Genome,
    InvalidInjection,
    apply_mode,
    evolve,
    inject_data,
    mode_for_theta,
)


def test_initial_weights() -> None:
    assert INITIAL.weights() == {"R": 0.25, "B": 0.25, "E": 0.15, "O": 0.35}


def test_evolve_low_threat_sets_e_to_010_and_normalises() -> None:
    g = evolve(INITIAL, delta_o=0.01, threat=0.2)
    # O = 0.36, E = 0.10, total = 0.25 + 0.25 + 0.10 + 0.36 = 0.96
    assert g.O == pytest.approx(0.36 / 0.96)
    assert g.E == pytest.approx(0.10 / 0.96)
    assert sum(g.weights().values()) == pytest.approx(1.0)
    assert g.e_feedback_t == 0


def test_evolve_high_threat_hybrid_feedback() -> None:
    g0 = Genome(R=0.3, B=0.3, E=0.15, O=0.2)
    g = evolve(g0, delta_o=0.0, threat=0.9)
    e_raw = 0.15 * 0.9 * math.exp(0) * (1 - 0.2 / 0.3)  # = 0.045 → clamped to 0.05
    assert e_raw < 0.05
    total = 0.3 + 0.3 + 0.05 + 0.2
    assert g.E == pytest.approx(0.05 / total)
    assert g.e_feedback_t == 1
    g2 = evolve(Genome(R=0.3, B=0.3, E=0.15, O=0.1), delta_o=0.0, threat=1.0)
    e_raw2 = 0.15 * 1.0 * (1 - 0.1 / 0.3)  # = 0.1
    assert g2.E == pytest.approx(e_raw2 / (0.3 + 0.3 + e_raw2 + 0.1))


def test_e_feedback_decays_with_t() -> None:
    g = Genome(R=0.3, B=0.3, E=0.15, O=0.1, e_feedback_t=50)
    out = evolve(g, 0.0, threat=1.0)
    e_raw = 0.15 * math.exp(-1) * (1 - 0.1 / 0.3)
    assert out.E == pytest.approx(max(0.05, e_raw) / (0.3 + 0.3 + max(0.05, e_raw) + 0.1))


def test_o_clamped() -> None:
    assert evolve(Genome(O=0.89), 0.05, 0.0).O <= 0.9
    hi = evolve(Genome(R=0.05, B=0.05, E=0.05, O=0.89), 0.05, 0.0)
    assert hi.O == pytest.approx(0.9 / (0.05 + 0.05 + 0.10 + 0.9))
    lo = evolve(Genome(O=0.11), -0.05, 0.0)
    assert lo.O == pytest.approx(0.1 / (0.25 + 0.25 + 0.10 + 0.1))


@pytest.mark.parametrize("theta,mode", [(0.0, "unwrap"), (0.29, "unwrap"), (0.3, "transition"), (0.5, "balance"),
                                        (0.69, "balance"), (0.7, "wrap"), (0.9, "optimize"), (1.0, "optimize")])
def test_mode_for_theta(theta: float, mode: str) -> None:
    assert mode_for_theta(theta) == mode


def test_mode_tables_follow_seed_ratios() -> None:
    unwrap = MODE_TABLES["unwrap"]
    assert unwrap["R"] / unwrap["B"] == pytest.approx(0.40 / 0.30)
    assert MODE_TABLES["optimize"]["O"] == pytest.approx(0.50 / 0.90)
    for table in MODE_TABLES.values():
        assert sum(table.values()) == pytest.approx(1.0)


def test_apply_mode_only_on_change() -> None:
    g = apply_mode(INITIAL, 0.1)
    assert g.mode == "unwrap" and g.R == pytest.approx(MODE_TABLES["unwrap"]["R"])
    evolved = evolve(g, 0.02, 0.0)
    assert apply_mode(evolved, 0.2) is evolved  # same mode: evolution kept
    assert apply_mode(evolved, None) is evolved


def test_inject_data_valid() -> None:
    g = inject_data(INITIAL, anoms=5, ml_weight=0.2)
    assert g.risk_anoms == 5 and g.ml_weight == 0.2
    assert inject_data(g, anoms=None, ml_weight=None) == g


@pytest.mark.parametrize(
    "kwargs",
    [{"anoms": -1}, {"anoms": 10_001}, {"anoms": 1.5}, {"anoms": True}, {"ml_weight": 0.0}, {"ml_weight": -0.1},
     {"ml_weight": math.nan}, {"ml_weight": math.inf}, {"ml_weight": 11.0}],
)
def test_inject_data_refuses(kwargs: dict) -> None:
    with pytest.raises(InvalidInjection):
        inject_data(INITIAL, **kwargs)
