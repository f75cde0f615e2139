"""Plot training curves from the TensorBoard logs of one or more runs, one panel per metric.

    python plot_curves.py runs/imdb/transformer_1block/version_0 --out imdb_curves.png
    python plot_curves.py runs/toy_lm/transformer/version_0 --metrics train/loss val/bpc train/grad_norm
    python plot_curves.py runs/imdb/*/version_0 --metrics val/acc --x epoch     # compare runs

Without --metrics it plots what the run has: train and validation loss (and val/acc) for a classifier,
train loss, val/bpc and the gradient norm for a language model. --x epoch numbers values 1, 2, … (for
metrics logged once an epoch, like train/loss_epoch and val/loss); the default is the optimiser step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DEFAULTS = (
    ["train/loss", "val/bpc", "train/grad_norm"],  # language models
    ["train/loss_epoch", "val/loss", "val/acc"],  # classifiers
    ["train/loss_epoch", "val/loss"],
)


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def plot(runs: list[Path], metrics: list[str] | None, x: str, out: Path, title: str | None = None) -> list[str]:
    series = {run: read_scalars(run) for run in runs}
    if not any(series.values()):
        raise SystemExit(f"error: no TensorBoard scalars under {', '.join(map(str, runs))}")
    if metrics is None:
        available = set().union(*(s.keys() for s in series.values()))
        metrics = next((m for m in DEFAULTS if set(m) <= available), sorted(available)[:3])
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for run, scalars in series.items():
            points = scalars.get(metric, [])
            if points:
                xs = range(1, len(points) + 1) if x == "epoch" else [s for s, _ in points]
                label = "/".join(run.parts[-3:-1]) if len(runs) > 1 else None
                ax.plot(list(xs), [v for _, v in points], marker="o" if len(points) < 30 else None, label=label)
        ax.set_title(metric)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if metric == "train/grad_norm":
            ax.set_yscale("log")
        if len(runs) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(title or ", ".join("/".join(r.parts[-3:]) for r in runs), fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return metrics


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (…/version_N) holding TensorBoard events")
    p.add_argument("--metrics", nargs="+", help="scalar tags to plot (default: chosen from what the run logged)")
    p.add_argument("--x", choices=["step", "epoch"], default="step")
    p.add_argument("--out", type=Path, default=Path("curves.png"))
    p.add_argument("--title")
    args = p.parse_args(argv)
    metrics = plot(args.runs, args.metrics, args.x, args.out, args.title)
    print(f"{', '.join(metrics)} → {args.out}")


if __name__ == "__main__":
    main()
