"""Transformer stacks: token embedding + positions + N blocks (+ a final norm for pre-norm).

Shape legend: B batch, T time, D model width, H heads, V vocabulary size.

Parameter names follow one scheme so pretrained weights map across one-to-one (see networks/pretrained.py):
tok_emb, pos.embedding, emb_norm, blocks.{i}.{norm1, attn.qkv_proj, attn.out_proj, norm2, ff.linear1,
ff.linear2}, final_norm, and lm_head for the language model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn

from layers.attention import AttentionImpl
from layers.blocks import Activation, NormPlacement, NormScope, TransformerBlock
from layers.kv_cache import KVCache
from layers.norm import LayerNorm
from layers.position import PositionKind, build_positions


@dataclass(frozen=True)
class TransformerConfig:
    """Everything that shapes a stack, in one typed object passed whole (to TransformerEncoder, TransformerLM,
    and through them to every block). d_ff defaults to 4·d_model.

    vocab_size is the data's: None until whoever builds the stack knows it (CausalLM, MaskedLM and the encoder
    sources fill it in from the data module with `with_vocab_size`), so a YAML config never repeats it.
    """

    vocab_size: int | None = None
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None
    max_len: int = 512
    positions: PositionKind = "learned"
    norm: NormPlacement = "pre"
    activation: Activation = "gelu"
    dropout: float = 0.1
    # Dropout on the feed-forward's hidden activations: None means `dropout` (nn.TransformerEncoderLayer's
    # layout); BERT and GPT-2 have none there, so their loaded weights set 0.0 (networks/pretrained.py).
    ff_dropout: float | None = None
    eps: float = 1e-5
    embedding_norm: bool = False  # BERT normalises the summed embeddings before the first block
    attn_impl: AttentionImpl = "manual"
    bias: bool = True  # biases in every linear layer and norm (GPT-2, BERT); False as in nanoGPT's train.py
    # The ablations of docs/ablations.md: norm "none" (above), no skip connections, unscaled attention scores.
    residual: bool = True
    scaled: bool = True
    # "token": each position normalised over its D features (every transformer); "sequence": one statistic
    # per whole (T, D) sequence, T = max_len, as the ML Methods exercise defines its LayerNorm (inputs must
    # then be padded to max_len).
    norm_over: NormScope = "token"

    def __post_init__(self) -> None:
        sizes = {"d_model": self.d_model, "n_heads": self.n_heads, "n_layers": self.n_layers, "max_len": self.max_len}
        if self.vocab_size is not None:
            sizes["vocab_size"] = self.vocab_size
        if self.d_ff is not None:
            sizes["d_ff"] = self.d_ff
        for name, value in sizes.items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"transformer {name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"transformer d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"transformer dropout must be in [0, 1), got {self.dropout}")
        if self.ff_dropout is not None and not 0.0 <= self.ff_dropout < 1.0:
            raise ValueError(f"transformer ff_dropout must be in [0, 1) or None, got {self.ff_dropout}")
        if self.eps <= 0:
            raise ValueError(f"transformer eps must be positive, got {self.eps}")
        if self.norm not in ("pre", "post", "none"):
            raise ValueError(f"transformer norm must be 'pre', 'post' or 'none', got {self.norm!r}")
        if self.norm_over not in ("token", "sequence"):
            raise ValueError(f"transformer norm_over must be 'token' or 'sequence', got {self.norm_over!r}")

    @property
    def norm_shape(self) -> int | tuple[int, int]:
        """The trailing shape every LayerNorm of the stack normalises over."""
        return self.d_model if self.norm_over == "token" else (self.max_len, self.d_model)

    @classmethod
    def coerce(cls, value: TransformerConfig | Mapping[str, Any]) -> TransformerConfig:
        """A TransformerConfig as given, or built from a mapping of its fields (a checkpoint's hyperparameters
        keep it as one); a key that is not a field is an error, never dropped."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a transformer config is a TransformerConfig or a mapping of its fields, got {value!r}")
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"transformer config: unknown key(s) {unknown}; the fields are {[f.name for f in fields(cls)]}"
            )
        return cls(**value)

    def with_vocab_size(self, vocab_size: int) -> TransformerConfig:
        """This config over the data's vocabulary: a copy with vocab_size set, an error if it already names
        another size."""
        if self.vocab_size is not None and self.vocab_size != vocab_size:
            raise ValueError(
                f"transformer vocab_size is {self.vocab_size} but the data has {vocab_size} token ids: "
                "leave vocab_size out of the transformer config (it comes from the data module)"
            )
        return replace(self, vocab_size=vocab_size)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (what a checkpoint's hyperparameters keep)."""
        return asdict(self)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT/GPT-2 initialisation: linear and embedding weights N(0, std²), biases zero.

    Small embeddings matter for a tied LM head: nn.Embedding's default N(0, 1) would start the logits
    with a standard deviation of √D and the loss far above ln V.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


class TransformerStack(nn.Module):
    """Token ids (B, T) → hidden states (B, T, D), bidirectional or causal."""

    def __init__(self, config: TransformerConfig, causal: bool) -> None:
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("the transformer config has no vocab_size: give it, or build through with_vocab_size")
        c = self.config = config
        self.causal = causal
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos = build_positions(c.positions, c.d_model, c.max_len)
        # Vaswani et al. scale token embeddings by √D so they are not drowned by the unit-size sinusoids.
        self.embed_scale = math.sqrt(c.d_model) if c.positions == "sinusoidal" else 1.0
        self.emb_norm = LayerNorm(c.norm_shape, c.eps, c.bias) if c.embedding_norm else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(TransformerBlock.from_config(c, causal=causal) for _ in range(c.n_layers))
        # Post-norm blocks already end in a norm; a pre-norm residual stream needs one at the top.
        self.final_norm = LayerNorm(c.norm_shape, c.eps, c.bias) if c.norm == "pre" else None
        init_weights(self)

    def embed(self, input_ids: Tensor, offset: int = 0) -> Tensor:
        """(B, T) ids → (B, T, D) token embeddings plus positions offset … offset+T−1."""
        x = self.tok_emb(input_ids)  # (B, T, D)
        if self.embed_scale != 1.0:  # skipped, not multiplied by 1: a full copy in each direction
            x = x * self.embed_scale
        if self.pos is not None:
            x = self.pos(x, offset)
        if self.emb_norm is not None:
            x = self.emb_norm(x)
        return self.drop(x)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        caches: list[KVCache] | None = None,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """input_ids (B, T) long; attention_mask (B, Tk) bool, True = real token (Tk counts cached keys).

        caches: one KVCache per block (from `new_caches()`); positions continue after the cached ones.
        Returns hidden states (B, T, D), and with return_weights each block's weights (B, H, T, Tk).
        """
        if input_ids.dim() != 2 or input_ids.dtype != torch.long:
            raise ValueError(
                f"input_ids must be a (B, T) LongTensor, got {input_ids.dtype} of shape {tuple(input_ids.shape)}"
            )
        if caches is not None and len(caches) != len(self.blocks):
            raise ValueError(f"expected {len(self.blocks)} caches (one per block), got {len(caches)}")
        x = self.embed(input_ids, offset=len(caches[0]) if caches else 0)  # (B, T, D)
        all_weights = []
        for i, block in enumerate(self.blocks):
            x = block(x, attention_mask, caches[i] if caches else None, return_weights)
            if return_weights:
                x, weights = x
                all_weights.append(weights)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return (x, all_weights) if return_weights else x

    def new_caches(self) -> list[KVCache]:
        """Empty key/value caches, one per block, for incremental decoding."""
        return [KVCache() for _ in self.blocks]


class TransformerEncoder(TransformerStack):
    """Bidirectional stack (BERT-like): every token attends to every real token."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config, causal=False)


class TransformerLM(nn.Module):
    """Causal stack (GPT-like) with a language-model head: (B, T) ids → (B, T, V) next-token logits.

    The head shares its weight with the token embedding (Press & Wolf, 2017), as GPT-2 does.
    """

    def __init__(self, config: TransformerConfig, tie_embeddings: bool = True) -> None:
        super().__init__()
        self.config = config
        self.transformer = TransformerStack(config, causal=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.transformer.tok_emb.weight
        else:
            init_weights(self.lm_head)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, caches: list[KVCache] | None = None
    ) -> Tensor:
        return self.lm_head(self.transformer(input_ids, attention_mask, caches))  # (B, T, V)

    def new_caches(self) -> list[KVCache]:
        return self.transformer.new_caches()
