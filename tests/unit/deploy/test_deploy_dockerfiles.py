"""services/*/Dockerfile and .dockerignore, checked without a Docker engine (F-PLAT-1).

Beyond the text checks (pinned bases, non-root user, HEALTHCHECK), two things are run for real:
the HEALTHCHECK command against a local HTTP server, and `pip wheel` on exactly the files each
Dockerfile copies, so an image would contain its service's package.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

from unit.deploy.helpers import ROOT, SERVICE_DIRS, SERVICES

PACKAGE_OF = {folder: package for package, _, folder, _ in SERVICES.values()}
EXTRA_OF = {folder: extra for _, _, folder, extra in SERVICES.values()}
#: python:3.11.<patch>-slim-<debian release>: an exact, immutable-in-practice tag.
PINNED_PYTHON = re.compile(r"python:3\.11\.\d+-slim-(bookworm|trixie)")


@dataclass(frozen=True)
class Instruction:
    op: str
    args: str


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        op, _, args = line.partition(" ")
        out.append(Instruction(op.upper(), args.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for ins in instructions:
        if ins.op == "FROM":
            result.append([])
        result[-1].append(ins)
    return result


def healthcheck_code(instructions: list[Instruction]) -> str:
    hc = [i for i in instructions if i.op == "HEALTHCHECK"]
    assert len(hc) == 1
    exec_form = hc[0].args[hc[0].args.index("CMD") + 3:].strip()
    argv = json.loads(exec_form)
    assert argv[:2] == ["python", "-c"]
    return argv[2]


@pytest.fixture(params=SERVICE_DIRS)
def folder(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def dockerfile(folder: str) -> list[Instruction]:
    path = ROOT / "services" / folder / "Dockerfile"
    assert path.is_file(), path
    return parse_dockerfile(path)


def test_every_service_folder_has_a_dockerfile() -> None:
    folders = sorted(p.name for p in (ROOT / "services").iterdir() if p.is_dir())
    assert folders == SERVICE_DIRS
    assert all((ROOT / "services" / f / "Dockerfile").is_file() for f in folders)


def test_multi_stage_on_a_pinned_slim_base(dockerfile: list[Instruction]) -> None:
    froms = [i.args.split()[0] for i in dockerfile if i.op == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a clean runtime stage"
    for image in froms:
        assert PINNED_PYTHON.fullmatch(image), f"base image {image} is not an exact slim tag"
    assert len(set(froms)) == 1, "build and runtime on the same Python"


def test_runs_as_a_non_root_user(dockerfile: list[Instruction]) -> None:
    final = stages(dockerfile)[-1]
    users = [i.args for i in final if i.op == "USER"]
    assert users, "the runtime stage must switch user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user.isdigit() and int(user) >= 1000
    created = " ".join(i.args for i in final if i.op == "RUN")
    assert f"--uid {user}" in created, "the user exists in the image"
    # nothing after USER switches back
    after = final[[i.op for i in final].index("USER"):]
    assert all(i.op != "USER" or i.args.split(":")[0] == user for i in after)


def test_installs_only_its_own_extra(folder: str, dockerfile: list[Instruction]) -> None:
    runs = " ".join(i.args for i in dockerfile if i.op == "RUN")
    extras = re.findall(r'"\.\[([\w,-]+)\]"', runs)
    assert extras == [EXTRA_OF[folder]]
    copies = [i.args.split()[0] for i in dockerfile if i.op == "COPY" and not i.args.startswith("--from")]
    assert copies == ["pyproject.toml", "libs/", f"services/{folder}/"]
    final = stages(dockerfile)[-1]
    assert [i.args for i in final if i.op == "COPY"] == ["--from=build /opt/venom /opt/venom"]
    if folder == "organs":
        assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in runs
    else:
        assert "torch" not in runs


def test_entrypoint_and_environment(folder: str, dockerfile: list[Instruction]) -> None:
    final = stages(dockerfile)[-1]
    entry = [json.loads(i.args) for i in final if i.op == "ENTRYPOINT"]
    assert entry == [["python", "-m", PACKAGE_OF[folder]]]
    env = " ".join(i.args for i in final if i.op == "ENV")
    assert "VENOM_BIND_HOST=0.0.0.0" in env  # containers: reachable from the network namespace's peers
    ports = {p for _, port, f, _ in SERVICES.values() if f == folder for p in [port]}
    exposed = {int(p) for i in final if i.op == "EXPOSE" for p in i.args.split()}
    assert ports <= exposed


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def _run_check(code: str, env: dict[str, str]) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VENOM_")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                          timeout=20).returncode


def test_healthcheck_asks_healthz(folder: str, dockerfile: list[Instruction],
                                  health_server: tuple[int, type[_Health]]) -> None:
    """The HEALTHCHECK command, run for real: healthy on 200 from /healthz, unhealthy otherwise."""
    port, handler = health_server
    code = healthcheck_code(dockerfile)
    env = {"VENOM_PORT": str(port), "VENOM_ORGAN": "entropy"}
    assert _run_check(code, env) == 0
    handler.status = 503
    assert _run_check(code, env) != 0
    opts = next(i.args for i in dockerfile if i.op == "HEALTHCHECK")
    assert re.search(r"--interval=\d+s", opts) and re.search(r"--timeout=\d+s", opts)


def test_organs_healthcheck_finds_the_organ_port() -> None:
    """VENOM_PORT=0 (the image default) means the organ's own port, as the organ settings do."""
    code = healthcheck_code(parse_dockerfile(ROOT / "services" / "organs" / "Dockerfile"))
    assert "'entropy': '9113'" in code and "os.environ['VENOM_ORGAN']" in code
    from venom_organs.settings import ORGAN_PORTS

    for organ, port in ORGAN_PORTS.items():
        assert f"'{organ}': '{port}'" in code


def _ignored(rel: str, patterns: list[str]) -> bool:
    """.dockerignore semantics for the patterns used: the last matching pattern wins."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pat.startswith("**/"):
            hit = any(fnmatch(p, pat[3:]) for p in parts)
        else:
            hit = any(fnmatch(p, pat) for p in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_only_the_build_inputs() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for kept in ("pyproject.toml", "README.md", "libs/venom_common/settings.py",
                 "services/ledger/venom_ledger/migrations/versions/0001_chain.py", "services/organs/Dockerfile"):
        assert not _ignored(kept, patterns), kept
    for dropped in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "deploy/venom.env", ".venom/x",
                    "libs/venom_common/__pycache__/x.pyc", "venom.egg-info/PKG-INFO", "k8s/base/ledger.yaml"):
        assert _ignored(dropped, patterns), dropped


def _copy_build_context(dockerfile: list[Instruction], context: Path) -> None:
    """The files the build stage's COPY instructions put in /src (sources relative to the repository)."""
    context.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for ins in dockerfile:
        if ins.op != "COPY" or ins.args.startswith("--from"):
            continue
        *sources, dest = ins.args.split()
        for source in sources:
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(src, context / dest, ignore=ignore)  # COPY libs/ libs/
            else:
                shutil.copy2(src, context / src.name)  # COPY pyproject.toml README.md ./


def test_the_copied_files_hold_the_service_and_no_other(folder: str, dockerfile: list[Instruction],
                                                        tmp_path: Path) -> None:
    """`pip install .` in the build stage sees only what the Dockerfile copies: setuptools' package
    discovery (pyproject.toml's find settings) finds venom_common and this service, no other service."""
    import tomllib

    from setuptools import find_packages

    context = tmp_path / "src"
    _copy_build_context(dockerfile, context)
    find = tomllib.loads((context / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    tops = {pkg.split(".")[0] for where in find["where"] if (context / where).is_dir()
            for pkg in find_packages(where=str(context / where), include=find["include"])}
    package = PACKAGE_OF[folder]
    assert "venom_common" in tops
    if (ROOT / "services" / folder / package / "__init__.py").is_file():
        assert package in tops
    others = set(PACKAGE_OF.values()) - {package}
    assert not tops & others, f"the {folder} image would carry {tops & others}"


def test_the_ledger_context_builds_a_wheel_with_its_migrations(tmp_path: Path) -> None:
    """One real build of a copied context (pip wheel, offline): the wheel holds the Alembic migrations
    the ledger runs at start."""
    context = tmp_path / "src"
    _copy_build_context(parse_dockerfile(ROOT / "services" / "ledger" / "Dockerfile"), context)
    dist = tmp_path / "dist"
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(dist), str(context)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "venom_ledger/migrations/versions/0001_chain.py" in names
    assert "venom_ledger/__main__.py" in names and not any(n.startswith("venom_arbiter/") for n in names)
