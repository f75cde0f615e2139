"""An encoder source whose frozen part is computed once per review and then read from disk.

Shape legend: B batch, T time, D width, L a sequence's real tokens.

    encoder:
      class_path: networks.cached_encoder.CachedEncoder
      init_args:
        encoder: {class_path: networks.encoder_sources.BertEncoder, init_args: {name_or_dir: minilm}}
        uncached_layers: 0          # the top blocks computed every step (and trained, if the classifier is not frozen)

With `uncached_layers: 0` the whole encoder is frozen and cached: the fine-tuning notebook's frozen BERT
under a GRU head, where the first epoch pays for the encoder and the others only for the head. With
`uncached_layers: k` (a hand-built TransformerStack: BertEncoder, ScratchEncoder) the embeddings and all
blocks but the top k are the cached part, and the top k blocks run live, so they can be fine-tuned over
cached lower layers at a fraction of a whole fine-tuning step's cost.

The cached part is always frozen — no gradients, eval mode (no dropout), whatever the classifier does with
the rest — because a stored state is only right for the weights that made it. The store
(networks/feature_store.py) is keyed by the SHA-256 of those weights and, per sequence, by its real token ids
and their positions, so another tokenizer, max_len or padding layout never reads a stale state. Stored in
float16 by default (`dtype`), and a state computed in this step is rounded through that dtype too, so every
epoch sees the same features. `cache_dir` defaults to .cache/features/<encoder>-<digest>, one folder per
set of frozen weights; a folder given explicitly that holds another encoder's states is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from datamodules.preparation import digest
from lab_errors import InputError
from layers.transformer import TransformerStack
from networks.feature_store import DTYPES, FeatureStore, sequence_key, weights_digest

DEFAULT_ROOT = Path(".cache/features")


class CachedEncoder(nn.Module):
    """(input_ids (B, T) long, attention_mask (B, T) bool, True = real token) → hidden states (B, T, D),
    the frozen part's states read from disk when stored (see the module's docstring). Padding rows are 0."""

    def __init__(
        self,
        vocab_size: int,
        encoder: Callable[[int], nn.Module],
        uncached_layers: int = 0,
        cache_dir: str | None = None,
        dtype: str = "float16",
    ) -> None:
        super().__init__()
        if dtype not in DTYPES:
            raise InputError(f"CachedEncoder dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.encoder = encoder(vocab_size)
        self.width, self.max_len = self.encoder.width, self.encoder.max_len
        self.uncached_layers, self.cache_dir, self.dtype = uncached_layers, cache_dir, dtype
        self.frozen_parts = self.split(uncached_layers)
        self.hits = self.misses = 0  # sequences read from the store / computed, since construction
        self.store: FeatureStore | None = None  # opened at the first forward, when the weights are final
        self.requires_grad_(True)
        self.train()  # the cached part in eval mode from the start
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.close())

    def split(self, uncached_layers: int) -> dict[str, nn.Module]:
        """The modules of the cached part, by their names under `encoder`."""
        if uncached_layers == 0:
            return {"": self.encoder}
        if not isinstance(self.encoder, TransformerStack):
            raise InputError(
                f"uncached_layers needs a hand-built transformer encoder (BertEncoder, ScratchEncoder), "
                f"got {type(self.encoder).__name__}: use uncached_layers 0 to cache all of it"
            )
        n_blocks = len(self.encoder.blocks)
        if not 0 < uncached_layers < n_blocks:
            raise InputError(
                f"uncached_layers must be between 0 and {n_blocks - 1} (the encoder has {n_blocks} blocks), "
                f"got {uncached_layers}"
            )
        parts = {"tok_emb": self.encoder.tok_emb, "drop": self.encoder.drop}
        parts |= {"pos": self.encoder.pos} if self.encoder.pos is not None else {}
        parts |= {"emb_norm": self.encoder.emb_norm} if self.encoder.emb_norm is not None else {}
        return parts | {f"blocks.{i}": self.encoder.blocks[i] for i in range(n_blocks - uncached_layers)}

    def frozen_state(self) -> dict[str, Tensor]:
        return {
            f"{name}.{k}".lstrip("."): v
            for name, part in self.frozen_parts.items()
            for k, v in part.state_dict().items()
        }

    def open_store(self) -> FeatureStore:
        manifest = {
            "encoder": type(self.encoder).__name__,
            "weights_sha256": weights_digest(self.frozen_state()),
            "cached_layers": "all" if self.uncached_layers == 0 else len(self.encoder.blocks) - self.uncached_layers,
            "width": self.width,
            "dtype": self.dtype,
        }
        name = f"{manifest['encoder'].lower()}-{digest(manifest)}"
        directory = Path(self.cache_dir) if self.cache_dir else DEFAULT_ROOT / name
        store = FeatureStore.open(directory, manifest)
        rank_zero_info(
            f"feature cache {directory}: {len(store)} sequences stored, {manifest['cached_layers']} layers of "
            f"{manifest['encoder']} (weights sha256 {manifest['weights_sha256'][:12]}…), {self.dtype}"
        )
        return store

    def close(self) -> None:
        """Forget the open store: new weights (a loaded state dict) are digested again at the next forward."""
        self.store = None

    def requires_grad_(self, requires_grad: bool = True) -> CachedEncoder:
        super().requires_grad_(requires_grad)
        for part in self.frozen_parts.values():
            part.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> CachedEncoder:
        super().train(mode)
        for part in self.frozen_parts.values():
            part.eval()
        return self

    def compute_frozen(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        """The cached part's states (B, T, D), computed."""
        if self.uncached_layers == 0:
            return self.encoder(input_ids, mask)
        x = self.encoder.embed(input_ids)  # (B, T, D)
        for block in self.encoder.blocks[: len(self.encoder.blocks) - self.uncached_layers]:
            x = block(x, mask)
        return x

    def frozen_states(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        """The cached part's states (B, T, D): read where stored, else computed (only for those rows) and stored."""
        if self.store is None:
            self.store = self.open_store()
        real = [row.nonzero().squeeze(1) for row in mask]  # each row's real positions (L,)
        keys = [sequence_key(torch.cat([ids[at], at])) for ids, at in zip(input_ids, real, strict=True)]
        states = [self.store.get(key) for key in keys]
        missing = [i for i, found in enumerate(states) if found is None]
        self.hits, self.misses = self.hits + len(states) - len(missing), self.misses + len(missing)
        if missing:
            rows = torch.tensor(missing, device=input_ids.device)
            width = int(max(real[i].max() + 1 if len(real[i]) else 1 for i in missing))  # trailing padding cut
            with torch.no_grad():
                computed = self.compute_frozen(input_ids[rows, :width], mask[rows, :width])  # (M, width, D)
            for row, i in zip(computed, missing, strict=True):
                self.store.put(keys[i], row[real[i]])
                states[i] = row[real[i]].to(self.store.torch_dtype).float()  # as a later epoch will read it
        out = torch.zeros(*input_ids.shape, self.width, device=input_ids.device)  # (B, T, D)
        for i, (at, found) in enumerate(zip(real, states, strict=True)):
            out[i, at] = found.to(out.device)
        return out

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        x = self.frozen_states(input_ids, mask)  # (B, T, D)
        if self.uncached_layers == 0:
            return x
        for block in self.encoder.blocks[len(self.encoder.blocks) - self.uncached_layers :]:
            x = block(x, mask)
        if self.encoder.final_norm is not None:
            x = self.encoder.final_norm(x)
        return x

    def extra_repr(self) -> str:
        return f"uncached_layers={self.uncached_layers}, dtype={self.dtype}"
