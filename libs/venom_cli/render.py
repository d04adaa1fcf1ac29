"""What the commands show a person: the start summary and the component table (Rich)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from venom_cli.state import VenomState


@dataclass
class Component:
    """One row of ``venom status``: a server or a service, and its health."""

    name: str
    kind: str
    pid: int | None
    url: str | None
    healthy: bool
    ready: bool
    restarts: int
    state: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def components_of(state: VenomState) -> list[Component]:
    """The components recorded in ``state`` with the health ``venom up`` last measured."""
    out: list[Component] = []
    for server in (state.nats, state.postgres):
        if server is None:
            continue
        out.append(Component(
            name=server.name, kind=server.kind, pid=server.process.pid if server.process else None,
            url=server.url, healthy=server.healthy, ready=server.ready, restarts=0,
            state="embedded" if server.embedded else "external",
        ))
    for service in state.services:
        out.append(Component(
            name=service.name, kind="service", pid=service.process.pid if service.process else None,
            url=service.url, healthy=service.healthy, ready=service.ready, restarts=service.restarts,
            state=service.state,
        ))
    return out


def _mark(ok: bool) -> Text:
    return Text("yes", style="green") if ok else Text("no", style="red")


def component_table(components: list[Component], title: str | None = None) -> Table:
    table = Table(title=title, expand=False)
    for column in ("component", "kind", "pid", "state", "healthy", "ready", "restarts"):
        table.add_column(column, no_wrap=True)
    table.add_column("url", overflow="fold", min_width=22)
    for c in components:
        restarts = Text(str(c.restarts), style="yellow" if c.restarts else "")
        table.add_row(c.name, c.kind, str(c.pid or "-"), c.state, _mark(c.healthy), _mark(c.ready), restarts,
                      c.url or "-")
    return table


def summary_lines(state: VenomState, skipped: list[str] | None = None) -> list[str]:
    """Where everything is, in plain lines (printed by ``venom up`` and ``venom up --detach``)."""
    lines = [f"VENOM is up: pid {state.process.pid}, data dir {state.data_dir}"]
    if state.nats is not None:
        how = "embedded" if state.nats.embedded else "external (VENOM_NATS_URL)"
        monitor = f", monitor {state.nats.monitor_url}" if state.nats.monitor_url else ""
        lines.append(f"  NATS         {state.nats.url}  ({how}{monitor})")
    if state.postgres is not None:
        how = "embedded" if state.postgres.embedded else "external (VENOM_DATABASE_URL)"
        lines.append(f"  PostgreSQL   {state.postgres.url}  ({how})")
    width = max([12, *(len(s.name) for s in state.services)])
    for service in state.services:
        lines.append(f"  {service.name:<{width}} {service.url}  health {service.health_url}  ready {service.ready_url}")
        if service.docs_url:
            lines.append(f"  {'':<{width}} API docs {service.docs_url}")
    if skipped:
        lines.append(f"  not installed yet (skipped): {', '.join(skipped)}")
    lines.append(f"  logs         {state.log_path} and one file per service beside it")
    lines.append(f"  stop with    Ctrl-C, or: venom down --data-dir {state.data_dir}")
    return lines


def print_summary(console: Console, state: VenomState, skipped: list[str] | None = None) -> None:
    for line in summary_lines(state, skipped):
        console.print(Text(line), soft_wrap=True)
