"""Attention in NumPy: the NLP homework's worked example, the same maths as layers/attention.py without torch.

Shape legend: Tq queries, Tk keys, Dk key width, Dv value width; any leading batch dims. The mask follows the
lab's contract: bool, True where the key is real, shaped (Tk,) or broadcastable to the scores (..., Tq, Tk).
"""

from __future__ import annotations

import numpy as np


def numpy_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """softmax(Q Kᵀ / √Dk) V: (..., Tq, Dk), (..., Tk, Dk), (..., Tk, Dv) → values (..., Tq, Dv), weights
    (..., Tq, Tk). A masked key gets weight 0; a query that sees no key gets zero weights and a zero output."""
    ### BEGIN SOLUTION
    ### HINT: return (weights @ v (..., Tq, Dv), weights (..., Tq, Tk)), a stable softmax, masked weights 0
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., Tq, Tk)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # a row with no visible key: all exp(-inf) = 0
    exp = np.exp(scores - top)
    total = exp.sum(axis=-1, keepdims=True)
    weights = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    return weights @ v, weights
    ### END SOLUTION
