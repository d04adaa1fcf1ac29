import pytest

from venom_organs.adapters.model_store import ModelStore


def test_versions_increase_and_latest_wins(tmp_path) -> None:
    store = ModelStore(tmp_path)
    assert store.latest() is None
    v1 = store.save(0.5, -1.0, auc=0.7)
    v2 = store.save(0.6, -2.0, auc=0.8, trained_on="nab")
    assert (v1.version, v2.version) == ("v1", "v2")
    assert store.latest() == v2
    assert store.load(1).weight == 0.5


def test_unreadable_newest_is_skipped(tmp_path) -> None:
    store = ModelStore(tmp_path)
    store.save(0.5, -1.0)
    (tmp_path / "v2.json").write_text('{"format": 1, "version": "v2", "weight": NaN, "bias": 0}')
    assert store.latest().version == "v1"
    (tmp_path / "v3.json").write_text("not json")
    assert store.latest().version == "v1"


def test_no_partial_files_left(tmp_path) -> None:
    store = ModelStore(tmp_path)
    store.save(0.1, 0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.json"]
    with pytest.raises(ValueError):
        store.save(float("nan"), 0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1.json"]
