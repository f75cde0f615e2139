"""Turn runs into a report: learning curves and a table of accuracy, time and memory, from the runs' own logs.

    python -m programs.run_report runs/compare/exp*/version_0 --out reports/compare     # report.md and its figures
    python -m programs.run_report runs/imdb/transformer_1block/version_0 --out figures --x epoch
    python -m programs.run_report runs/toy_lm/transformer/version_0 --metrics train/loss val/bpc train/grad_norm \\
        --out figures
    python -m programs.run_report runs/imdb/*/version_0 --metrics val/acc --x epoch --out figures   # compare runs

Without --metrics it writes OUT/report.md: a table sorted by experiment number (the number ending the run's
experiment folder: runs/compare/exp3/version_0 is 3; runs without one follow, by name) with each run's
architecture (from the config.yaml the CLI saved beside the logs), trainable parameters, best train and
validation accuracy, training wall-clock, evaluation time and peak memory, read from the `cost/*` scalars that
every CLI run logs (lightning_modules/run_costs.py), so nothing is re-run. Below it, the learning curves over
training iterations: one PNG per run (training loss, validation loss, validation accuracy, or val/bpc for a
language model) and one overlay of all runs. A run without event files or without the `cost/*` scalars is an
error naming the folder.

With --metrics it only draws those scalars, one panel each, all runs overlaid, into OUT/curves.png; any run
with TensorBoard events will do. --x epoch numbers the values 1, 2, … (for metrics logged once an epoch, like
train/loss_epoch and val/loss); the default x is the optimiser step (global step).

`pip install .` also installs this command as `lab-report`.
"""

from __future__ import annotations

import argparse
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lab_errors import InputError, MissingInputError
from lightning_modules.one_line_errors import input_errors_in_one_line
from lightning_modules.run_costs import EVAL_SECONDS, ON_CUDA, PEAK_MEMORY_MB, TRAIN_SECONDS, TRAINABLE_PARAMS

Scalars = dict[str, list[tuple[int, float]]]
REQUIRED_COSTS = (TRAINABLE_PARAMS, TRAIN_SECONDS, EVAL_SECONDS, PEAK_MEMORY_MB)
# A panel of the learning curves: its title and the tags that can fill it, first found first (classifiers log
# the step-level training loss as train/loss_step, language models as train/loss; a run shorter than
# trainer.log_every_n_steps has only the epoch means, drawn at the global step of each epoch's end).
PANELS = {
    "step": (
        ("training loss", ("train/loss_step", "train/loss", "train/loss_epoch")),
        ("validation loss", ("val/loss",)),
        ("validation accuracy", ("val/acc",)),
        ("validation bits per character", ("val/bpc",)),  # language models
    ),
    "epoch": (
        ("training loss", ("train/loss_epoch", "train/loss")),
        ("validation loss", ("val/loss",)),
        ("validation accuracy", ("val/acc",)),
        ("validation bits per character", ("val/bpc",)),  # language models
    ),
}
# Config keys that describe an architecture (matched as parts of the key); others (optimiser, data sizes) do not.
ARCHITECTURE_KEYS = (
    "encoder",
    "decoder",
    "backbone",
    "d_model",
    "hidden",
    "layers",
    "heads",
    "dropout",
    "norm",
    "attention",
    "pool",
    "bidirectional",
    "position",
    "freeze",
    "pretrained",
    "name_or_dir",  # which pretrained weights
    "d_ff",
    "dim",
)
NOT_ARCHITECTURE = ("attention_examples", "optimizer", "lr_scheduler")


@dataclass
class Run:
    folder: Path
    name: str
    scalars: Scalars
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int | None:
        """The number ending the experiment folder's name (exp3 → 3), None without one."""
        match = re.search(r"(\d+)$", experiment_folder(self.folder).name)
        return int(match.group(1)) if match else None

    def values(self, tag: str) -> list[float]:
        return [v for _, v in self.scalars.get(tag, [])]


def experiment_folder(folder: Path) -> Path:
    """runs/compare/exp3/version_0 → runs/compare/exp3; a folder not named version_N is its own experiment."""
    return folder.parent if re.fullmatch(r"version_\d+", folder.name) else folder


def read_scalars(folder: Path) -> Scalars:
    """Every scalar of the event files directly in `folder` (an evaluation's sub-folder is another run)."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def load_run(folder: Path, needs_costs: bool) -> Run:
    if not folder.is_dir():
        raise MissingInputError(f"{folder}: no such run folder (pass runs/<task>/<experiment>/version_N)")
    if not list(folder.glob("events.out.tfevents.*")):
        raise InputError(f"{folder}: no TensorBoard event files (events.out.tfevents.*) in this folder")
    scalars = read_scalars(folder)
    missing = [tag for tag in REQUIRED_COSTS if tag not in scalars]
    if needs_costs and missing:
        raise InputError(
            f"{folder}: the logs have no {', '.join(missing)}: the run predates lightning_modules/run_costs.py "
            "or was not started by train.py; draw its curves with --metrics"
        )
    config_file = folder / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    return Run(folder, "", scalars, config if isinstance(config, dict) else {})


def name_runs(runs: list[Run]) -> None:
    """Each run by its experiment (compare/exp3); by the full path's tail where two share an experiment."""
    for run in runs:
        run.name = "/".join(experiment_folder(run.folder).parts[-2:])
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:
            run.name = "/".join(run.folder.parts[-3:])


def sort_key(run: Run) -> tuple[bool, int, str]:
    return run.number is None, run.number or 0, run.name


def describe(spec: Any) -> str:
    """A model's config, short: `Class(key=value, …)` with only the keys that describe an architecture, and
    modules passed in (class_path/init_args) described the same way."""
    if not isinstance(spec, dict) or "class_path" not in spec:
        return str(spec)
    return f"{spec['class_path'].rsplit('.', 1)[-1]}({', '.join(shape_settings(spec.get('init_args') or {}))})"


def shape_settings(arguments: dict[str, Any]) -> list[str]:
    """`key=value` for each argument that shapes the model; a module passed in as `key=Class(…)`, and a typed
    configuration passed whole (a plain mapping, such as a TransformerConfig) as `key=(…)` of its own."""
    settings = []
    for key, value in arguments.items():
        if value is None or value is False or key in NOT_ARCHITECTURE:  # unset options say nothing
            continue
        if isinstance(value, dict) and "class_path" in value:
            settings.append(f"{key}={describe(value)}")
        elif isinstance(value, dict):
            inner = shape_settings(value)
            if inner:
                settings.append(f"{key}=({', '.join(inner)})")
        elif not isinstance(value, list) and any(part in key for part in ARCHITECTURE_KEYS):
            settings.append(f"{key}={value}")
    return settings


def curve_tags(runs: list[Run], x: str) -> list[tuple[str, dict[str, str]]]:
    """The panels some run can fill: (title, run name → the tag that fills it for that run)."""
    panels = []
    for title, candidates in PANELS[x]:
        tags = {}
        for run in runs:
            found = next((t for t in candidates if t in run.scalars), None)
            if found:
                tags[run.name] = found
        if tags:
            panels.append((title, tags))
    return panels


def draw(runs: list[Run], panels: list[tuple[str, dict[str, str]]], x: str, out: Path, title: str) -> None:
    """One panel per (title, run → tag); one line per run; x the global step or the value's number."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), squeeze=False)
    for ax, (panel_title, tags) in zip(axes[0], panels, strict=True):
        for run in runs:
            points = run.scalars.get(tags.get(run.name, ""), [])
            if not points:
                continue
            xs = list(range(1, len(points) + 1)) if x == "epoch" else [s for s, _ in points]
            ax.plot(xs, [v for _, v in points], marker="o" if len(points) < 30 else None, label=run.name)
        shown = sorted(set(tags.values()))
        ax.set_title(f"{panel_title} ({', '.join(shown)})" if panel_title not in shown else panel_title, fontsize=9)
        ax.set_xlabel("training iterations (global step)" if x == "step" else "epoch (value number)")
        ax.set_ylabel(" / ".join(shown))
        ax.grid(alpha=0.3)
        if "train/grad_norm" in shown:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_metrics(runs: list[Run], metrics: list[str], x: str, out: Path, title: str | None = None) -> None:
    """The named scalars of every run, one panel each, all runs overlaid, into `out` (any run with events)."""
    for metric in metrics:
        if not any(metric in run.scalars for run in runs):
            logged = sorted(set().union(*(run.scalars for run in runs)))
            raise InputError(f"{metric} (of --metrics): no run logged it; they logged {', '.join(logged)}")
    panels = [(m, {run.name: m for run in runs}) for m in metrics]
    draw(runs, panels, x, out, title or ", ".join(run.name for run in runs))


@dataclass
class Row:
    run: Run
    architecture: str
    trainable_params: int
    best_train_acc: float | None
    best_val_acc: float | None
    best_val_step: int | None
    train_seconds: float
    eval_seconds: float
    peak_memory_mb: float
    on_cuda: bool | None


def table_row(run: Run) -> Row:
    val = run.scalars.get("val/acc", [])
    best_step, best_val = max(val, key=lambda point: point[1]) if val else (None, None)
    train_acc = run.values("train/acc")
    on_cuda = run.values(ON_CUDA)
    return Row(
        run=run,
        architecture=describe(run.config.get("model")) if run.config.get("model") else "(no config.yaml)",
        trainable_params=int(run.values(TRAINABLE_PARAMS)[-1]),  # the count the rest of the run trained
        best_train_acc=max(train_acc) if train_acc else None,
        best_val_acc=best_val,
        best_val_step=best_step,
        train_seconds=max(run.values(TRAIN_SECONDS)),  # cumulative: the largest value is the total
        eval_seconds=statistics.median_low(run.values(EVAL_SECONDS)),
        peak_memory_mb=max(run.values(PEAK_MEMORY_MB)),
        on_cuda=bool(on_cuda[-1]) if on_cuda else None,
    )


HEADER = ("#", "experiment", "architecture", "trainable params", "best train acc", "best val acc (step)",
          "training time", "eval time", "peak memory")  # fmt: skip


def markdown_table(rows: list[Row]) -> str:
    best = max((r.best_val_acc for r in rows if r.best_val_acc is not None), default=None)
    lines = ["| " + " | ".join(HEADER) + " |", "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        memory = {True: "GPU", False: "RSS", None: "?"}[row.on_cuda]
        cells = [
            str(row.run.number) if row.run.number is not None else "",
            f"`{row.run.name}`",
            row.architecture.replace("|", "\\|"),
            f"{row.trainable_params:,}",
            f"{row.best_train_acc:.4f}" if row.best_train_acc is not None else "—",
            f"{row.best_val_acc:.4f} ({row.best_val_step})" if row.best_val_acc is not None else "—",
            f"{row.train_seconds:.1f} s",
            f"{row.eval_seconds:.2f} s",
            f"{row.peak_memory_mb:.0f} MB {memory}",
        ]
        if best is not None and row.best_val_acc == best:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


CAPTION = """\
**#**: the experiment number, from the run's folder name (rows sorted by it). **experiment**: the run's
experiment folder. **architecture**: the model class and the settings that shape it, from the run's config.yaml.
**trainable params**: parameters with requires_grad (`cost/trainable_params`; for a run that unfroze layers, the
count after unfreezing). **best train acc**: the highest training accuracy of an epoch (`train/acc`, accumulated
over the epoch while the weights changed). **best val acc (step)**: the highest validation accuracy of any
validation, not the last, and the global step it was logged at; the row with the best one is in bold.
**training time**: training wall-clock of the whole run, validation passes and the sanity check left out
(`cost/train_seconds`). **eval time**: the wall-clock of one pass over the validation split (`cost/eval_seconds`,
the median pass of the run), with what the model does at the end of a validation (metrics, logged figures).
**peak memory**: `GPU` is the steady-state peak of `torch.cuda.max_memory_allocated`
(reset after the first training batches); `RSS` is the peak resident set size of the CPU process, everything it
loaded included (`cost/peak_memory_mb`); `?`, a run that did not log which (`cost/on_cuda`). Under DDP, rank zero's
figures."""


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def write_report(runs: list[Run], x: str, out_dir: Path) -> Path:
    """OUT/report.md with the table, the overlay of all runs and one figure per run."""
    runs = sorted(runs, key=sort_key)
    out_dir.mkdir(parents=True, exist_ok=True)
    panels = curve_tags(runs, x)
    overlay = out_dir / "curves_all.png"
    draw(runs, panels, x, overlay, "all runs")
    lines = [
        "# Report",
        "",
        markdown_table([table_row(run) for run in runs]),
        "",
        CAPTION,
        "",
        "## Learning curves",
        "",
        f"![learning curves of all runs]({overlay.name})",
        "",
    ]
    for run in runs:
        figure = out_dir / f"curves_{slug(run.name)}.png"
        draw([run], [(t, tags) for t, tags in panels if run.name in tags], x, figure, f"{run.name} ({run.folder})")
        lines += [f"![learning curves of {run.name}]({figure.name})", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (…/version_N) holding TensorBoard events")
    p.add_argument("--out", type=Path, required=True, help="folder for report.md and the PNG figures")
    p.add_argument("--metrics", nargs="+", help="only draw these scalar tags, into OUT/curves.png")
    p.add_argument("--x", choices=["step", "epoch"], default="step", help="x axis: global step or value number")
    p.add_argument("--title", help="the title of OUT/curves.png (with --metrics)")
    args = p.parse_args(argv)
    with input_errors_in_one_line():
        runs = [load_run(folder, needs_costs=not args.metrics) for folder in args.runs]
        name_runs(runs)
        if args.metrics:
            out = args.out / "curves.png"
            plot_metrics(runs, args.metrics, args.x, out, args.title)
        else:
            out = write_report(runs, args.x, args.out)
    print(f"{len(runs)} run(s) → {out}")


if __name__ == "__main__":
    main()
