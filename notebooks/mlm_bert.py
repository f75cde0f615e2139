# %% [markdown]
# # Masked-LM pretraining and BERT fine-tuning, with the lab
#
# The notebook this follows writes scaled dot-product and multi-head attention, a post-norm encoder block,
# sinusoidal positions and BERT's 80/10/10 masking; pretrains a small masked LM (whose first loss should be
# close to ln V); fine-tunes a frozen pretrained encoder with a bidirectional GRU on IMDb; and asks three
# questions: why residual connections, why layer normalisation, why the 1/√d_k scale.
#
# `show(...)` prints a piece of the lab's code as this tree has it; `check(...)` runs the lab's tests for it.
# In a student copy (`lab-exercises copy OUT --course mlm-bert-notebook`) the same cells show the stubs and
# fail until each is written. The IMDb runs themselves are configs (`configs/imdb/frozen_bert_bigru.yaml`,
# `configs/imdb/frozen_mlm_bigru.yaml`) with their measured results in `docs/results/imdb_pretraining.md`.

# %%
import math

import matplotlib.pyplot as plt
import torch

from programs.exercise_cells import check, show

torch.manual_seed(0)

# %% [markdown]
# ## 1. Attention, its masks, heads, positions and the encoder block
#
# Padding is masked out of the keys: a padded position gets weight exactly 0.

# %%
show("scaled_dot_product_attention")
check("scaled_dot_product_attention")

# %%
show("masks")
check("masks")

# %%
show("multi_head_attention")
check("multi_head_attention")

# %%
show("sinusoidal_positions")
check("sinusoidal_positions")

# %%
from layers import sinusoidal_table

table = sinusoidal_table(64, 32)  # (T, D): even columns sines, odd columns cosines, wavelengths growing
plt.figure(figsize=(6, 2.5))
plt.imshow(table.T, aspect="auto", cmap="RdBu")
plt.xlabel("position")
plt.ylabel("dimension")
plt.title("sinusoidal positions")
plt.show()

# %% [markdown]
# The notebook's block is post-norm (BERT's): x ← LN(x + attention(x)), then x ← LN(x + FFN(x)). The lab's
# block takes `norm="post"` for that, `norm="pre"` for GPT-2's order.

# %%
show("transformer_block")
check("transformer_block")

# %% [markdown]
# ## 2. BERT's masking
#
# 15% of the real tokens are selected; of those, 80% become [MASK], 10% a random token, 10% stay. The loss is
# taken on the selected positions only. Measured on a large batch, the rates come out as asked:

# %%
show("bert_masking")
check("bert_masking")

# %%
from lightning_modules.masked_lm import mask_inputs

vocab, mask_id = 1000, 3
ids = torch.randint(10, vocab, (64, 512))
attention_mask = torch.arange(512)[None, :] < torch.randint(256, 513, (64, 1))  # padded rows
corrupted, labels = mask_inputs(ids, attention_mask, 0.15, mask_id=mask_id, vocab_size=vocab, special_ids=(0, 1, 2, 3))
selected = labels != -100
print(f"selected: {selected.sum() / attention_mask.sum():.4f} of the real tokens (asked 0.15)")
print(f"  → [MASK]: {(corrupted[selected] == mask_id).float().mean():.4f} (asked 0.80)")
print(f"  → kept:   {(corrupted[selected] == ids[selected]).float().mean():.4f} (asked 0.10)")
print(f"padding selected: {int(selected[~attention_mask].sum())}")

# %% [markdown]
# ## 3. The first loss of a masked LM is about ln V
#
# An untrained model's prediction is close to uniform over the vocabulary, so its cross-entropy starts near
# ln V. The lab's masked LM of the toy grammar, validated before any training step:

# %%
from lightning_modules.cli import LabCLI

quiet = ["--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "4"]
cli = LabCLI(args=["validate", "--config", "configs/mlm/toy_grammar.yaml", *quiet])
# The toy grammar has two validation sets (masked tokens, and last tokens for val/ppl): the first is masked-LM's.
first_loss = float(cli.trainer.callback_metrics["val/loss/dataloader_idx_0"])
vocab_size = cli.model.hparams.vocab_size
print(f"untrained val/loss {first_loss:.3f}; ln V = ln {vocab_size} = {math.log(vocab_size):.3f}")
assert abs(first_loss - math.log(vocab_size)) < 0.5

# %% [markdown]
# ## 4. Why scale the scores by 1/√d_k?
#
# For queries and keys with unit-variance entries, q·k has variance d_k: the wider the head, the larger the
# scores, and a softmax of large scores is nearly one-hot. Its gradient then vanishes (softmax's Jacobian is
# diag(p) − ppᵀ, which is 0 at a one-hot p), so attention stops learning where to look. Dividing by √d_k keeps
# the scores' variance at 1 for every width. Measured on random queries and keys (Tk = 32):

# %%
widths = [4, 16, 64, 256, 1024]
rows = []
for d_k in widths:
    q, k = torch.randn(256, d_k), torch.randn(32, d_k)
    for scaled in (False, True):
        scores = (q @ k.T) / (math.sqrt(d_k) if scaled else 1.0)
        scores.requires_grad_(True)
        weights = scores.softmax(-1)
        (weights * torch.randn_like(weights)).sum().backward()
        rows.append((d_k, scaled, weights.max(-1).values.mean().item(), scores.grad.norm(dim=-1).mean().item()))
for d_k, scaled, top, grad in rows:
    print(f"d_k {d_k:5d} {'scaled  ' if scaled else 'unscaled'}: largest weight {top:.3f}, score gradient {grad:.4f}")

fig, ax = plt.subplots(figsize=(5, 3))
for scaled in (False, True):
    ax.plot(widths, [r[3] for r in rows if r[1] == scaled], marker="o", label="1/√d_k" if scaled else "no scale")
ax.set(xscale="log", yscale="log", xlabel="d_k", ylabel="gradient norm reaching the scores")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. Why residual connections and layer normalisation?
#
# A residual connection gives the gradient a path around every sublayer: ∂(x + f(x))/∂x = I + ∂f/∂x, so
# however many layers, the gradient reaching the first is not a product of many small Jacobians. Layer
# normalisation keeps each layer's input at zero mean and unit variance, so the activations neither grow nor
# shrink with depth. At initialisation, through 24 attention sublayers of width 64:

# %%
from layers import LayerNorm, MultiHeadAttention


def input_gradient(residual: bool, norm: bool, depth: int = 24) -> tuple[float, float]:
    torch.manual_seed(0)
    layers = [MultiHeadAttention(64, 4) for _ in range(depth)]
    norms = [LayerNorm(64) for _ in range(depth)]
    x = torch.randn(8, 16, 64, requires_grad=True)
    h = x
    for attention, layer_norm in zip(layers, norms, strict=True):
        update = attention(layer_norm(h) if norm else h)
        h = h + update if residual else update
    h.pow(2).mean().backward()
    return x.grad.norm().item(), h.std().item()


for residual in (True, False):
    for norm in (True, False):
        grad, spread = input_gradient(residual, norm)
        name = f"{'residual' if residual else 'no residual'}, {'pre-norm' if norm else 'no norm'}"
        print(f"{name:<26} gradient at the input {grad:.2e}, output std {spread:.2e}")

# %% [markdown]
# Without the residual path the gradient reaching the input shrinks: tenfold here with the norms, and to
# nothing (about 1e-14) without them, while the output collapses towards the sequence's mean (attention
# averages, layer after layer). With the residual path the signal passes whatever the depth; the norm keeps
# each sublayer's input at unit scale while the residual stream grows only slowly.
#
# ## 6. Frozen encoder + bidirectional GRU on IMDb, and `predict_sentiment`
#
# The lab's recipe freezes a pretrained encoder and trains a bidirectional GRU head on its token states:
# `python train.py fit --config configs/imdb/frozen_bert_bigru.yaml` (the real pretrained encoder: see
# `docs/inference.md`, "Pretrained weights offline"). A trained checkpoint scores raw text with
# `programs.sentiment.predict_sentiment(model, texts)`, as the walkthrough notebook shows on XOR.
