# %% [markdown]
# # LSTMs and transformers on Yelp reviews (IFT6135, assignment 2), with the lab
#
# The assignment writes an LSTM from its gate equations, a bidirectional LSTM encoder and an LSTM decoder with
# soft attention over the encoder's states; then a transformer from layer normalisation, multi-head attention
# (splitting and merging heads, padded masking) and pre-norm blocks; and compares eight models on Yelp
# polarity, with curves, wall-clock time and memory, and their robustness to perturbed reviews.
#
# `show(...)` prints a piece of the lab's code as this tree has it; `check(...)` runs the lab's tests for it.
# In a student copy (`lab-exercises copy OUT --course ift6135-a2`) the same cells show the stubs and fail until
# each is written. The eight experiments are `configs/compare/exp1.yaml` … `exp8.yaml`, their measured table and
# curves in `docs/results/yelp_comparison.md`.

# %%
import torch
from torch import nn

from programs.exercise_cells import check, show

torch.manual_seed(0)

# %% [markdown]
# ## 1. The LSTM cell from its gates
#
# One step maps the four gates' pre-activations (input, forget, cell, output — nn.LSTM's order) and the
# previous cell state to the new hidden and cell states.

# %%
show("lstm_cell")
check("lstm_cell")

# %% [markdown]
# The lab's `LSTM` is a drop-in for `nn.LSTM` (same arguments, same parameter names), so PyTorch's module can
# load its weights and the two can be compared directly, here bidirectional and with padded sequences:

# %%
from layers import LSTM

ours = LSTM(8, 16, num_layers=2, bidirectional=True)
reference = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
reference.load_state_dict(ours.state_dict())
x = torch.randn(3, 7, 8)
lengths = torch.tensor([7, 4, 2])
mask = torch.arange(7)[None, :] < lengths[:, None]
out, (h, c) = ours(x, mask=mask)
packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
ref_packed, (ref_h, ref_c) = reference(packed)
ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref_packed, batch_first=True, total_length=7)
torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
torch.testing.assert_close(h, ref_h, rtol=1e-4, atol=1e-5)
print("hand-built bidirectional LSTM matches nn.LSTM on a padded batch")

# %% [markdown]
# ## 2. The decoder with soft attention
#
# At each step the decoder's state queries the encoder's states; the weighted sum (the context) joins the
# decoder's input.

# %%
show("decoder_attention")
check("decoder_attention")

# %% [markdown]
# ## 3. The transformer's pieces: layer norm, attention and its heads, masks, the pre-norm block

# %%
show("layer_norm")
check("layer_norm")

# %%
show("scaled_dot_product_attention")
check("scaled_dot_product_attention")

# %%
show("multi_head_attention")
check("multi_head_attention")

# %%
show("masks")
check("masks")

# %%
show("transformer_block")
check("transformer_block")

# %% [markdown]
# ## 4. The eight experiments
#
# Each setting is one config; `python train.py fit --config configs/compare/expN.yaml` trains it on the Yelp
# slice (`data/yelp`, see `docs/data.md`) and `lab-report runs/compare` draws the curves and the table with
# wall-clock time and peak memory. The configs, as the lab has them:

# %%
from pathlib import Path

import yaml

for number in range(1, 9):
    path = Path(f"configs/compare/exp{number}.yaml")
    summary = path.read_text().splitlines()[0].lstrip("# ")  # each config's first line says what it is
    config = yaml.safe_load(path.read_text())
    backbone = config["model"]["init_args"]["backbone"]["class_path"].rsplit(".", 1)[-1]
    print(f"exp{number} ({backbone}, {config['trainer'].get('max_epochs')} epochs): {summary}")
