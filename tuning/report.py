"""What a study leaves behind: the best config as YAML, a table of trials, CSV, and plots."""

from __future__ import annotations

import logging
import warnings
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import optuna
from optuna.trial import TrialState

from lightning_modules.cli import parse_config
from tuning.settings import StudySettings

log = logging.getLogger("tune")


def best_config_yaml(study: optuna.Study, settings: StudySettings) -> str:
    """The complete train.py config of the best trial; its runs log under runs/tuned/<study>."""
    best = study.best_trial
    parser, config = parse_config(settings.run_args(best.params, "runs", f"tuned/{settings.study_name}"))
    header = (
        f"# Best of study {settings.study_name!r}: trial {best.number}, "
        f"{settings.monitor} = {best.value:.4f}\n"
        f"# (from {settings.config.name} with {settings.space.source}).\n"
        f"# Reproduce: python train.py fit --config {settings.output.name}\n"
    )
    return header + parser.dump(config, skip_none=False)


def summary_table(study: optuna.Study, settings: StudySettings, top: int = 15) -> str:
    """The finished trials, best first: number, state, value, epochs, seconds and the sampled values."""
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    reverse = settings.direction == "maximize"
    finished.sort(key=lambda t: (t.value is not None, t.value if t.value is not None else 0), reverse=reverse)
    counts = Counter(t.state.name.lower() for t in study.trials)
    lines = [f"study {settings.study_name!r}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    lines.append(f"{'trial':>5} {'state':>8} {settings.monitor:>9} {'epochs':>6} {'seconds':>8}  parameters")
    for t in finished[:top]:
        value = t.value if t.value is not None else max(t.intermediate_values.values(), default=float("nan"))
        seconds = t.duration.total_seconds() if t.duration else float("nan")
        params = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in t.params.items())
        epochs = len(t.intermediate_values) or t.user_attrs.get("epochs", "")
        lines.append(f"{t.number:>5} {t.state.name.lower():>8} {value:>9.4f} {epochs!s:>6} {seconds:>8.0f}  {params}")
    return "\n".join(lines)


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


MIN_TRIALS_FOR_PARAMETER_PLOTS = 3  # slice and parallel coordinates say nothing about fewer complete trials


def save_plots(study: optuna.Study, settings: StudySettings) -> list[str]:
    """Optimisation history and parameter importances as PNG beside the study, and once there are enough
    complete trials the value against each parameter (slice) and parallel coordinates (two or more
    parameters); names of those written."""
    vis = optuna.visualization.matplotlib
    plots = {
        "optimization_history.png": vis.plot_optimization_history,
        "param_importances.png": vis.plot_param_importances,
    }
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) >= MIN_TRIALS_FOR_PARAMETER_PLOTS:
        plots["slice.png"] = vis.plot_slice
        if len({key for t in complete for key in t.params}) >= 2:
            plots["parallel_coordinate.png"] = vis.plot_parallel_coordinate
    written = []
    for filename, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the matplotlib backend is marked experimental
            try:
                axes = plot(study)
            except (ValueError, RuntimeError) as err:  # e.g. importances need two finished trials
                log.warning("no %s: %s", filename, err)
                continue
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure  # slice: one axes per parameter
            if filename == "parallel_coordinate.png":  # one vertical axis per parameter: room for each
                figure.set_size_inches(max(6.4, 1.6 * len(study.best_params) + 2), 5.5)
            figure.tight_layout()  # warns that parallel coordinates' colour bar does not fit: it still draws
        figure.savefig(settings.study_dir / filename, dpi=120)
        matplotlib.pyplot.close(figure)
        written.append(filename)
    return written


def write_outputs(study: optuna.Study, settings: StudySettings) -> None:
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(best_config_yaml(study, settings))
    study.trials_dataframe().to_csv(settings.study_dir / "trials.csv", index=False)
    plots = save_plots(study, settings)
    print(summary_table(study, settings))
    print(f"best config: {settings.output}   (python train.py fit --config {settings.output})")
    print(f"study folder: {settings.study_dir} (trials.csv, {', '.join(plots) or 'no plots'}, trials/)")
