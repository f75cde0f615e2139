"""Sampling text from a causal language model, with or without a key/value cache.

Shape legend: B batch (samples), T tokens so far, V vocabulary.

With the cache, each new token costs one position's worth of computation (O(T) attention over the cached
keys) instead of re-running the whole context (O(T²)). Both paths follow one rule for long outputs, so they
produce the same tokens: the context is the tokens since the last reset, and when it would exceed the
model's max_len it is reset to its last max_len // 2 tokens (positions are absolute, so a cache cannot
simply slide; it is rebuilt from those tokens).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from layers.transformer import TransformerLM


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    # NaN passes every comparison's negation, and an infinite temperature turns every logit to 0 or NaN.
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number ≥ 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k must be a positive number of tokens, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:  # NaN too: every comparison with it is False
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One token per row of (B, V) logits: greedy at temperature 0, else sampled from softmax(logits / T)
    restricted to the k most likely tokens and/or the smallest set whose probability reaches p."""
    ### BEGIN SOLUTION
    ### HINT: return (B,) ids: argmax at temperature 0, else a draw from softmax(logits/T) after top_k/top_p
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,)
    logits = logits.double() / temperature  # float64: the same draw whatever path computed the logits
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative - sorted_logits.softmax(dim=-1) >= top_p  # mass before this token already ≥ p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    probabilities = logits.softmax(dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)  # (B,)
    ### END SOLUTION


@torch.no_grad()
def generate(
    model: TransformerLM,
    prompt: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Continue each row of `prompt` (B, T0) by `max_new_tokens` tokens: returns (B, T0 + max_new_tokens)."""
    check_sampling(temperature, top_k, top_p)
    if prompt.dim() != 2 or prompt.shape[1] == 0:
        raise ValueError(f"prompt must be (B, T) token ids with T ≥ 1, got shape {tuple(prompt.shape)}")
    max_len = model.config.max_len
    tokens = prompt
    start = max(0, tokens.shape[1] - max_len)  # where the current context begins
    caches = None
    for _ in range(max_new_tokens):
        if tokens.shape[1] - start > max_len:  # the context no longer fits: keep its last half
            start = tokens.shape[1] - max(1, max_len // 2)
            caches = None
        if not use_cache:
            logits = model(tokens[:, start:])[:, -1]
        elif caches is None:  # (re)build the cache from the whole context
            caches = model.new_caches()
            logits = model(tokens[:, start:], caches=caches)[:, -1]
        else:
            logits = model(tokens[:, -1:], caches=caches)[:, -1]  # one new position, cached keys
        tokens = torch.cat([tokens, next_token(logits, temperature, top_k, top_p, generator)[:, None]], dim=1)
    return tokens
