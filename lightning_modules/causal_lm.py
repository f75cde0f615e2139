"""A causal (GPT-style) character or byte language model: training, bits per character, sampling."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor
from torchmetrics import SumMetric

from datamodules.lm import LanguageModelDataModule
from lab_errors import InputError
from layers.generation import check_sampling, generate
from layers.transformer import TransformerConfig, TransformerLM
from lightning_modules import optim
from lightning_modules.logger_media import log_text, takes_media
from lightning_modules.text_encoder_state import TextEncoderInCheckpoint

IGNORE = -100
DEFAULT_TRANSFORMER = TransformerConfig(n_layers=4, max_len=256)  # frozen: one shared default is safe
VALIDATION_FIGURES = ("bpc", "bpc_last_token")  # val dataloader 0: every token; 1: last tokens of slices


class CausalLM(TextEncoderInCheckpoint, optim.WarmupDecayOptimization, L.LightningModule):
    """Next-token prediction with a decoder-only stack (TransformerLM, causal) over the data's tokens.

    Logs train/loss (nats per token) and train/grad_norm (before clipping) every step; on validation
    val/loss, val/ppl and val/bpc (bits per token over every validation token, each with up to the
    model's context; the monitored figure) and val/bpc_last_token (the cheaper estimate: −log₂ p of the
    last token of random slices). Every `sample_every_n_steps` steps, a sample continued from 16
    characters of validation text goes to TensorBoard as text. `compile: true` runs the training steps
    through torch.compile (see benchmarks/nanogpt.py for when its warm-up pays). `transformer` shapes the
    stack (its vocab_size left out: the data's; `bias: false` in it leaves the biases out of every linear layer
    and norm, nanoGPT's layout); `lr_min_ratio` is where the decay ends, as a fraction of the peak learning
    rate (nanoGPT's recipe: 0.1).
    """

    def __init__(
        self,
        vocab_size: int,
        transformer: TransformerConfig = DEFAULT_TRANSFORMER,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        warmup_steps: int = 200,
        lr_decay: optim.Decay = "cosine",
        lr_min_ratio: float = 0.0,
        sample_every_n_steps: int = 500,
        sample_length: int = 200,
        sample_temperature: float = 0.8,
        sample_top_k: int | None = None,
        sample_top_p: float | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        check_sampling(sample_temperature, sample_top_k, sample_top_p)
        transformer = TransformerConfig.coerce(transformer)  # a mapping when a checkpoint rebuilds it
        self.config = transformer.with_vocab_size(vocab_size)
        self.save_hyperparameters(ignore=["optimizer"])
        self.hparams["transformer"] = transformer.as_dict()  # plain data in checkpoints
        self.optimizer = optimizer
        self.net = TransformerLM(self.config)
        # compile: training steps run the network through torch.compile (one compilation of the training
        # shape, tens of seconds on a CPU); evaluation and sampling stay eager, where shapes vary and each new
        # one would compile again. A bound method, so the state dict keeps its names.
        self._compiled_net = torch.compile(self.net.forward, dynamic=False) if compile else None
        # Σ −ln p and the number of scored tokens, per validation figure (summed over batches and devices).
        self.nll = torch.nn.ModuleList(SumMetric() for _ in VALIDATION_FIGURES)
        self.count = torch.nn.ModuleList(SumMetric() for _ in VALIDATION_FIGURES)
        self._sampled_at: int | None = None

    def forward(self, input_ids: Tensor) -> Tensor:
        if self._compiled_net is not None and self.training:
            return self._compiled_net(input_ids)
        return self.net(input_ids)  # (B, T, V) logits

    def _nll(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Σ −ln p(target) over the labelled positions, and how many there are."""
        logits = self(batch["input_ids"])
        labels = batch["labels"]
        total = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="sum")
        return total, (labels != IGNORE).sum()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        total, count = self._nll(batch)
        loss = total / count
        self.log("train/loss", loss, prog_bar=True, batch_size=int(count))
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Only steps whose metrics reach the logger (every log_every_n_steps) need the norm; Lightning drops a
        # step value it does not write, so computing it at every step costs a pass over the gradients for nothing.
        if not self._step_is_logged():
            return
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        self.log("train/grad_norm", torch.nn.utils.get_total_norm(grads), batch_size=1)

    def _step_is_logged(self) -> bool:
        """Whether Lightning writes this optimiser step's values: the rule of its logger connector (every
        `log_every_n_steps` steps, and the last), from public trainer attributes. global_step counts the steps
        already taken, so this one is global_step + 1."""
        every = self.trainer.log_every_n_steps
        return every > 0 and ((self.trainer.global_step + 1) % every == 0 or self.trainer.should_stop)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        total, count = self._nll(batch)
        self.nll[dataloader_idx].update(total)
        self.count[dataloader_idx].update(count)

    def on_validation_epoch_end(self) -> None:
        for i, name in enumerate(VALIDATION_FIGURES):
            if self.count[i].update_count == 0:  # no loader for this figure (last_token_batches: 0)
                continue
            count = self.count[i].compute()
            if count > 0:
                nats = self.nll[i].compute() / count
                self.log(f"val/{name}", nats / math.log(2), prog_bar=name == "bpc")
                if name == "bpc":
                    self.log("val/loss", nats)
                    self.log("val/ppl", torch.exp(nats))
            self.nll[i].reset()
            self.count[i].reset()

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        total, count = self._nll(batch)
        self.log("test/bpc", total / count / math.log(2), batch_size=int(count), sync_dist=True)
        self.log("test/loss", total / count, batch_size=int(count), sync_dist=True)

    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """Continue (B, T) prompts by `max_new_tokens` tokens (see layers/generation.py)."""
        was_training = self.training
        self.eval()
        try:
            return generate(
                self.net, prompt.to(self.device), max_new_tokens, temperature, top_k, top_p, generator, use_cache
            )
        finally:
            self.train(was_training)

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule  # a LanguageModelDataModule provides sample_prompt and the text
        if isinstance(datamodule, LanguageModelDataModule) and datamodule.seq_len > self.config.max_len:
            raise InputError(
                f"the data's seq_len ({datamodule.seq_len}) is longer than the model's context (transformer max_len "
                f"{self.config.max_len}): set the data's seq_len to at most {self.config.max_len}, or max_len higher"
            )
        sampling = stage == "fit" and self.hparams.sample_every_n_steps and datamodule is not None
        if sampling and not isinstance(datamodule, LanguageModelDataModule):
            raise TypeError(
                f"sample_every_n_steps needs a datamodules.lm.LanguageModelDataModule to draw prompts from, "
                f"got {type(datamodule).__name__} (or set sample_every_n_steps: 0)"
            )

    def on_train_start(self) -> None:
        if self.hparams.sample_every_n_steps and self.global_step == 0:  # the untrained model: noise
            self._sampled_at = 0
            self.log_sample()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        every = self.hparams.sample_every_n_steps
        # With gradient accumulation several batches end at one global step: sample once per step.
        if every and self.global_step % every == 0 and self.global_step != self._sampled_at:
            self._sampled_at = self.global_step
            self.log_sample()

    def log_sample(self) -> str | None:
        """Continue 16 characters of validation text and log prompt and continuation to the run's loggers."""
        datamodule = self.trainer.datamodule
        if not isinstance(datamodule, LanguageModelDataModule) or not takes_media(self.loggers):  # see setup
            return None
        encoder = datamodule.text_encoder
        generator = torch.Generator().manual_seed(self.global_step)
        prompt = datamodule.sample_prompt(16, generator)[None, :]
        hp = self.hparams
        tokens = self.generate(
            prompt,
            hp.sample_length,
            hp.sample_temperature,
            hp.sample_top_k,
            hp.sample_top_p,
            generator=torch.Generator(device=self.device).manual_seed(self.global_step),
        )
        seed, continuation = encoder.text(tokens[0, :16].tolist()), encoder.text(tokens[0, 16:].tolist())
        # TensorBoard renders Markdown: code spans keep spaces and symbols as they are.
        log_text(self.loggers, "samples", f"step {self.global_step}: `{seed}` → `{continuation}`", self.global_step)
        return seed + continuation
