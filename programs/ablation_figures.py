"""The figures of the ablations (docs/ablations.md): one per conceptual question, from the runs' own logs.

    python -m programs.ablation_figures runs/ablations --out docs/figures

RUNS is the folder holding the ablation runs as train.py names them (RUNS/lm, RUNS/no_residual, RUNS/post_norm,
RUNS/no_norm, RUNS/unscaled, RUNS/one_head, RUNS/unscaled_one_head; the newest version_N of each is read).
It writes three PNGs into OUT:
- ablation_residual.png: validation bits per character with and without the skip connections, and each
  block's gradient norm (DepthStatistics) early in training and at the end, against depth;
- ablation_norm.png: validation bits per character with pre-norm, post-norm and no norm, and the RMS of each
  block's output against depth at the end of training;
- ablation_scale.png: the softmax's entropy and largest weight for random queries and keys of unit variance
  across d_k, scaled and unscaled (computed here, no run needed), validation bits per character of the four
  scale runs, and their attention entropy (mean over blocks) through training.
A missing run or metric is an error naming it. `pip install .` also installs this command as `lab-ablations`.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from lab_errors import InputError, MissingInputError
from lightning_modules.one_line_errors import input_errors_in_one_line
from programs.run_report import Scalars, read_scalars

LABELS = {
    "lm": "full model (pre-norm, residual, scaled, 4 heads of 32)",
    "no_residual": "no residual connections",
    "post_norm": "post-norm",
    "no_norm": "no LayerNorm",
    "unscaled": "unscaled, 4 heads of d_k = 32",
    "one_head": "scaled, 1 head of d_k = 128",
    "unscaled_one_head": "unscaled, 1 head of d_k = 128",
}
SCALE_LABEL = {"lm": "scaled, 4 heads of d_k = 32", **{k: v for k, v in LABELS.items() if k != "lm"}}


def newest_version(folder: Path) -> Path:
    versions = sorted(folder.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions:
        raise MissingInputError(f"{folder}: no version_N run folder (train the ablation: docs/ablations.md)")
    return versions[-1]


def load(runs: Path, names: list[str]) -> dict[str, Scalars]:
    return {name: read_scalars(newest_version(runs / name)) for name in names}


def series(scalars: Scalars, tag: str, run: str) -> tuple[list[int], list[float]]:
    if tag not in scalars:
        raise InputError(f"run {run}: its logs have no {tag} (was it trained with configs/ablations/lm.yaml?)")
    steps, values = zip(*scalars[tag], strict=True)
    return list(steps), list(values)


def per_block(scalars: Scalars, quantity: str, run: str, step: int | None) -> list[float]:
    """The value of depth/QUANTITY/block_i for each block, at `step` (the last logged step when None)."""
    tags = sorted(
        (t for t in scalars if re.fullmatch(rf"depth/{quantity}/block_\d+", t)), key=lambda t: int(t.split("_")[-1])
    )
    if not tags:
        raise InputError(f"run {run}: its logs have no depth/{quantity}/block_i (DepthStatistics was not on)")
    values = []
    for tag in tags:
        logged = dict(scalars[tag])
        if step is not None and step not in logged:
            raise InputError(
                f"run {run}: {tag} was not logged at step {step} (--early-step; logged: {sorted(logged)[:5]}…)"
            )
        values.append(logged[step] if step is not None else scalars[tag][-1][1])
    return values


def draw_bpc(ax, runs: dict[str, Scalars], labels: dict[str, str]) -> None:
    for name, scalars in runs.items():
        ax.plot(*series(scalars, "val/bpc", name), marker="o", label=labels[name])
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("validation bits per byte")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def residual_figure(runs: dict[str, Scalars], out: Path, early_step: int) -> None:
    fig, (curves, grads) = plt.subplots(1, 2, figsize=(12, 4.5))
    draw_bpc(curves, runs, LABELS)
    curves.set_title("training with and without the skip connections")
    for name, scalars in runs.items():
        for step, style in ((early_step, "--"), (None, "-")):
            norms = per_block(scalars, "grad_norm", name, step)
            when = f"step {early_step}" if step is not None else "end"
            grads.plot(range(len(norms)), norms, style, marker="o", label=f"{LABELS[name]}, {when}")
    grads.set_yscale("log")
    grads.set_xlabel("block (0 = nearest the embeddings)")
    grads.set_ylabel("gradient norm of the block's parameters")
    grads.set_title("how much gradient reaches each block")
    grads.legend(fontsize=8)
    grads.grid(alpha=0.3)
    save(fig, out)


def norm_figure(runs: dict[str, Scalars], out: Path) -> None:
    fig, (curves, scale) = plt.subplots(1, 2, figsize=(12, 4.5))
    draw_bpc(curves, runs, LABELS)
    curves.set_title("pre-norm, post-norm, no norm")
    for name, scalars in runs.items():
        for step, style in ((0, "--"), (None, "-")):
            rms = per_block(scalars, "rms", name, step)
            when = "at initialisation" if step == 0 else "end"
            scale.plot(range(len(rms)), rms, style, marker="o", label=f"{LABELS[name]}, {when}")
    scale.set_yscale("log")
    scale.set_xlabel("block (0 = nearest the embeddings)")
    scale.set_ylabel("RMS of the block's output")
    scale.set_title("activation scale through depth")
    scale.legend(fontsize=8)
    scale.grid(alpha=0.3)
    save(fig, out)


def softmax_spread(d_k: int, scaled: bool, keys: int = 128, samples: int = 256) -> tuple[float, float]:
    """Mean entropy (nats) and mean largest weight of softmax(q·k · s) for q, k of d_k unit-variance entries."""
    generator = torch.Generator().manual_seed(d_k)
    q = torch.randn(samples, 1, d_k, generator=generator)
    k = torch.randn(samples, keys, d_k, generator=generator)
    scores = (q @ k.transpose(1, 2)).squeeze(1) * (d_k**-0.5 if scaled else 1.0)  # (samples, keys)
    weights = scores.softmax(-1)
    entropy = -(weights * weights.clamp_min(1e-30).log()).sum(-1)
    return entropy.mean().item(), weights.amax(-1).mean().item()


def scale_figure(runs: dict[str, Scalars], out: Path) -> None:
    fig, (theory, curves, entropy) = plt.subplots(1, 3, figsize=(17, 4.5))
    widths = [2**i for i in range(1, 10)]
    for scaled, style in ((True, "-"), (False, "--")):
        spread = [softmax_spread(d, scaled) for d in widths]
        label = "scaled by 1/√d_k" if scaled else "unscaled"
        theory.plot(widths, [h for h, _ in spread], style, marker="o", label=f"entropy, {label}")
        theory.plot(widths, [m for _, m in spread], style, marker="s", label=f"largest weight, {label}")
    theory.axhline(math.log(128), color="grey", lw=0.8, ls=":", label="ln 128: uniform over the 128 keys")
    theory.set_xscale("log", base=2)
    theory.set_xlabel("d_k")
    theory.set_title("softmax of q·k, unit-variance q, k, 128 keys")
    theory.legend(fontsize=7)
    theory.grid(alpha=0.3)
    draw_bpc(curves, runs, SCALE_LABEL)
    curves.set_title("training, scaled and unscaled")
    for name, scalars in runs.items():
        tags = [t for t in scalars if t.startswith("depth/attn_entropy/block_")]
        if not tags:
            raise InputError(f"run {name}: its logs have no depth/attn_entropy/block_i (DepthStatistics was not on)")
        steps = [s for s, _ in scalars[tags[0]]]
        mean = [sum(dict(scalars[t])[s] for t in tags) / len(tags) for s in steps]
        entropy.plot(steps, mean, label=SCALE_LABEL[name])
    entropy.set_xlabel("optimiser step")
    entropy.set_ylabel("attention entropy (nats), mean over blocks")
    entropy.set_title("how spread the attention stays (causal: ≤ 3.9)")
    entropy.legend(fontsize=8)
    entropy.grid(alpha=0.3)
    save(fig, out)


def save(fig, out: Path) -> None:
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"→ {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="the folder of the ablation runs (runs/ablations)")
    p.add_argument("--out", type=Path, required=True, help="folder for the three PNGs")
    p.add_argument("--early-step", type=int, default=50, help="the early step of the gradient-norm panel")
    args = p.parse_args(argv)
    with input_errors_in_one_line():
        residual_figure(load(args.runs, ["lm", "no_residual"]), args.out / "ablation_residual.png", args.early_step)
        norm_figure(load(args.runs, ["lm", "post_norm", "no_norm"]), args.out / "ablation_norm.png")
        scale_figure(
            load(args.runs, ["lm", "unscaled", "one_head", "unscaled_one_head"]), args.out / "ablation_scale.png"
        )


if __name__ == "__main__":
    main()
