# %% [markdown]
# # A transformer from scratch (DLVU, assignment 3B), with the lab
#
# The assignment builds a transformer classifier piece by piece — padding and batching, pooling baselines,
# parameter-free self-attention, multi-head attention, positions, a transformer block — on two synthetic tasks
# (XOR and IMDb-synth), then turns it into a causal character model and samples it with a temperature.
#
# Each piece below is a function of the lab's own code. `show(...)` prints it as this tree has it; `check(...)`
# runs the lab's tests for it (values and gradients against PyTorch's modules). In a student copy
# (`lab-exercises copy OUT --course dlvu-a3b`) the same cells show a stub with its hint, and each check fails
# until that region is written. The full experiments and their measured results are in the lab's docs
# (`docs/results/synthetic.md`, `docs/results/language_models.md`); this notebook runs small versions in a
# minute or two on a laptop CPU.

# %%
import torch

from programs.exercise_cells import check, show

torch.manual_seed(0)

# %% [markdown]
# ## 1. Padding and batching
#
# Sequences of different lengths share a batch by padding them to the longest, with a mask that says which
# positions are real (True) — every layer of the lab takes that mask.

# %%
show("padding")

# %%
check("padding")

# %%
from datamodules.batching import PadCollate

batch = PadCollate(pad_id=0)(
    [{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8], "label": 0}, {"input_ids": [9, 10], "label": 1}]
)
print(batch["input_ids"])
print(batch["attention_mask"])
assert batch["input_ids"].shape == (3, 3) and batch["attention_mask"].sum().item() == 6

# %% [markdown]
# ## 2. Parameter-free self-attention
#
# Each output vector is a weighted mean of the input vectors, the weights a softmax of dot products: softmax(X Xᵀ) X.

# %%
show("simple_self_attention")

# %%
check("simple_self_attention")

# %%
from layers import SimpleSelfAttention

x = torch.randn(2, 4, 8)
out, weights = SimpleSelfAttention()(x, return_weights=True)
torch.testing.assert_close(out, torch.softmax(x @ x.transpose(1, 2), dim=-1) @ x)
print("each row of weights sums to 1:", weights.sum(-1))

# %% [markdown]
# ## 3. Scaled dot-product and multi-head attention, and the masks
#
# The full self-attention adds query, key and value projections, the 1/√d scale and several heads in
# parallel: the input is split into heads, each attends on its own, and the heads are merged back.

# %%
show("scaled_dot_product_attention")
check("scaled_dot_product_attention")

# %%
show("masks")
check("masks")

# %%
show("multi_head_attention")
check("multi_head_attention")

# %% [markdown]
# ## 4. Positions and the transformer block
#
# Attention by itself ignores order; position embeddings (learned, or the sinusoidal table) give it back.
# A block is attention and a feed-forward layer, each with a residual connection and a layer norm.

# %%
show("sinusoidal_positions")
check("sinusoidal_positions")

# %%
show("transformer_block")
check("transformer_block")

# %% [markdown]
# ## 5. XOR: what positions buy
#
# The XOR task labels two-token sequences 1 when the tokens differ. Without positions a model sees a set, so
# "true false" and "false true" look alike to it and it cannot pass 0.75 (the pooling baselines stop there:
# `configs/xor/baseline*.yaml`). A transformer with learned positions solves it. A short run of the lab's
# config (the full one: `python train.py fit --config configs/xor/transformer.yaml`):

# %%
from lightning_modules.cli import LabCLI

small = ["--data.init_args.train_size", "4096", "--data.init_args.val_size", "512", "--trainer.max_epochs", "2"]
cli = LabCLI(args=["fit", "--config", "configs/xor/transformer.yaml", *small, "--trainer.enable_progress_bar", "false"])
xor_acc = float(cli.trainer.callback_metrics["val/acc"])
print(f"XOR, transformer with positions: val/acc {xor_acc:.3f}")
assert xor_acc > 0.75

# %% [markdown]
# ## 6. A causal character model, sampled with a temperature
#
# The same blocks with a causal mask predict the next character. Sampling divides the logits by a
# temperature: near 0 the model repeats its most likely continuation; at 1 it samples its own distribution;
# above 1 it drifts towards uniform noise.

# %%
show("sampling")
check("sampling")

# %%
tiny_lm = [
    "--model.init_args.transformer.n_layers", "2",
    "--model.init_args.transformer.d_model", "64",
    "--model.init_args.sample_every_n_steps", "0",
    "--data.init_args.batches_per_epoch", "80",
    "--data.init_args.last_token_batches", "5",
    "--trainer.max_epochs", "1",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip
lm_cli = LabCLI(args=["fit", "--config", "configs/toy_lm/transformer.yaml", *tiny_lm])
print(f"toy grammar after 80 steps: val/bpc {float(lm_cli.trainer.callback_metrics['val/bpc']):.3f}")

# %%
from layers.generation import generate

lm = lm_cli.model.eval()
encoder = lm.text_encoder  # the codec the data module saved into the model
prompt = torch.tensor([encoder.encode("the ")])
for temperature in (0.0, 0.5, 1.0, 2.0):
    sample = generate(lm.net, prompt, 60, temperature=temperature, generator=torch.Generator().manual_seed(0))
    print(f"T={temperature}: {encoder.text(sample[0].tolist())!r}")
