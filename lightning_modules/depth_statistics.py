"""What happens inside a stack, block by block: the measurements the ablations of docs/ablations.md plot.

Every `every_n_steps` training steps, for each TransformerBlock of the model in order (i = 0 is the block
nearest the embeddings), this callback logs
- `depth/grad_norm/block_i`: the L2 norm of the gradient of all the block's parameters, before clipping
  (does the signal reach the lower blocks without the residual path?);
- `depth/rms/block_i`: the root mean square of the block's output (does the activation scale drift through
  depth without LayerNorm?);
- `depth/attn_entropy/block_i` and `depth/attn_max/block_i`: the mean entropy (nats) of the attention weights
  of the block's real queries and their mean largest weight (does the softmax saturate without 1/√d_k?).
Each step it measures is written to the loggers at that step, whatever the trainer's log_every_n_steps.
The attention weights are recomputed from the block's input with `get_attention_weights`, without a
gradient, only on the steps that are logged: the training path never builds them.

Add it to a config under `trainer.callbacks` (configs/ablations/*.yaml); any model with TransformerBlocks works.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from layers.blocks import TransformerBlock


class DepthStatistics(Callback):
    def __init__(self, every_n_steps: int = 50) -> None:
        if every_n_steps <= 0:
            raise ValueError(f"DepthStatistics every_n_steps must be a positive integer, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self._blocks: list[TransformerBlock] = []
        self._handles: list[Any] = []
        self._measuring = False
        self._values: dict[str, Tensor] = {}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._blocks = [m for m in pl_module.modules() if isinstance(m, TransformerBlock)]
        if not self._blocks:
            raise ValueError("DepthStatistics needs a model with TransformerBlocks; this one has none")
        for i, block in enumerate(self._blocks):
            self._handles.append(block.register_forward_hook(self._output_hook(i)))
            self._handles.append(block.attn.register_forward_pre_hook(self._attention_hook(i)))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        self._measuring = trainer.global_step % self.every_n_steps == 0
        self._values = {}

    def _output_hook(self, i: int):
        def hook(module: TransformerBlock, args: tuple, output: Any) -> None:
            if self._measuring and module.training:
                out = output[0] if isinstance(output, tuple) else output
                self._values[f"depth/rms/block_{i}"] = out.detach().float().square().mean().sqrt()

        return hook

    def _attention_hook(self, i: int):
        def hook(attn: Any, args: tuple) -> None:
            if not (self._measuring and attn.training) or (len(args) > 2 and args[2] is not None):
                return
            x, mask = args[0], args[1] if len(args) > 1 else None
            with torch.no_grad():
                weights = attn.get_attention_weights(x.detach(), mask).float()  # (B, H, T, T)
                entropy = -(weights * weights.clamp_min(1e-30).log()).sum(-1)  # (B, H, T)
                largest = weights.amax(-1)
                # Queries at padded positions are not scored, nor any query that sees no key (rows of 0).
                real = weights.sum(-1) > 0.5  # (B, H, T)
                if mask is not None and mask.dim() == 2 and mask.shape[-1] == x.shape[1]:
                    real = real & mask[:, None, :]
                self._values[f"depth/attn_entropy/block_{i}"] = entropy[real].mean()
                self._values[f"depth/attn_max/block_{i}"] = largest[real].mean()

        return hook

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        if not self._measuring:
            return
        for i, block in enumerate(self._blocks):
            grads = [p.grad.detach().float().norm() for p in block.parameters() if p.grad is not None]
            if grads:
                self._values[f"depth/grad_norm/block_{i}"] = torch.stack(grads).norm()
        # Straight to the loggers, at this step: self.log would keep only the steps that fall on the trainer's
        # log_every_n_steps.
        values = {name: value.item() for name, value in self._values.items()}
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
        self._measuring = False
