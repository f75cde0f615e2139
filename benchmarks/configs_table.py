"""Train each config in turn and tabulate what it reached: a Markdown table for the README.

    python benchmarks/configs_table.py configs/xor/*.yaml configs/imdb_synth/*.yaml
    python benchmarks/configs_table.py configs/imdb/*.yaml --target 0.85 -- --trainer.max_epochs 5

Each config runs as `python train.py fit --config C [extra args after --]` in its own process; the figures
come from the TensorBoard events the run wrote: the best value of the monitored metric, the epoch it was
first reached, the number of epochs run, the wall time of the whole process (start-up and data
preparation included), the time until the metric first reached `--target`, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
# Runs train.py in this process and reports its peak resident memory (ru_maxrss is in KiB on Linux).
# The repo root goes on sys.path as an absolute path: jsonargparse reads a config file from inside its
# folder, where a relative '' entry would no longer find the project's packages.
RUNNER = (
    f"import resource, runpy, sys; sys.argv = sys.argv[1:]; sys.path.insert(0, {str(ROOT)!r})\n"
    "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
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
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    return p.parse_args(argv), extra


def newest_version(experiment_dir: Path) -> Path:
    versions = sorted(experiment_dir.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions:
        raise FileNotFoundError(f"the run wrote nothing under {experiment_dir}")
    return versions[-1]


def run_config(config: Path, args: argparse.Namespace, extra: list[str]) -> dict:
    name = "/".join(config.with_suffix("").parts[-2:])
    command = [
        sys.executable,
        "-c",
        RUNNER,
        str(ROOT / "train.py"),
        "fit",
        "--config",
        str(config),
        "--trainer.logger.init_args.save_dir",
        str(args.runs_dir),
        "--trainer.logger.init_args.name",
        name,
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - start
    if result.returncode != 0:
        raise RuntimeError(f"{config} failed:\n{result.stderr[-3000:]}")
    peak_kib = next(int(ln.split()[1]) for ln in result.stdout.splitlines() if ln.startswith("PEAK_RSS_KIB"))

    run_dir = newest_version(ROOT / args.runs_dir / name)
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    values = events.Scalars(args.metric)
    best_of = max if args.mode == "max" else min
    best = best_of(e.value for e in values)
    reached = (lambda v: v >= args.target) if args.mode == "max" else (lambda v: v <= args.target)
    first_hit = next((e for e in values if reached(e.value)), None)
    return {
        "config": str(config),
        "best": best,
        "best_epoch": next(i for i, e in enumerate(values) if e.value == best) + 1,
        "epochs": len(values),
        "wall_s": wall,
        "to_target_s": None if first_hit is None else first_hit.wall_time - start,
        "peak_rss_mb": peak_kib / 1024,
        "run_dir": str(run_dir),
    }


def main(argv: list[str] | None = None) -> None:
    args, extra = parse_args(argv)
    rows = []
    print(
        f"| config | best {args.metric} | epoch of best | epochs | wall time | time to {args.metric} "
        f"{'≥' if args.mode == 'max' else '≤'} {args.target} | peak RSS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config in args.configs:
        row = run_config(config, args, extra)
        rows.append(row)
        to_target = "never" if row["to_target_s"] is None else f"{row['to_target_s']:.0f} s"
        print(
            f"| `{row['config']}` | {row['best']:.4f} | {row['best_epoch']} | {row['epochs']} | "
            f"{row['wall_s']:.0f} s | {to_target} | {row['peak_rss_mb']:.0f} MB |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
