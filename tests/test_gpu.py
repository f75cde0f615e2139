"""Checks for a machine with a CUDA device (`python -m pytest -m gpu`); skipped elsewhere."""

import pytest
import torch

from layers.attention import MultiHeadAttention
from layers.transformer import TransformerConfig
from tests.utils import padding_mask

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_attention_on_the_gpu_matches_the_cpu_and_stays_finite_in_bf16():
    cpu = MultiHeadAttention(64, 4, causal=True).double()
    x = torch.randn(4, 50, 64, dtype=torch.float64)
    mask = padding_mask([50, 30, 1, 0], 50)
    expected = cpu(x, mask)
    for impl in ("manual", "sdpa"):
        gpu = MultiHeadAttention(64, 4, causal=True, attn_impl=impl).double().cuda()
        gpu.load_state_dict(cpu.state_dict())
        torch.testing.assert_close(gpu(x.cuda(), mask.cuda()).cpu(), expected)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = gpu.float()(x.float().cuda(), mask.cuda())
        assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_a_mixed_precision_training_step_on_the_gpu(tmp_path):
    import lightning as L

    from datamodules.toy_grammar import ToyGrammarDataModule
    from lightning_modules.causal_lm import CausalLM

    dm = ToyGrammarDataModule(train_chars=5000, val_chars=1000, seq_len=64, batches_per_epoch=5, last_token_batches=2)
    model = CausalLM(
        dm.vocab_size, transformer=TransformerConfig(d_model=64, n_layers=2, max_len=64), sample_every_n_steps=0
    )
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        precision="bf16-mixed",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, dm)
    assert torch.isfinite(trainer.callback_metrics["val/bpc"])
