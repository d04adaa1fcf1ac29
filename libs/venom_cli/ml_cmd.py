"""``venom eval nab`` and ``venom train``: the entropy model on real labelled metrics (F-ML-2, F-ML-3).

Both stream every file of a NAB-layout directory (``data/<category>/*.csv``,
``labels/combined_windows.json``) through the same detector and entropy-model code the services
run: the hardware agent's streaming detector turns each row into anoms and its graded anomaly
level, the entropy organ's scorer turns the level into the threat score (as the organ does when the
metrics carry ``anomaly_level``).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

eval_app = typer.Typer(help="Evaluate the threat score against labelled data.", no_args_is_help=True)
console = Console(stderr=True)

DEFAULT_MODEL_DIR = Path(".venom/models/entropy")
DETECTOR = "tail-surprise"


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def _file_count(data: Path) -> int:
    return len(list((data / "data").glob("*/*.csv")))


def _scorer(model_dir: Path | None) -> Any:
    from venom_organs.adapters.model_store import ModelStore
    from venom_organs.domain.entropy_model import ThreatScorer

    latest = ModelStore(model_dir).latest() if model_dir is not None else None
    return ThreatScorer(latest)


def _evaluate(data: Path, threat_fn: Any, keep_rows: bool, what: str) -> Any:
    from venom_hardware_agent.detector.nab import NabFormatError, evaluate_nab
    from venom_hardware_agent.detector.registry import detector_by_name

    if not data.is_dir():
        raise typer.BadParameter(f"{data} is not a directory (expected data/<category>/*.csv and labels/)")
    try:
        with _progress() as progress:
            task = progress.add_task(what, total=_file_count(data))
            return evaluate_nab(data, lambda: detector_by_name(DETECTOR), threat_fn=threat_fn, keep_rows=keep_rows,
                                on_file=lambda _: progress.advance(task))
    except (NabFormatError, OSError, ValueError) as exc:
        console.print(f"[red]cannot evaluate {data}:[/] {exc}")
        raise typer.Exit(2) from exc


def _write_rows(data: Path, out: Path, result: Any) -> Path:
    """OUTDIR/<category>/<file>.csv, one row per input row; a row the reader skipped (duplicate
    timestamp, missing or non-numeric value) keeps its text with empty anoms, anomaly_level and threat_score."""
    source = data / "data" / result.key
    raw_lines = source.read_text(encoding="utf-8-sig").splitlines()
    scored = {row.line: row for row in result.scored}
    target = out / result.key
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value", "anoms", "anomaly_level", "threat_score"])
        for line_no in range(2, len(raw_lines) + 1):
            text = raw_lines[line_no - 1]
            if not text.strip():
                continue
            row = scored.get(line_no)
            if row is not None:
                writer.writerow([row.timestamp.strftime("%Y-%m-%d %H:%M:%S"), repr(row.value), row.anoms,
                                 f"{row.level:.6f}", f"{row.score:.6f}"])
            else:
                parts = (text.split(",") + ["", ""])[:2]
                writer.writerow([parts[0].strip(), parts[1].strip(), "", "", ""])
    return target


@eval_app.command("nab")
def eval_nab(
    data: Annotated[Path, typer.Option("--data", help="NAB-layout directory: data/<category>/*.csv, labels/")],
    out: Annotated[Path | None, typer.Option("--out", help="write OUT/<category>/<file>.csv with "
                                                            "timestamp,value,anoms,anomaly_level,threat_score")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="entropy model versions (default: the "
                                                                       "seed model)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """ROC AUC of the threat score against the labelled windows (a point inside a window is positive),
    per file and per category, streaming every file through the agent's detector and the entropy model;
    and NAB's own score (standard profile) of the threat score, its threshold chosen on the same files."""
    scorer = _scorer(model_dir)
    report = _evaluate(data, lambda level: scorer.score(level, 0.12), keep_rows=out is not None,
                       what="evaluating")
    written = [str(_write_rows(data, out, f)) for f in report.files] if out is not None else []
    try:
        nab = report.nab_score()
    except ValueError as exc:  # a threat score outside [0, 1] cannot be thresholded NAB's way
        console.print(f"[red]cannot compute the NAB score:[/] {exc}")
        raise typer.Exit(2) from exc
    result = {
        "detector": report.detector,
        "model_version": scorer.version,
        "files": [{"file": f.key, "rows": f.rows, "positives": f.positives, "auc": f.auc,
                   "skipped_rows": len(f.skipped), "gaps": f.gaps, "nab": _nab_json(nab.files[f.key])}
                  for f in report.files],
        "categories": report.category_auc(),
        "mean_auc": report.mean_auc,
        "files_scored": len(report.scored_files),
        "skipped_rows": report.skipped_rows,
        "nab": {**_nab_json(nab.overall), "threshold_chosen_on": NAB_THRESHOLD_NOTE,
                "categories": {c: _nab_json(s) for c, s in nab.categories.items()}},
        "written": written,
    }
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=f"NAB: {report.detector} + entropy model {scorer.version}")
    for col in ("file", "rows", "positives", "ROC AUC", "NAB raw", "windows hit", "skipped"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for f in result["files"]:
        table.add_row(f["file"], str(f["rows"]), str(f["positives"]),
                      "-" if f["auc"] is None else f"{f['auc']:.3f}", f"{f['nab']['raw']:.3f}",
                      f"{f['nab']['windows_detected']}/{f['nab']['windows']}", str(f["skipped_rows"]))
    Console().print(table)
    for category, auc in result["categories"].items():
        Console().print(f"category {category}: mean ROC AUC {auc:.3f}; NAB standard score "
                        f"{_fmt_nab(nab.categories[category].normalised)}")
    Console().print(f"[bold]mean per-file ROC AUC {result['mean_auc']:.3f}[/] over {result['files_scored']} files"
                    + (f"; CSVs written under {out}" if out is not None else ""))
    o = nab.overall
    Console().print(f"NAB standard-profile score {_fmt_nab(o.normalised)} (raw {o.raw:.3f}, null {o.null:.3f}, "
                    f"perfect {o.perfect:.3f}) at threshold {o.threshold:.6g} on the threat score, "
                    f"{NAB_THRESHOLD_NOTE}; windows detected {o.windows_detected}/{o.windows}, rows TP {o.tp} "
                    f"FP {o.fp} FN {o.fn}")


NAB_THRESHOLD_NOTE = "chosen on these same files, as NAB's optimizer does"


def _fmt_nab(value: float | None) -> str:
    return "undefined (no window)" if value is None else f"{value:.1f}"


def _nab_json(score: Any) -> dict[str, Any]:
    """One NabScore as JSON: the normalised score (None without a window), the threshold, raw, null
    and perfect scores, row counts (tp/fp/fn/tn, probationary rows excluded) and window counts."""
    return {"profile": score.profile, "score": score.normalised, "threshold": score.threshold,
            "raw": score.raw, "null": score.null, "perfect": score.perfect, "tp": score.tp, "fp": score.fp,
            "fn": score.fn, "tn": score.tn, "windows": score.windows, "windows_detected": score.windows_detected}


def train_command(
    data: Annotated[Path, typer.Option("--data", help="NAB-layout labelled data to train on")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="where versions are written (the entropy "
                                                                "organ serves the newest)")] = DEFAULT_MODEL_DIR,
    epochs: Annotated[int, typer.Option(min=1, max=100_000)] = 300,
    lr: Annotated[float, typer.Option(min=1e-6, max=10.0)] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Train the entropy model (MSE loss, Adam) on (anomaly level, label) pairs streamed from labelled data,
    evaluate it by ROC AUC and save it as the next version, which the entropy organ loads without a restart."""
    from venom_organs.adapters.model_store import ModelStore
    from venom_organs.domain.entropy_model import ModelParams, evaluate_auc, train

    report = _evaluate(data, None, keep_rows=True, what="detecting")
    x = [r.level for f in report.files for r in f.scored]  # what the organ scores (features.anomaly_level)
    y = [int(r.label) for f in report.files for r in f.scored]
    if not any(y) or all(y):
        console.print("[red]the labels hold one class only: nothing to learn[/]")
        raise typer.Exit(2)
    with _progress() as progress:
        task = progress.add_task("training", total=epochs)
        model, losses = train(x, y, epochs=epochs, lr=lr, progress=lambda _: progress.advance(task))
    candidate = ModelParams("candidate", model.weight, model.bias)
    auc = evaluate_auc(candidate, x, y)
    if model.weight <= 0:
        console.print(f"[red]the fit has a non-positive weight ({model.weight:.4g}): more anoms would mean less "
                      "threat; not saved[/]")
        raise typer.Exit(1)
    saved = ModelStore(model_dir).save(model.weight, model.bias, auc=auc, trained_on=str(data.resolve()))
    result = {"version": saved.version, "weight": saved.weight, "bias": saved.bias, "auc": auc,
              "loss_first": losses[0], "loss_last": losses[-1], "samples": len(x), "positives": sum(y),
              "epochs": epochs, "model_dir": str(model_dir)}
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    Console().print(f"entropy model [bold]{saved.version}[/]: w {saved.weight:.4f}, b {saved.bias:.4f}; "
                    f"MSE {losses[0]:.4f} → {losses[-1]:.4f} over {epochs} epochs; ROC AUC {auc:.3f} on "
                    f"{len(x)} samples ({sum(y)} positive); written to {model_dir}")
