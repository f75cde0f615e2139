"""The model card (README.md) of an exported model: what was trained, on which data, what the run measured,
what the folder holds and how to load it, all read from the checkpoint and its run folder, nothing typed in.

- the model: its LightningModule and the transformer config (the checkpoint's hyperparameters);
- the data: the `data` section of the config.yaml the CLI saved beside the run's logs, or, for a checkpoint
  outside a run folder, the data module's hyperparameters that Lightning kept in the checkpoint;
- the training: the epoch and optimiser step the checkpoint was taken at;
- the metrics: the monitored one's best score (ModelCheckpoint's state in the checkpoint) and the last value
  of every val/* and test/* scalar the run logged (TensorBoard events in the run folder and in its test/
  evaluation folder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lightning_modules.checkpoints import model_checkpoint_states, run_folder_of

EVALUATION_FOLDERS = ("", "validate", "test")  # the run's own logs, then `train.py validate|test` into <run>/<sub>/
TRAINER_KEYS = ("max_epochs", "max_steps", "max_time", "precision", "gradient_clip_val", "accumulate_grad_batches")


@dataclass
class ExportedModel:
    """What an export wrote and what the card says about it."""

    task: str  # "causal-lm" | "masked-lm-encoder" | "classifier-encoder"
    architecture: str  # the Hugging Face class: GPT2LMHeadModel, BertModel
    auto_class: str  # the transformers Auto class that loads it
    lab_loader: str  # the networks/pretrained.py function that loads it back
    trained_as: str  # the LightningModule and network
    left_out: list[str] = field(default_factory=list)  # what is not exported, and why


def scalar_tags(folder: Path) -> dict[str, tuple[int, float]]:
    """The last (step, value) of each val/* and test/* scalar in the event files directly in `folder`."""
    if not folder.is_dir() or not list(folder.glob("events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    last = {}
    for tag in events.Tags()["scalars"]:
        if tag.startswith(("val/", "test/")) and (values := events.Scalars(tag)):
            last[tag] = (values[-1].step, values[-1].value)
    return last


def run_metrics(checkpoint_file: Path) -> dict[str, tuple[int, float]]:
    """The run's last logged val/* and test/* values by tag (a test evaluation's figure wins over none)."""
    run = run_folder_of(checkpoint_file)
    metrics: dict[str, tuple[int, float]] = {}
    if run is not None:
        for sub in EVALUATION_FOLDERS:
            metrics.update(scalar_tags(run / sub if sub else run))
    return metrics


def run_config(checkpoint_file: Path) -> dict[str, Any]:
    """The config.yaml the CLI saved beside the run's logs, or {} outside a run folder."""
    run = run_folder_of(checkpoint_file)
    config_file = run / "config.yaml" if run is not None else None
    if config_file is None or not config_file.is_file():
        return {}
    config = yaml.safe_load(config_file.read_text())
    return config if isinstance(config, dict) else {}


def data_section(checkpoint_file: Path, checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """class_path/init_args of the data module the run trained on, or None when nothing recorded it."""
    data = run_config(checkpoint_file).get("data")
    if data:
        return data
    hparams = checkpoint.get("datamodule_hyper_parameters")
    return dict(hparams) if hparams else None


def training_section(checkpoint_file: Path) -> dict[str, Any]:
    """How the run trained: the seed, the trainer's budget and the model's optimisation settings (its
    architecture is the card's own section)."""
    config = run_config(checkpoint_file)
    trainer = {k: v for k, v in (config.get("trainer") or {}).items() if k in TRAINER_KEYS and v is not None}
    model = dict((config.get("model") or {}).get("init_args") or {})
    optimisation = {k: v for k, v in model.items() if k not in ("transformer", "backbone", "vocab_size")}
    section = {"seed_everything": config.get("seed_everything"), "trainer": trainer, "model": optimisation}
    return {k: v for k, v in section.items() if v not in (None, {})}


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def yaml_block(value: Any) -> str:
    return "```yaml\n" + yaml.safe_dump(value, sort_keys=False, default_flow_style=False).strip() + "\n```"


def how_to_load(exported: ExportedModel, name: str) -> str:
    lines = [
        "```python",
        f"from transformers import {exported.auto_class}, AutoTokenizer",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{name}")',
    ]
    if exported.architecture == "BertModel":
        lines += [
            "# no pooler was trained: BertModel without one",
            f'model = {exported.auto_class}.from_pretrained("{name}", add_pooling_layer=False)',
            'batch = tokenizer(["a text", "another"], padding=True, return_tensors="pt")',
            "hidden = model(**batch).last_hidden_state  # (B, T, D)",
        ]
    else:
        lines += [
            f'model = {exported.auto_class}.from_pretrained("{name}")',
            'ids = tokenizer("the ", return_tensors="pt").input_ids',
            "print(tokenizer.decode(model.generate(ids, do_sample=False, max_new_tokens=100)[0]))",
        ]
    lines += [
        "```",
        "",
        "Back into the lab's hand-built stack (the same outputs):",
        "",
        "```python",
        f"from networks.pretrained import {exported.lab_loader}",
        "",
        f'model = {exported.lab_loader}("{name}")',
        "```",
    ]
    return "\n".join(lines)


def model_card(
    exported: ExportedModel,
    checkpoint_file: Path,
    checkpoint: dict[str, Any],
    transformer: dict[str, Any],
    tokenizer_kind: str,
    name: str,
) -> str:
    """The README.md text of the exported folder `name`."""
    front = {"library_name": "transformers", "tags": ["transformer-lab", exported.task]}
    if exported.architecture == "GPT2LMHeadModel":
        front["pipeline_tag"] = "text-generation"
    parts = [
        "---\n" + yaml.safe_dump(front, sort_keys=False).strip() + "\n---",
        f"# {Path(name).name}",
        (
            f"A {exported.trained_as} trained with transformer-lab, exported as Hugging Face's "
            f"`{exported.architecture}` by `lab-export` on {datetime.now(UTC):%Y-%m-%d} from `{checkpoint_file}` "
            f"(epoch {checkpoint.get('epoch', '?')}, optimiser step {checkpoint.get('global_step', '?')}). "
            f"The tokenizer is the run's own ({tokenizer_kind}), converted to `tokenizer.json`: it gives the lab's ids."
        ),
        "## Architecture",
        yaml_block(transformer),
    ]
    if exported.left_out:
        parts += ["Not exported: " + "; ".join(exported.left_out) + "."]
    data = data_section(checkpoint_file, checkpoint)
    parts += ["## Data", yaml_block(data) if data else "The checkpoint records no data module."]
    if training := training_section(checkpoint_file):
        parts += ["## Training", yaml_block(training)]
    parts += ["## Measured"]
    rows = []
    for state in model_checkpoint_states(checkpoint):
        score = state.get("best_model_score")
        if state.get("monitor") and score is not None:
            rows.append(f"| {state['monitor']} (best, monitored) | {fmt(float(score))} | checkpoint |")
    for tag, (step, value) in sorted(run_metrics(checkpoint_file).items()):
        rows.append(f"| {tag} | {fmt(value)} | logged at step {step} |")
    if rows:
        parts += ["| metric | value | where |\n|---|---|---|\n" + "\n".join(dict.fromkeys(rows))]
    else:
        parts += ["No metrics: the checkpoint is outside a run folder and records no monitored score."]
    parts += ["## How to load", how_to_load(exported, name)]
    return "\n\n".join(parts) + "\n"
