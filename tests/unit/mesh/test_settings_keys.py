"""Settings parsing and where the mesh key comes from: never start silently without one."""

from __future__ import annotations

import stat

import pytest

from venom_mesh_discovery.adapters.keys import MeshKeyMissing, load_mesh_key
from venom_mesh_discovery.settings import MeshSettings, parse_host_port


def test_no_key_and_no_state_dir_refuses_with_what_to_set(monkeypatch) -> None:
    monkeypatch.delenv("VENOM_MESH_KEY", raising=False)
    monkeypatch.delenv("VENOM_MESH_STATE_DIR", raising=False)
    with pytest.raises(MeshKeyMissing, match="VENOM_MESH_KEY"):
        load_mesh_key(MeshSettings())


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        load_mesh_key(MeshSettings(mesh_key="short"))


def test_key_from_env(monkeypatch) -> None:
    monkeypatch.setenv("VENOM_MESH_KEY", "x" * 40)
    assert load_mesh_key(MeshSettings()) == b"x" * 40


def test_local_mode_generates_one_private_key_per_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("VENOM_MESH_KEY", raising=False)
    s = MeshSettings(mesh_state_dir=tmp_path)
    k1, k2 = load_mesh_key(s), load_mesh_key(s)
    assert k1 == k2 and len(k1) == 64
    assert stat.S_IMODE((tmp_path / "mesh.key").stat().st_mode) == 0o600
    assert s.peers_file == tmp_path / "peers.json"


def test_defaults_are_local_and_the_seed_peers_file(monkeypatch) -> None:
    for var in ("VENOM_MESH_STATE_DIR", "VENOM_MESH_PEERS_FILE", "VENOM_MESH_INTERFACE"):
        monkeypatch.delenv(var, raising=False)
    s = MeshSettings()
    assert s.port == 9104 and s.bind_host == "127.0.0.1" and s.mesh_interface == "127.0.0.1"
    assert s.peers_file.name == ".venom_peers.json"


def test_seeds_and_dns_names(monkeypatch) -> None:
    monkeypatch.setenv("VENOM_MESH_SEEDS", "10.0.0.1:5000, node-b ")
    monkeypatch.setenv("VENOM_MESH_DNS_NAMES", "venom-mesh.venom.svc.cluster.local")
    s = MeshSettings(mesh_unicast_port=47101)
    assert s.seeds == [("10.0.0.1", 5000), ("node-b", 47101)]
    assert s.dns_names == [("venom-mesh.venom.svc.cluster.local", 47101)]
    with pytest.raises(ValueError):
        parse_host_port("h:0", 1)
    with pytest.raises(ValueError):
        MeshSettings(mesh_seeds="h:notaport")
    with pytest.raises(ValueError, match="IPv6"):
        parse_host_port("[::1]:7", 1)
