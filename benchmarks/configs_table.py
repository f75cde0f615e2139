"""Train each config in turn and tabulate what it reached: a Markdown table for the README.

    python -m benchmarks.configs_table configs/xor/*.yaml configs/imdb_synth/*.yaml
    python -m benchmarks.configs_table configs/imdb/*.yaml --test --target 0.85
    python -m benchmarks.configs_table configs/toy_lm/transformer.yaml --metric val/bpc --mode min --target 0.6
    python -m benchmarks.configs_table C --runs-dir runs/table -- --trainer.max_epochs 5   # extra train.py args

Each config runs as `python train.py fit --config C [extra args after --]` in its own process; the figures
come from the TensorBoard events the run wrote: the best value of the monitored metric and the epoch it
was first reached, the number of epochs, seconds per epoch (between the first and last validation), the
wall time of the whole process (start-up and data preparation included), the time until the metric first
reached `--target`, and the peak resident memory. With --test, the best checkpoint is then evaluated on
the test split in a second process (`train.py test --ckpt_path …/best-*.ckpt`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

PACKAGES = Path(__file__).resolve().parents[1]  # the folder holding the lab's packages: a checkout's root
# Runs train.py's program (lightning_modules.cli.run, so an installed copy needs no train.py file) in this
# process and reports its peak resident memory (ru_maxrss is in KiB on Linux).
RUNNER = (
    "import resource\nfrom lightning_modules.cli import run\n"
    "try:\n    run()\n"
    "finally:\n    print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)"
)


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+", type=Path)
    p.add_argument("--runs-dir", type=Path, default=Path("runs/table"), help="where the runs are logged")
    p.add_argument("--metric", default="val/acc")
    p.add_argument("--mode", choices=["max", "min"], default="max")
    p.add_argument("--target", type=float, default=0.99, help="report the time until the metric reaches this")
    p.add_argument("--test", action="store_true", help="also evaluate the best checkpoint on the test split")
    p.add_argument("--test-metric", default="test/acc")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return p.parse_args(argv), extra


def train_configs(paths: list[Path]) -> list[Path]:
    """The given files but tune.py's Optuna search spaces (configs/search_spaces/), which a glob such as
    configs/*/*.yaml matches as well: they are named on stderr and left out, before any run starts."""
    spaces = [path for path in paths if path.resolve().parent.name == "search_spaces"]
    if spaces:
        names = ", ".join(map(str, spaces))
        print(f"left out {names}: Optuna search spaces (tune.py's), not train.py configs", file=sys.stderr)
    return [path for path in paths if path not in spaces]


def versions(experiment_dir: Path) -> list[Path]:
    return sorted(experiment_dir.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))


def run_train(subcommand: str, config: Path, name: str, args: argparse.Namespace, extra: list[str]) -> tuple:
    """Run train.py; return its run folder, wall seconds, peak RSS in MB and the start time."""
    command = [sys.executable, "-c", RUNNER, subcommand, "--config", str(config),
               "--trainer.logger.init_args.save_dir", str(args.runs_dir), "--trainer.logger.init_args.name", name,
               "--trainer.enable_progress_bar", "false", *extra]  # fmt: skip
    # The packages go on the child's path as an absolute path: jsonargparse reads a config file from inside its
    # folder, where the relative '' entry of `python -c` would no longer find them.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGES), os.environ.get("PYTHONPATH")]))}
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env=env)  # in this folder, as train.py runs
    wall = time.time() - start
    if result.returncode != 0:
        raise RuntimeError(f"{subcommand} {config} failed:\n{result.stderr[-3000:]}")
    peak_kib = next(int(ln.split()[1]) for ln in result.stdout.splitlines() if ln.startswith("PEAK_RSS_KIB"))
    run_dir = versions(args.runs_dir.resolve() / name)[-1]
    return run_dir, wall, peak_kib / 1024, start


def scalars(run_dir: Path, tag: str) -> list:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return events.Scalars(tag) if tag in events.Tags()["scalars"] else []


def run_config(config: Path, args: argparse.Namespace, extra: list[str]) -> dict:
    name = "/".join(config.with_suffix("").parts[-2:])
    run_dir, wall, peak_mb, start = run_train("fit", config, name, args, extra)
    values = scalars(run_dir, args.metric)
    if not values:
        raise RuntimeError(f"{config}: the run logged no {args.metric}")
    best = (max if args.mode == "max" else min)(e.value for e in values)
    reached = (lambda v: v >= args.target) if args.mode == "max" else (lambda v: v <= args.target)
    first_hit = next((e for e in values if reached(e.value)), None)
    per_epoch = (values[-1].wall_time - values[0].wall_time) / (len(values) - 1) if len(values) > 1 else None
    row = {
        "config": str(config), "best": best, "best_epoch": next(i for i, e in enumerate(values) if e.value == best) + 1,
        "epochs": len(values), "s_per_epoch": per_epoch, "wall_s": wall, "peak_rss_mb": peak_mb,
        "to_target_s": None if first_hit is None else first_hit.wall_time - start, "run_dir": str(run_dir),
    }  # fmt: skip
    if args.test:
        best_ckpt = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))[-1]
        test_dir, _, test_peak, _ = run_train("test", config, name, args, [*extra, "--ckpt_path", str(best_ckpt)])
        # An evaluation with a run's checkpoint logs into that run's test/ folder (lightning_modules/cli.py).
        test_events = test_dir / "test" if (test_dir / "test").is_dir() else test_dir
        row["test"] = scalars(test_events, args.test_metric)[-1].value
        row["peak_rss_mb"] = max(peak_mb, test_peak)
    return row


def main(argv: list[str] | None = None) -> None:
    args, extra = parse_args(argv)
    rows = []
    test_column = f" {args.test_metric} |" if args.test else ""
    print(
        f"| config | best {args.metric} | epoch of best | epochs | s/epoch |{test_column} wall time | "
        f"time to {args.metric} {'≥' if args.mode == 'max' else '≤'} {args.target} | peak RSS |"
    )
    print("|---|---:|---:|---:|---:|" + ("---:|" if args.test else "") + "---:|---:|---:|")
    for config in train_configs(args.configs):
        row = run_config(config, args, extra)
        rows.append(row)
        to_target = "never" if row["to_target_s"] is None else f"{row['to_target_s']:.0f} s"
        per_epoch = (
            "–" if row["s_per_epoch"] is None else f"{row['s_per_epoch']:.{0 if row['s_per_epoch'] >= 10 else 1}f}"
        )
        test = f" {row['test']:.4f} |" if args.test else ""
        print(
            f"| `{row['config']}` | {row['best']:.4f} | {row['best_epoch']} | {row['epochs']} | {per_epoch} |{test} "
            f"{row['wall_s']:.0f} s | {to_target} | {row['peak_rss_mb']:.0f} MB |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
