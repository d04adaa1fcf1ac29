"""``venom ledger …``: read and check the ledger (F-LEDGER-4..6).

Every command but ``verify --offline`` and ``migrate`` talks to the ledger service's read API
(``--url``, env ``VENOM_LEDGER_URL``, default http://127.0.0.1:9103); ``verify --offline FILE``
checks an export with no service and no database; ``migrate`` talks to PostgreSQL directly.

    venom ledger head [--json]
    venom ledger show INDEX [--json]
    venom ledger verify [--offline FILE [--public-key HEX]] [--json]
    venom ledger proof INDEX [--size N] [--json]
    venom ledger export --from A --to B [--output FILE] [--json]
    venom ledger public-key [--json]
    venom ledger migrate [--database-url URL]
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

ledger_app = typer.Typer(help="Read and verify the ledger (hash chain, Merkle proofs, signed checkpoints).",
                         no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DEFAULT_URL = "http://127.0.0.1:9103"
Url = Annotated[str, typer.Option("--url", envvar="VENOM_LEDGER_URL", help="the ledger service's read API")]
AsJson = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]


class ApiError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _get(url: str, path: str, **params: Any) -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    full = f"{url.rstrip('/')}{path}" + (f"?{query}" if query else "")
    try:
        with urllib.request.urlopen(full, timeout=120) as resp:  # noqa: S310 - an http(s) URL the user gave
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except Exception:  # noqa: BLE001
            detail = exc.reason
        raise ApiError(exc.code, str(detail)) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(0, f"cannot reach the ledger at {url} ({getattr(exc, 'reason', exc)}); is it running "
                          "(venom up)? Set --url or VENOM_LEDGER_URL") from None


def _fail(exc: ApiError) -> typer.Exit:
    err_console.print(Text(f"error: {exc}", style="bold red"), soft_wrap=True)
    return typer.Exit(2)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@ledger_app.command()
def head(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """The chain's size, head hash, Merkle root and latest signed checkpoint."""
    try:
        h = _get(url, "/ledger/head")
    except ApiError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(h)
        return
    table = Table(title=f"ledger chain {h['chain']}", show_header=False)
    table.add_row("entries (with genesis)", str(h["tree_size"]))
    table.add_row("head hash", h["head_hash"])
    table.add_row("Merkle root", h["root_hash"])
    cp = h.get("latest_checkpoint")
    table.add_row("latest checkpoint", "none" if cp is None else f"size {cp['tree_size']} at {cp['timestamp']}")
    console.print(table)


@ledger_app.command()
def show(index: Annotated[int, typer.Argument(min=0, help="entry index")], url: Url = DEFAULT_URL,
         as_json: AsJson = False) -> None:
    """One entry: index, timestamp, data (the recorded event), previous hash and hash."""
    try:
        entry = _get(url, f"/ledger/entries/{index}")
    except ApiError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(entry)
        return
    console.print(Text(f"entry {entry['index']}  {entry['timestamp']}", style="bold"))
    console.print(Text(f"previous {entry['previous_hash']}\nhash     {entry['hash']}"))
    console.print_json(json.dumps(entry["data"]))


@ledger_app.command()
def verify(
    url: Url = DEFAULT_URL,
    offline: Annotated[Path | None, typer.Option("--offline", exists=True, dir_okay=False,
                                                 help="check an export file (venom ledger export) with no service")] = None,
    public_key: Annotated[str | None, typer.Option("--public-key", help="--offline: pin the ledger's public key (hex)")] = None,
    as_json: AsJson = False,
) -> None:
    """Verify the whole chain (through the service), or an export offline. Exit 0 when it verifies, 1 when not."""
    if offline is not None:
        from venom_common.canonical import strict_loads
        from venom_ledger.domain.export import BadExport, verify_export

        try:
            check = verify_export(strict_loads(offline.read_bytes()), public_key)
        except (BadExport, ValueError) as exc:
            err_console.print(Text(f"error: {offline} is not a ledger export: {exc}", style="bold red"), soft_wrap=True)
            raise typer.Exit(2) from None
        report = check.to_json()
    else:
        try:
            report = _get(url, "/ledger/verify")
        except ApiError as exc:
            raise _fail(exc) from None
    if as_json:
        _print_json(report)
    elif report["ok"]:
        what = (f"entries {report['from']}..{report['to']} of chain {report['chain']}, proven in the checkpoint of "
                f"size {report['checkpoint_tree_size']} (public key {report['public_key']})" if offline else
                f"{report['tree_size']} entries of chain {report['chain']}, {report['checkpoints_checked']} "
                f"signed checkpoint{'' if report['checkpoints_checked'] == 1 else 's'} matched")
        console.print(Text(f"verified: {what}", style="green"), soft_wrap=True)
    else:
        fault = report["fault"]
        console.print(Text(f"NOT verified: entry {fault['index']}: {fault['reason']}: {fault['detail']}",
                           style="bold red"), soft_wrap=True)
    raise typer.Exit(0 if report["ok"] else 1)


@ledger_app.command()
def proof(index: Annotated[int, typer.Argument(min=0, help="entry index")],
          size: Annotated[int | None, typer.Option("--size", min=1, help="tree size (default: the head)")] = None,
          url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """The Merkle inclusion proof of an entry, checked here against the root it came with."""
    from venom_ledger.domain import merkle

    try:
        p = _get(url, f"/ledger/proof/inclusion/{index}", size=size)
    except ApiError as exc:
        raise _fail(exc) from None
    ok = merkle.verify_inclusion(bytes.fromhex(p["leaf_hash"]), p["index"], p["tree_size"],
                                 [bytes.fromhex(h) for h in p["proof"]], bytes.fromhex(p["root_hash"]))
    ok = ok and merkle.leaf_hash(bytes.fromhex(p["entry_hash"])).hex() == p["leaf_hash"]
    p["verified_locally"] = ok
    if as_json:
        _print_json(p)
    else:
        console.print(Text(f"entry {p['index']} in the tree of size {p['tree_size']} (root {p['root_hash']}):",
                           style="bold"), soft_wrap=True)
        for h in p["proof"]:
            console.print(f"  {h}")
        console.print(Text("proof verified locally" if ok else "proof does NOT verify",
                           style="green" if ok else "bold red"))
    raise typer.Exit(0 if ok else 1)


@ledger_app.command()
def export(
    start: Annotated[int, typer.Option("--from", min=0, help="first entry index")],
    end: Annotated[int | None, typer.Option("--to", min=0, help="last entry index (default: the latest checkpoint's)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False, help="file (default: stdout)")] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Entries A..B with a signed checkpoint and the proof tying them to it (check with verify --offline)."""
    try:
        doc = _get(url, "/ledger/export", start=start, end=end)
    except ApiError as exc:
        raise _fail(exc) from None
    text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    summary = {"file": str(output), "chain": doc["chain"], "from": doc["from"], "to": doc["to"],
               "checkpoint_tree_size": doc["checkpoint"]["tree_size"]}
    if as_json:
        _print_json(summary)
    else:
        console.print(f"wrote entries {doc['from']}..{doc['to']} of chain {doc['chain']} to {output}")


@ledger_app.command("public-key")
def public_key(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """The Ed25519 public key checkpoints are signed with (hex), and its key id."""
    try:
        key = _get(url, "/ledger/public-key")
    except ApiError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(key)
    else:
        sys.stdout.write(f"{key['public_key']}\n")


@ledger_app.command()
def migrate(database_url: Annotated[str, typer.Option("--database-url", envvar="VENOM_DATABASE_URL",
                                                      help="PostgreSQL URL")] = "postgresql://postgres@127.0.0.1:5432/venom") -> None:
    """Create or upgrade the ledger's tables (the service also does this when it starts)."""
    import asyncio

    from venom_ledger.db import make_engine
    from venom_ledger.db import migrate as run_migrations

    async def _run() -> None:
        engine = make_engine(database_url)
        try:
            await run_migrations(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    console.print("ledger schema is at the latest revision")
