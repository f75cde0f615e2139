"""How far masked-LM pretraining has carried a sentiment task: the linear-probe accuracy of each checkpoint of a
pretraining run, against its training step.

    python -m programs.probe runs/mlm/imdb/version_0 --config configs/mlm/imdb.yaml --out docs/figures/mlm_probe

For every checkpoint the run kept (configs/mlm/imdb.yaml keeps one at each validation), and for the same
encoder with its initial random weights (step 0), the frozen encoder reads `--train-reviews` labelled training
reviews and every validation review of the config's data module; each review becomes the mean of the
encoder's last hidden states over its real tokens, and a logistic regression (standardised features, L2
penalty, full-batch L-BFGS) is fitted on the training features and scored on the validation ones. Nothing of
the encoder is trained, so the curve shows what pretraining itself put into the representation; a classifier
trained on top (configs/imdb/*_bigru.yaml) adds to it. The test split is never read.

Writes OUT/probe.md (a table: step, the metric the run's ModelCheckpoint monitored as recorded in that
checkpoint, e.g. the validation masked-LM loss, and probe accuracy) and OUT/probe.png (accuracy against
step), and prints the table. `pip install .` also installs this command as `lab-probe`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from lightning import LightningDataModule
from torch import Tensor

from lab_errors import InputError, MissingInputError
from layers.pooling import masked_mean
from layers.transformer import TransformerConfig, TransformerEncoder
from lightning_modules.checkpoints import model_checkpoint_states, read_checkpoint
from lightning_modules.mlm_encoder import MaskedLMEncoder, masked_lm_state
from lightning_modules.one_line_errors import input_errors_in_one_line


@dataclass(frozen=True)
class RunCheckpoint:
    step: int
    file: Path
    monitor: str | None  # the metric its ModelCheckpoint monitored (val/loss for the lab's pretraining runs)
    score: float | None  # that metric's value when the checkpoint was written


@dataclass(frozen=True)
class ProbePoint:
    step: int
    checkpoint: str  # "" for the untrained encoder
    accuracy: float
    score: float | None  # the checkpoint's monitored metric, when it has one


@torch.no_grad()
def encoder_features(encoder: TransformerEncoder, loader, limit: int | None = None) -> tuple[Tensor, Tensor]:
    """(features (N, D), labels (N,)): the mean of the encoder's last hidden states over each text's real
    tokens, for the first `limit` texts of `loader` (all of them when None)."""
    encoder.eval()
    features, labels, seen = [], [], 0
    for batch in loader:
        ids, mask = batch["input_ids"], batch["attention_mask"].bool()
        features.append(masked_mean(encoder(ids, mask), mask))  # (B, D)
        labels.append(batch["labels"])
        seen += len(ids)
        if limit is not None and seen >= limit:
            break
    x, y = torch.cat(features), torch.cat(labels)
    return (x[:limit], y[:limit]) if limit is not None else (x, y)


def fit_logistic_regression(x: Tensor, y: Tensor, l2: float = 1e-3, max_iter: int = 500) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression, minimising the mean cross-entropy + l2/2·|W|² (bias unpenalised) with
    full-batch L-BFGS. Returns (weight (C, D), bias (C,)) in the coordinates of the given features."""
    x = x.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    z = (x - mean) / std  # standardised, so one penalty suits every feature
    classes = int(y.max()) + 1
    weight = torch.zeros(classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def objective() -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ weight.T + bias, y) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    with torch.no_grad():  # back to the raw features: z·Wᵀ + b = x·(W/σ)ᵀ + (b − (W/σ)·μ)
        raw_weight = weight / std
        return raw_weight, bias - raw_weight @ mean


def accuracy(weight: Tensor, bias: Tensor, x: Tensor, y: Tensor) -> float:
    predictions = (x.double() @ weight.T + bias).argmax(-1)
    return (predictions == y).double().mean().item()


def probe_accuracy(encoder: TransformerEncoder, datamodule: LightningDataModule, train_reviews: int, l2: float):
    x_train, y_train = encoder_features(encoder, datamodule.train_dataloader(), train_reviews)
    x_val, y_val = encoder_features(encoder, datamodule.val_dataloader())
    weight, bias = fit_logistic_regression(x_train, y_train, l2)
    return accuracy(weight, bias, x_val, y_val)


def run_checkpoints(run: Path) -> list[RunCheckpoint]:
    """Every checkpoint of a run folder, by global step, with the score its ModelCheckpoint recorded in it;
    last.ckpt only when no other file holds its step."""
    folder = run / "checkpoints"
    files = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not files:
        raise MissingInputError(f"{run}: no checkpoints in {folder}; give a run folder of a masked-LM pretraining")
    by_step: dict[int, RunCheckpoint] = {}
    for file in sorted(files, key=lambda f: f.name == "last.ckpt"):  # named checkpoints first
        checkpoint = read_checkpoint(file)
        state = next((s for s in model_checkpoint_states(checkpoint) if s.get("monitor")), {})
        score = state.get("current_score")
        step = int(checkpoint["global_step"])
        by_step.setdefault(
            step, RunCheckpoint(step, file, state.get("monitor"), None if score is None else float(score))
        )
    return [by_step[step] for step in sorted(by_step)]


def load_datamodule(config: Path) -> LightningDataModule:
    """The data module of a config file's `data:` section (class_path/init_args), prepared for fitting."""
    from jsonargparse import ArgumentParser

    try:
        settings = yaml.safe_load(config.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"{config}: cannot read it as a YAML config ({err})") from err
    if "data" not in settings:
        raise InputError(
            f"{config}: no `data:` section; give the pretraining run's config (e.g. configs/mlm/imdb.yaml)"
        )
    parser = ArgumentParser()
    parser.add_subclass_arguments(LightningDataModule, "data")
    datamodule = parser.instantiate_classes(parser.parse_object({"data": settings["data"]})).data
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def probe_run(
    checkpoints: list[RunCheckpoint],
    datamodule: LightningDataModule,
    train_reviews: int = 5000,
    l2: float = 1e-3,
    seed: int = 0,
) -> list[ProbePoint]:
    """The probe accuracy of the untrained encoder (step 0, initialised with `seed`) and of every checkpoint
    of a run (`run_checkpoints`)."""
    _, hparams, _ = masked_lm_state(str(checkpoints[0].file))
    torch.manual_seed(seed)
    pretrained = TransformerConfig.coerce({**hparams["transformer"], "vocab_size": None})
    untrained = TransformerEncoder(pretrained.with_vocab_size(datamodule.vocab_size))
    points = [ProbePoint(0, "", probe_accuracy(untrained, datamodule, train_reviews, l2), None)]
    print(f"step 0 (untrained): probe accuracy {points[0].accuracy:.4f}", flush=True)
    for checkpoint in checkpoints:
        started = time.perf_counter()
        encoder = MaskedLMEncoder(datamodule.vocab_size, str(checkpoint.file))
        accuracy = probe_accuracy(encoder, datamodule, train_reviews, l2)
        points.append(ProbePoint(checkpoint.step, str(checkpoint.file), accuracy, checkpoint.score))
        print(
            f"step {checkpoint.step}: probe accuracy {points[-1].accuracy:.4f} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return points


def markdown_table(points: list[ProbePoint], monitor: str | None) -> str:
    rows = [f"| pretraining step | `{monitor or 'monitored metric'}` | linear-probe accuracy |", "|---:|---:|---:|"]
    for p in points:
        score = "–" if p.score is None else f"{p.score:.3f}"
        rows.append(f"| {p.step}{' (untrained)' if not p.checkpoint else ''} | {score} | {p.accuracy:.4f} |")
    return "\n".join(rows) + "\n"


def plot(points: list[ProbePoint], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.6))
    axis.plot([p.step for p in points], [p.accuracy for p in points], marker="o")
    axis.set(xlabel="masked-LM pretraining step", ylabel="linear-probe validation accuracy", title=title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring.")
    parser.add_argument("run", type=Path, help="a pretraining run folder, e.g. runs/mlm/imdb/version_0")
    parser.add_argument("--config", type=Path, required=True, help="the config whose `data:` the run trained on")
    parser.add_argument("--out", type=Path, required=True, help="folder for probe.md and probe.png")
    parser.add_argument("--train-reviews", type=int, default=5000, help="labelled training texts the probe fits on")
    parser.add_argument("--l2", type=float, default=1e-3, help="L2 penalty of the logistic regression")
    parser.add_argument("--seed", type=int, default=0, help="initialises the untrained (step 0) encoder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with input_errors_in_one_line():
        if args.train_reviews < 2:
            raise InputError(f"the probe needs at least 2 training reviews (--train-reviews), got {args.train_reviews}")
        checkpoints = run_checkpoints(args.run)  # a folder without checkpoints fails before the data is prepared
        points = probe_run(checkpoints, load_datamodule(args.config), args.train_reviews, args.l2, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(points, next((c.monitor for c in checkpoints if c.monitor), None))
    caption = (
        f"Linear probe of `{args.run}` (data: `{args.config}`): logistic regression on the frozen encoder's "
        f"mean-pooled states, fitted on {args.train_reviews} training texts, accuracy on the validation split.\n\n"
    )
    (args.out / "probe.md").write_text(caption + table)
    plot(points, args.out / "probe.png", f"{args.run}")
    print(table, end="")


if __name__ == "__main__":
    main()
