"""Figures logged to TensorBoard."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display needed: figures go to files and TensorBoard

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor


def attention_figure(
    examples: list[tuple[list[str], list[Tensor]]], captions: list[str] | None = None, max_panels: int = 8
) -> Figure:
    """One row per example, one heatmap per layer and head: queries down, keys across, tokens on the axes.

    examples: (tokens, weights per layer), each weight (T, T) or (H, T, T) for that example's real tokens.
    captions: a line per example (e.g. its label and the model's confidence), shown left of its row.
    With more than `max_panels` heads in all, each layer shows its heads' mean instead.
    """
    rows = []
    for tokens, layers in examples:
        panels = [(f"layer {i}", w) for i, w in enumerate(layers) if w.dim() == 2]
        heads = sum(w.shape[0] for w in layers if w.dim() == 3)
        for i, w in enumerate(layers):
            if w.dim() == 3 and heads <= max_panels:
                panels += [(f"layer {i} head {h}", w[h]) for h in range(w.shape[0])]
            elif w.dim() == 3:
                panels.append((f"layer {i} (mean of {w.shape[0]} heads)", w.mean(0)))
        rows.append((tokens, panels))
    n_cols = max(len(p) for _, p in rows)
    size = max(2.5, 0.35 * max(len(t) for t, _ in rows))
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(size * n_cols, size * len(rows)), squeeze=False)
    for r, (tokens, panels) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(panels):
                ax.axis("off")
                continue
            title, weights = panels[c]
            ax.imshow(weights.float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
            ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
            ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
            ax.set_title(title, fontsize=8)
        if captions:
            axes[r][0].set_ylabel(captions[r], fontsize=8, labelpad=12)
    fig.tight_layout()
    return fig
