"""``python -m venom_cli``: the same as the ``venom`` console script."""

from venom_cli.main import app

app(prog_name="venom")
