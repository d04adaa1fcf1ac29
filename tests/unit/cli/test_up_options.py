from pathlib import Path

from typer.testing import CliRunner

from venom_cli.main import app
from venom_cli.up import UpOptions, detached_command


def test_detached_child_gets_the_same_pulse_period(tmp_path: Path) -> None:
    assert detached_command(UpOptions(data_dir=tmp_path))[-2:] == ["--pulse-period", "1.0"]
    assert detached_command(UpOptions(data_dir=tmp_path, pulse_period_s=None))[-2:] == ["--pulse-period", "t-lambda"]
    assert detached_command(UpOptions(data_dir=tmp_path, pulse_period_s=0.25))[-2:] == ["--pulse-period", "0.25"]


def test_bad_pulse_period_is_refused(tmp_path: Path) -> None:
    for bad in ("fast", "0", "-1", "nan"):
        result = CliRunner().invoke(app, ["up", "--data-dir", str(tmp_path), "--pulse-period", bad])
        assert result.exit_code == 2, bad
