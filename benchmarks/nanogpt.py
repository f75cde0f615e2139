"""The lab's TransformerLM against nanoGPT's GPT: one training step, and nanoGPT's whole CPU recipe.

    python -m benchmarks.nanogpt                        # steps at B=32 T=256 and B=12 T=64 (~1 min)
    python -m benchmarks.nanogpt --ablate               # also the lab's stack with torch's LayerNorm (~2 min)
    python -m benchmarks.nanogpt --compile              # also both models under torch.compile (~4 min)
    python -m benchmarks.nanogpt --skip-steps --recipe-step   # each recipe's own step, with ablations (~1 min)
    python -m benchmarks.nanogpt --nanogpt /path/to/nanoGPT --skip-steps    # the recipe side by side (~4 min)
    python -m benchmarks.nanogpt --nanogpt PATH --skip-steps --lab-compile --rounds 3   # and compiled (~16 min)

Steps: forward, cross-entropy, backward and AdamW of the same-sized model (4 layers, 4 heads, d 128, vocabulary
of 32), for nanoGPT's `GPT` (re-stated below, `NanoGPT`: the same modules, parameter names and calls as
karpathy/nanoGPT's model.py) and for `TransformerLM` with the hand-built attention and with the fused one.
The cases run interleaved in this one process; each figure is the median of the repeats.

Recipe (`--nanogpt PATH`, a checkout of karpathy/nanoGPT; not a dependency of the lab): the toy grammar's
training and validation text are written in nanoGPT's format (train.bin, val.bin, meta.pkl, with the lab's
character ids), then nanoGPT's train.py runs its README's CPU recipe on them and `train.py fit --config
configs/toy_lm/nanogpt_recipe.yaml` runs the same hyperparameters (`--lab-compile`: also with compile: true,
first on an empty compile cache of its own, then on the filled one); each whole process is timed, rounds
alternate the order. Every best checkpoint is then scored by one function: bits per character over every
validation character, each with up to 64 characters of context.

Recipe step (`--recipe-step`): one step of each recipe in this process, each model at the recipe's settings
with its own program's optimiser (nanoGPT's AdamW one tensor at a time on a CPU, the lab's fused) and clipping;
the whole runs' time less start-up, training loop and validation.

The ablation rows (`--ablate`) swap the lab's hand-built LayerNorm for nn.LayerNorm with the same parameters:
they show how much of the step the hand-built norm costs. The lab never trains that way.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.timing import add_thread_argument, apply_threads, interleaved_medians, machine_line, markdown_table
from layers.norm import LayerNorm
from layers.transformer import TransformerConfig, TransformerLM
from lightning_modules import allocator

ROOT = Path(__file__).resolve().parents[1]
RECIPE_CONFIG = ROOT / "configs" / "toy_lm" / "nanogpt_recipe.yaml"
# nanoGPT README's CPU command line, less the dataset and output folder the benchmark chooses.
NANOGPT_CPU_RECIPE = [
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--dropout=0.0",
]
RECIPE_STEPS = 2000


# ---- nanoGPT's GPT, re-stated: module names, parameter layout and operations as in its model.py --------------


class NanoGPTAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))  # (B, H, T, Dh)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class NanoGPTMLP(nn.Module):
    def __init__(self, n_embd: int, bias: bool) -> None:
        super().__init__()
        self.c_fc, self.gelu = nn.Linear(n_embd, 4 * n_embd, bias=bias), nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class NanoGPTBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(n_embd, bias=bias), NanoGPTAttention(n_embd, n_head, bias)
        self.ln_2, self.mlp = nn.LayerNorm(n_embd, bias=bias), NanoGPTMLP(n_embd, bias)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT's GPT with dropout 0; forward returns logits at every position.

    bias=True is GPTConfig's default (and the lab's layout: biases in every linear layer and norm); nanoGPT's
    train.py trains bias=False by default, which its checkpoints record.
    """

    def __init__(
        self, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4, n_embd: int = 128, bias: bool = True
    ) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab_size, n_embd),
                "wpe": nn.Embedding(block_size, n_embd),
                "h": nn.ModuleList(NanoGPTBlock(n_embd, n_head, bias) for _ in range(n_layer)),
                "ln_f": nn.LayerNorm(n_embd, bias=bias),
            }
        )
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, as in nanoGPT
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx: Tensor) -> Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))  # (B, T, V)

    @classmethod
    def from_checkpoint(cls, path: Path) -> NanoGPT:
        """A model from a checkpoint of nanoGPT's train.py (ckpt.pt: model_args and the model's state)."""
        ckpt = torch.load(path, map_location="cpu", weights_only=False)  # nanoGPT pickles its config dict
        a = ckpt["model_args"]
        model = cls(a["vocab_size"], a["block_size"], a["n_layer"], a["n_head"], a["n_embd"], a["bias"])
        state = {k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()}
        model.load_state_dict({k: v for k, v in state.items() if not k.endswith("attn.bias")})
        return model


# ---- one training step ------------------------------------------------------------------------------------


def lab_model(
    vocab_size: int, block_size: int, attn_impl: str, torch_norms: bool = False, bias: bool = True
) -> TransformerLM:
    config = TransformerConfig(
        vocab_size, d_model=128, n_heads=4, n_layers=4, max_len=block_size, dropout=0.0, attn_impl=attn_impl, bias=bias
    )
    model = TransformerLM(config)
    return with_torch_norms(model) if torch_norms else model


def with_torch_norms(model: nn.Module) -> nn.Module:
    """The ablation: every hand-built LayerNorm replaced by nn.LayerNorm (torch's fused kernel) with the same
    parameters, to show which share of the step the hand-built norm costs. Not how the lab trains."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, LayerNorm):
                fused = nn.LayerNorm(child.normalized_shape, child.eps, bias=child.bias is not None)
                fused.load_state_dict(child.state_dict())
                setattr(module, name, fused)
    return model


def training_step(
    model: nn.Module,
    batch: tuple[Tensor, Tensor],
    compile_: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
    clip: float | None = None,
):
    """forward → cross-entropy → backward → (clipping →) AdamW step, as a closure over `model` and its optimiser
    (by default torch's AdamW with its defaults, the same for every model)."""
    if optimizer is None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    forward = torch.compile(model) if compile_ else model
    x, y = batch

    def step() -> None:
        logits = forward(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def step_table(
    batch: int, seq_len: int, repeats: int, compile_: bool, ablate: bool = False, vocab_size: int = 32
) -> str:
    torch.manual_seed(0)
    data = torch.randint(vocab_size, (batch, seq_len + 1))
    xy = (data[:, :-1].contiguous(), data[:, 1:].contiguous())
    models = {
        "nanoGPT GPT (F.sdpa, F.layer_norm)": NanoGPT(vocab_size, seq_len),
        'TransformerLM attn_impl="manual" (hand-built)': lab_model(vocab_size, seq_len, "manual"),
        'TransformerLM attn_impl="sdpa"': lab_model(vocab_size, seq_len, "sdpa"),
    }
    if ablate:
        models["ablation: hand-built attention, torch's LayerNorm"] = lab_model(vocab_size, seq_len, "manual", True)
        models["ablation: sdpa, torch's LayerNorm"] = lab_model(vocab_size, seq_len, "sdpa", True)
    cases = {name: training_step(m, xy) for name, m in models.items()}
    warmups = {}
    if compile_:
        for name in list(models)[:2]:
            compiled = training_step(models[name], xy, compile_=True)
            start = time.perf_counter()
            compiled()  # the first call compiles forward and backward
            warmups[f"{name}, torch.compile"] = time.perf_counter() - start
            cases[f"{name}, torch.compile"] = compiled
    medians = interleaved_medians(cases, repeats, warmup=2)
    reference = medians[next(iter(models))]
    rows = [
        [name, f"{s * 1e3:.1f}", s / reference, f"{warmups[name]:.0f} s" if name in warmups else ""]
        for name, s in medians.items()
    ]
    title = f"Training step (forward, backward, AdamW), B={batch} T={seq_len}, median of {repeats}"
    return f"{title}\n\n" + markdown_table(["model", "ms", "× nanoGPT", "compile warm-up"], rows)


def recipe_optimizer(model: nn.Module, fused: bool) -> torch.optim.AdamW:
    """AdamW as both recipes set it up: lr 1e-3, β₂ 0.99, weight decay 0.1 on matrices only. nanoGPT's train.py
    asks for the fused kernel on CUDA only, so on a CPU it runs torch's loop over the tensors one at a time;
    the lab's recipe config asks for it (`fused: true`)."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99), **({"fused": True} if fused else {}))


def recipe_step_table(repeats: int, vocab_size: int = 32, batch: int = 12, seq_len: int = 64) -> str:
    """One step of each recipe, in this process: the model at the recipe's settings (no biases), its optimiser
    as its own program sets it up, clipping at 1. What the whole runs' time is made of, less start-up, the
    training loop and validation; the ablation rows say which layer or kernel accounts for the difference."""
    torch.manual_seed(0)
    data = torch.randint(vocab_size, (batch, seq_len + 1))
    xy = (data[:, :-1].contiguous(), data[:, 1:].contiguous())
    models = {  # name: (model, fused AdamW)
        "nanoGPT GPT, AdamW as its train.py sets it up on a CPU (one tensor at a time)": (
            NanoGPT(vocab_size, seq_len, bias=False),
            False,
        ),
        "TransformerLM as the lab's recipe config trains it (hand-built, fused AdamW)": (
            lab_model(vocab_size, seq_len, "manual", bias=False),
            True,
        ),
        "ablation: nanoGPT GPT with fused AdamW": (NanoGPT(vocab_size, seq_len, bias=False), True),
        "ablation: TransformerLM with torch's LayerNorm": (
            lab_model(vocab_size, seq_len, "manual", torch_norms=True, bias=False),
            True,
        ),
        'ablation: TransformerLM with attn_impl="sdpa"': (lab_model(vocab_size, seq_len, "sdpa", bias=False), True),
        "ablation: TransformerLM with sdpa and torch's LayerNorm": (
            lab_model(vocab_size, seq_len, "sdpa", torch_norms=True, bias=False),
            True,
        ),
    }
    cases = {
        name: training_step(model, xy, optimizer=recipe_optimizer(model, fused), clip=1.0)
        for name, (model, fused) in models.items()
    }
    medians = interleaved_medians(cases, repeats, warmup=3)
    reference = medians[next(iter(models))]
    rows = [[name, f"{s * 1e3:.1f}", s / reference] for name, s in medians.items()]
    title = (
        f"The recipes' step (forward, cross-entropy, backward, clipping, each program's AdamW), B={batch} "
        f"T={seq_len}, no biases, median of {repeats}"
    )
    return f"{title}\n\n" + markdown_table(["model and optimiser", "ms", "× nanoGPT's"], rows)


def profile_tables(batch: int, seq_len: int, steps: int, vocab_size: int = 32, rows: int = 12) -> str:
    """torch.profiler's operators by self CPU time over `steps` training steps of each model."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    data = torch.randint(vocab_size, (batch, seq_len + 1))
    xy = (data[:, :-1].contiguous(), data[:, 1:].contiguous())
    out = []
    for name, model in (
        ("nanoGPT GPT", NanoGPT(vocab_size, seq_len)),
        ('TransformerLM attn_impl="manual"', lab_model(vocab_size, seq_len, "manual")),
        ('TransformerLM attn_impl="sdpa"', lab_model(vocab_size, seq_len, "sdpa")),
    ):
        step = training_step(model, xy)
        step()  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40)
        out.append(f"{name}, B={batch} T={seq_len}, {steps} steps:\n\n```\n{table}```")
    return "\n\n".join(out)


# ---- nanoGPT's recipe, side by side --------------------------------------------------------------------------


def write_nanogpt_dataset(folder: Path) -> tuple[Tensor, int]:
    """The toy grammar's train and val text as nanoGPT's train.bin, val.bin and meta.pkl, in the lab's ids.

    Returns the validation ids (what both models are scored on) and the vocabulary size.
    """
    import numpy as np

    from datamodules.toy_grammar import ToyGrammarDataModule

    data = ToyGrammarDataModule(seq_len=64, batch_size=12)
    encoder, texts = data.text_encoder, data.texts()
    folder.mkdir(parents=True, exist_ok=True)
    ids = {split: encoder.encode_lenient(texts[split]) for split in ("train", "val")}
    for split, values in ids.items():
        np.array(values, dtype=np.uint16).tofile(folder / f"{split}.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": encoder.vocab_size}, f)
    return torch.tensor(ids["val"]), encoder.vocab_size


@torch.no_grad()
def bits_per_char(model: nn.Module, tokens: Tensor, context: int = 64, batch: int = 64) -> float:
    """−log₂ p of every token but the first, each predicted from up to `context` tokens before it.

    Windows of `context` tokens overlap by half; a window scores only the targets no earlier window scored.
    """
    model.eval()
    n = len(tokens) - 1
    starts = list(range(0, n - context + 1, context // 2))
    if starts[-1] != n - context:
        starts.append(n - context)
    total, count, scored_to = 0.0, 0, 0  # scored_to: targets before this index are already counted
    for i in range(0, len(starts), batch):
        chunk = starts[i : i + batch]
        x = torch.stack([tokens[s : s + context] for s in chunk])
        y = torch.stack([tokens[s + 1 : s + context + 1] for s in chunk])
        nll = F.cross_entropy(model(x).transpose(1, 2), y, reduction="none")  # (B, T)
        for row, s in enumerate(chunk):
            first = max(scored_to - s, 0)
            total += float(nll[row, first:].sum())
            count += context - first
            scored_to = s + context
    assert count == n, (count, n)
    return total / count / math.log(2)


def timed(cmd: list[str], cwd: Path, log: Path, threads: int | None, env: dict[str, str] | None = None) -> float:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}), **(env or {})}
    start = time.perf_counter()
    with open(log, "w") as out:
        result = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed (exit {result.returncode}); see {log}")
    return seconds


def recipe_table(
    nanogpt: Path, rounds: int, workdir: Path, steps: int, threads: int | None, lab_compile: bool = False
) -> str:
    from lightning_modules.causal_lm import CausalLM

    if not (nanogpt / "train.py").is_file() or not (nanogpt / "configurator.py").is_file():
        sys.exit(f"error: {nanogpt} is not a nanoGPT checkout (no train.py and configurator.py)")
    val, _ = write_nanogpt_dataset(workdir / "data" / "toy_grammar")
    # nanoGPT reads configurator.py and data/<dataset>/ from its working directory: run it in workdir.
    if not (workdir / "configurator.py").exists():
        (workdir / "configurator.py").symlink_to(nanogpt.resolve() / "configurator.py")
    # compile: true keeps inductor's compiled kernels in a cache of this work folder's own, so its first
    # run starts from an empty cache (cold, as on a new machine) and later rounds find it filled (warm).
    compile_cache = workdir / "inductor_cache"
    variants = {"lab": []} | ({"lab, compile: true": ["--model.init_args.compile", "true"]} if lab_compile else {})
    rows, run_order, scores = [], [], {name: [] for name in ("nanoGPT", *variants)}
    for r in range(rounds):  # alternate the order, so a drift in load hits every run alike
        runs = {
            "nanoGPT": [
                sys.executable,
                str(nanogpt.resolve() / "train.py"),
                str(nanogpt.resolve() / "config" / "train_shakespeare_char.py"),
                "--dataset=toy_grammar",
                f"--out_dir={workdir / f'nanogpt_out_{r}'}",
                *NANOGPT_CPU_RECIPE,
                f"--max_iters={steps}",
                f"--lr_decay_iters={steps}",
                f"--eval_interval={max(1, steps // 8)}",
            ]
        }
        run_folders = {name: workdir / f"lab_runs_{r}_{i}" for i, name in enumerate(variants)}
        for name, extra in variants.items():
            runs[name] = [
                sys.executable,
                str(ROOT / "train.py"),
                "fit",
                "--config",
                str(RECIPE_CONFIG),
                "--trainer.logger.init_args.save_dir",
                str(run_folders[name]),
                "--trainer.enable_progress_bar",
                "false",
                *extra,
                *([] if steps == RECIPE_STEPS else ["--trainer.max_steps", str(steps), "--trainer.max_epochs", "-1"]),
                *([] if steps == RECIPE_STEPS else ["--data.init_args.batches_per_epoch", str(max(1, steps // 8))]),
            ]
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            compiled = name != "nanoGPT" and bool(variants[name])
            label = name
            if compiled:
                label += ", warm cache" if compile_cache.is_dir() and any(compile_cache.iterdir()) else ", cold cache"
            env = {"TORCHINDUCTOR_CACHE_DIR": str(compile_cache)} if compiled else None
            log = workdir / (f"nanoGPT_{r}.log" if name == "nanoGPT" else f"{run_folders[name].name}.log")
            seconds = timed(runs[name], workdir, log, threads, env)
            if name == "nanoGPT":
                model = NanoGPT.from_checkpoint(workdir / f"nanogpt_out_{r}" / "ckpt.pt")
            else:
                best = sorted(run_folders[name].rglob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
                model = CausalLM.load_from_checkpoint(best[-1], map_location="cpu", weights_only=True).net
            bpc = bits_per_char(model, val)
            scores[name].append(seconds)
            rows.append([r + 1, label, f"{seconds:.1f}", f"{bpc:.3f}", ""])
            run_order.append((name, r))
    for row, (name, r) in zip(rows, run_order, strict=True):  # each lab run against nanoGPT's of its round
        if name != "nanoGPT":
            row[4] = scores[name][r] / scores["nanoGPT"][r]
    title = (
        f"nanoGPT's CPU recipe on the toy grammar (4 layers, 4 heads, d 128, no biases, context 64, batch 12, "
        f"{steps} steps), whole-process wall time; bpc of the best checkpoint over every validation character, "
        "scored alike"
    )
    ratios = [
        f"{name}: median {statistics.median(t / n for t, n in zip(times, scores['nanoGPT'], strict=True)):.2f}"
        for name, times in scores.items()
        if name != "nanoGPT"
    ]
    table = markdown_table(["round", "run", "s", "val bpc", "× nanoGPT"], rows)
    return f"{title}\n\n{table}\n\nlab / nanoGPT time, {rounds} round(s): " + "; ".join(ratios)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nanogpt", type=Path, help="a karpathy/nanoGPT checkout: also run its recipe side by side")
    p.add_argument("--rounds", type=int, default=1, help="recipe runs of each (alternating order)")
    p.add_argument("--lab-compile", action="store_true", help="also run the lab's recipe with compile: true")
    p.add_argument("--steps", type=int, default=RECIPE_STEPS, help="training steps of the recipe (a smoke test: fewer)")
    p.add_argument("--repeats", type=int, default=10, help="timed steps per case at B=32 T=256 (3× at B=12 T=64)")
    p.add_argument("--compile", action="store_true", help="also time both models under torch.compile")
    p.add_argument("--ablate", action="store_true", help="also the lab's stack with torch's LayerNorm for its own")
    p.add_argument("--skip-steps", action="store_true", help="only the recipe")
    p.add_argument(
        "--recipe-step", action="store_true", help="also each recipe's own step (its optimiser, clipping, no biases)"
    )
    p.add_argument("--profile", action="store_true", help="torch.profiler's top operators of each model's step")
    p.add_argument("--workdir", type=Path, help="where the recipe's data, runs and logs go (default: a temp dir)")
    add_thread_argument(p)
    args = p.parse_args(argv)
    if min(args.repeats, args.rounds, args.steps) <= 0:
        p.error("--repeats, --rounds and --steps must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    apply_threads(args.threads)
    print(f"{machine_line()}; allocator: {allocator.describe()}\n")
    if not args.skip_steps:
        # Compiled kernels go to a cache of this run's own, empty at the start: every warm-up is a cold one, as a
        # user's first compiled run on a machine (a second run of the same model reuses a filled cache).
        with tempfile.TemporaryDirectory(prefix="inductor_cache_") as cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
            print(step_table(32, 256, args.repeats, args.compile, args.ablate), end="\n\n")
            print(step_table(12, 64, 3 * args.repeats, args.compile, args.ablate), end="\n\n")
    if args.recipe_step:
        print(recipe_step_table(6 * args.repeats), end="\n\n")
    if args.profile:
        print(profile_tables(32, 256, 3), end="\n\n")
        print(profile_tables(12, 64, 20), end="\n\n")
    if args.nanogpt is not None:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            print(recipe_table(args.nanogpt, args.rounds, args.workdir, args.steps, args.threads, args.lab_compile))
        else:
            with tempfile.TemporaryDirectory(prefix="nanogpt_recipe_") as tmp:
                print(recipe_table(args.nanogpt, args.rounds, Path(tmp), args.steps, args.threads, args.lab_compile))


if __name__ == "__main__":
    allocator.tune_allocator()  # large tensors stay on the heap (lightning_modules/allocator.py)
    main()
