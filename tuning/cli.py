"""Optuna studies over any train.py config: sample hyperparameters, train, prune, keep the best.

    python tune.py --config configs/imdb_synth/simple_attention.yaml --n-trials 40
    python tune.py --config configs/xor/attention.yaml --n-trials 20 --timeout 900 -- --trainer.max_epochs 5
    python tune.py --config C --storage sqlite:///studies/shared.db --study-name s   # run in several shells

Each trial is a train.py run built by the same LightningCLI (one code path), with the sampled keys given as
command-line overrides; anything after `--` is passed to every trial as well, and a key set there is fixed:
it leaves the search (e.g. `-- --model.init_args.pool first`). The objective is the best
value of `--monitor` over the trial's epochs. The study lives in a storage (by default an SQLite file in the
study folder), so a killed study resumes where it stopped and several processes can share one; `--n-trials`
is the total the study should reach, not a count per process.

Written to the study folder (studies/<study-name>/ by default): study.db, trials/trial_N/ (TensorBoard
logs, config, checkpoints of every trial), best.yaml (`python train.py fit --config best.yaml` reproduces
the best trial), trials.csv, optimization_history.png and param_importances.png. Bad input ends in one line
(exit status 2); `pip install .` also installs this command as `lab-tune`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lab_errors import InputError, MissingInputError
from lightning_modules.allocator import tune_allocator
from tuning.search_space import SearchSpace
from tuning.settings import StudySettings
from tuning.study import run_study


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path, help="a train.py YAML config")
    p.add_argument("--n-trials", type=int, default=40, help="trials the study should have in all")
    p.add_argument("--timeout", type=float, help="stop this process after so many seconds")
    p.add_argument("--search-space", type=Path, help="YAML search space (default: configs/search_spaces/<task>.yaml)")
    p.add_argument("--study-name", help="default: <task>-<experiment> of the config")
    p.add_argument("--study-dir", type=Path, help="default: studies/<study-name>")
    p.add_argument("--storage", help="an Optuna storage URL (default: sqlite:///<study-dir>/study.db)")
    p.add_argument("--output", type=Path, help="the best config (default: <study-dir>/best.yaml)")
    p.add_argument("--monitor", default="val/acc", help="the metric to optimise (default val/acc)")
    p.add_argument(
        "--direction",
        choices=["maximize", "minimize"],
        help="default: minimize for losses, bpc and perplexity, else maximize",
    )
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], default="median")
    p.add_argument("--pruner-startup-trials", type=int, default=5, help="trials before the median pruner acts")
    p.add_argument("--pruner-warmup-epochs", type=int, default=1, help="epochs before a trial may be pruned")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed; each process's TPE seed is derived from it and recorded in the study's user attrs",
    )
    args = p.parse_args(argv)
    if args.n_trials <= 0:
        p.error(f"--n-trials must be positive, got {args.n_trials}")
    return args, extra


def default_search_space(config: Path) -> Path:
    """configs/search_spaces/<task>.yaml for configs/<task>/<experiment>.yaml: found beside the config's own
    folder, not in this package's, so that an installed lab-tune finds it in the checkout it runs in."""
    task = config.resolve().parent
    return task.parent / "search_spaces" / f"{task.name}.yaml"


def fixed_keys(extra: list[str]) -> set[str]:
    """Config keys set after `--` (`--key value` or `--key=value`): fixed for every trial, not searched."""
    return {arg[2:].split("=")[0] for arg in extra if arg.startswith("--")}


def settings_from_args(args: argparse.Namespace, extra: list[str]) -> StudySettings:
    config = args.config.resolve()
    if not config.is_file():
        raise MissingInputError(f"config {args.config} does not exist")
    name = args.study_name or f"{config.parent.name}-{config.stem}"
    study_dir = (args.study_dir or Path("studies") / name).resolve()
    space_path = args.search_space or default_search_space(config)
    lowered = args.monitor.lower()
    minimize = any(word in lowered for word in ("loss", "bpc", "ppl", "perplexity"))
    return StudySettings(
        config=config,
        space=SearchSpace.load(space_path).without(fixed_keys(extra)),
        study_name=name,
        study_dir=study_dir,
        storage=args.storage or f"sqlite:///{study_dir / 'study.db'}",
        output=(args.output or study_dir / "best.yaml").resolve(),
        n_trials=args.n_trials,
        timeout=args.timeout,
        monitor=args.monitor,
        direction=args.direction or ("minimize" if minimize else "maximize"),
        pruner=args.pruner,
        pruner_startup_trials=args.pruner_startup_trials,
        pruner_warmup_epochs=args.pruner_warmup_epochs,
        seed=args.seed,
        extra_args=extra,
    )


def main(argv: list[str] | None = None) -> None:
    args, extra = parse_args(argv)
    for name in ("lightning.pytorch", "lightning.fabric"):  # one line per trial is Optuna's
        logging.getLogger(name).setLevel(logging.WARNING)
    # sys.argv stays as it is: every trial's CLI gets its arguments explicitly, and the ranks of a DDP trial
    # re-run the command line of their own subprocess (tuning.distributed_trial), never this one.
    try:
        run_study(settings_from_args(args, extra))
    except InputError as err:  # bad input in one line; anything else is a bug and keeps its traceback
        sys.stderr.write(f"error: {err}\n")
        sys.exit(2)


def run() -> None:
    """The program behind `python tune.py` and the `lab-tune` command: the process's allocation policy first
    (lightning_modules/allocator.py; a program's choice, so not in main(), which tests call in-process), then
    main()."""
    tune_allocator()  # large tensors stay on the heap
    main()


if __name__ == "__main__":
    run()
