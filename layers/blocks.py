"""The transformer block and its feed-forward network.

Shape legend: B batch, T time, D model width, H heads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Literal

from torch import Tensor, nn

from layers.attention import AttentionImpl, MultiHeadAttention
from layers.kv_cache import KVCache
from layers.norm import LayerNorm

if TYPE_CHECKING:  # layers/transformer.py imports this module: the config's type only, for annotations
    from layers.transformer import TransformerConfig

NormPlacement = Literal["pre", "post", "none"]
NormScope = Literal["token", "sequence"]
Activation = Literal["relu", "gelu", "gelu_tanh"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,  # the exact erf form (BERT)
    "gelu_tanh": partial(nn.GELU, approximate="tanh"),  # the tanh approximation (GPT-2's "gelu_new")
}


def build_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def build_norm(placement: str, shape: int | tuple[int, ...], eps: float, bias: bool) -> nn.Module:
    """A block's LayerNorm over `shape`, or an identity where the placement is "none" (the ablation)."""
    return nn.Identity() if placement == "none" else LayerNorm(shape, eps=eps, bias=bias)


class FeedForward(nn.Module):
    """Position-wise MLP: linear (D → d_ff, 4·D by default) → activation → dropout → linear (d_ff → D)."""

    def __init__(
        self,
        d_model: int,
        d_ff: int | None = None,
        activation: Activation = "relu",
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.activation = build_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))  # (B, T, D)


class TransformerBlock(nn.Module):
    """Self-attention and a feed-forward network, each wrapped in dropout, a residual and a LayerNorm.

    post-norm (Vaswani et al.; BERT): x = norm1(x + drop(attn(x))); x = norm2(x + drop(ff(x)))
    pre-norm (GPT-2; trains deeper stacks without warm-up tricks):
                                      x = x + drop(attn(norm1(x))); x = x + drop(ff(norm2(x)))
    The same arrangement, parameter for parameter, as nn.TransformerEncoderLayer(norm_first=norm == "pre").
    bias=False drops the biases of every linear layer and norm (nanoGPT's default).

    The ablations of the conceptual questions (docs/ablations.md) take a part out, one at a time:
    norm="none" puts identities where the norms were (x = x + drop(attn(x)); x = x + drop(ff(x)));
    residual=False drops both skip connections (pre: x = drop(attn(norm1(x))); x = drop(ff(norm2(x))),
    post: x = norm1(drop(attn(x))); x = norm2(drop(ff(x)))); scaled=False leaves the attention scores
    unscaled (MultiHeadAttention). norm_shape replaces the per-token norm over D by one over another
    trailing shape: (T, D), one statistic per whole sequence, is the norm of the ML Methods exercise.
    ff_dropout is the dropout on the feed-forward's hidden activations: None, the same as `dropout`
    (nn.TransformerEncoderLayer's layout); BERT and GPT-2 have none there (0.0), so loaded weights train as they did.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        norm: NormPlacement = "pre",
        dropout: float = 0.0,
        activation: Activation = "relu",
        d_ff: int | None = None,
        causal: bool = False,
        eps: float = 1e-5,
        attn_impl: AttentionImpl = "manual",
        bias: bool = True,
        residual: bool = True,
        scaled: bool = True,
        norm_shape: int | tuple[int, ...] | None = None,
        ff_dropout: float | None = None,
    ) -> None:
        super().__init__()
        if norm not in ("pre", "post", "none"):
            raise ValueError(f"norm must be 'pre', 'post' or 'none', got {norm!r}")
        self.norm_placement = norm
        self.residual = residual
        self.attn = MultiHeadAttention(
            d_model, n_heads, dropout=dropout, bias=bias, causal=causal, attn_impl=attn_impl, scaled=scaled
        )
        ff_dropout = dropout if ff_dropout is None else ff_dropout
        self.ff = FeedForward(d_model, d_ff, activation=activation, dropout=ff_dropout, bias=bias)
        self.norm1 = build_norm(norm, d_model if norm_shape is None else norm_shape, eps, bias)
        self.norm2 = build_norm(norm, d_model if norm_shape is None else norm_shape, eps, bias)
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def from_config(cls, config: TransformerConfig, causal: bool = False) -> TransformerBlock:
        """One block of the stack `config` describes (every field but the vocabulary, positions and depth)."""
        return cls(
            config.d_model,
            config.n_heads,
            norm=config.norm,
            dropout=config.dropout,
            activation=config.activation,
            d_ff=config.d_ff,
            causal=causal,
            eps=config.eps,
            attn_impl=config.attn_impl,
            bias=config.bias,
            residual=config.residual,
            scaled=config.scaled,
            norm_shape=config.norm_shape,
            ff_dropout=config.ff_dropout,
        )

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        cache: KVCache | None = None,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """(B, T, D) → (B, T, D); mask (B, Tk) bool, True = real token; weights (B, H, T, Tk) on request."""
        ### BEGIN SOLUTION
        ### HINT: return (B, T, D): pre x + attn(norm1(x)), + ff(norm2(x)); post norm1(x + attn(x)), norm2(x + ff(x))
        pre = self.norm_placement != "post"  # "none": identities in the pre-norm places
        attended = self.attn(self.norm1(x) if pre else x, mask, cache, return_weights)
        attended, weights = attended if return_weights else (attended, None)
        skip = x if self.residual else 0.0
        x = skip + self.dropout(attended) if pre else self.norm1(skip + self.dropout(attended))
        skip = x if self.residual else 0.0
        x = skip + self.dropout(self.ff(self.norm2(x))) if pre else self.norm2(skip + self.dropout(self.ff(x)))
        return (x, weights) if return_weights else x
        ### END SOLUTION
