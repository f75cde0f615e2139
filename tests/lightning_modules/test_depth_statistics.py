"""DepthStatistics: its per-block numbers against the same numbers computed directly, and a real fit's logs."""

import math
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from layers.transformer import TransformerConfig, TransformerEncoder
from lightning_modules.depth_statistics import DepthStatistics
from tests.lightning_modules.test_causal_lm import tiny_data, tiny_model
from tests.utils import padding_mask


class RecordingLogger:
    def __init__(self) -> None:
        self.logged: list[tuple[int, dict[str, float]]] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.logged.append((step, metrics))


def measure_one_step(model, ids, mask, step=0, every=1):
    """Drive the callback through one training step of `model` (no Trainer): its logged values."""
    logger = RecordingLogger()
    trainer = SimpleNamespace(global_step=step, loggers=[logger])
    callback = DepthStatistics(every_n_steps=every)
    callback.on_fit_start(trainer, model)
    model.train()
    callback.on_train_batch_start(trainer, model, None, 0)
    out = model(ids, mask)
    out.square().mean().backward()
    callback.on_before_optimizer_step(trainer, model, None)
    callback.on_fit_end(trainer, model)
    return out, logger.logged


def test_uniform_attention_has_entropy_log_n_and_max_one_over_n():
    config = TransformerConfig(vocab_size=30, d_model=16, n_heads=2, n_layers=2, dropout=0.0)
    model = TransformerEncoder(config)
    with torch.no_grad():  # zero queries and keys: every real key gets the same score, so the same weight
        for block in model.blocks:
            block.attn.qkv_proj.weight[: 2 * 16] = 0
            block.attn.qkv_proj.bias[: 2 * 16] = 0
    lengths = [6, 3]
    mask = padding_mask(lengths, 6)
    _, logged = measure_one_step(model, torch.randint(0, 30, (2, 6)), mask)
    [(step, values)] = logged
    assert step == 0
    # Real queries only: 6 of length 6 and 3 of length 3.
    expected_entropy = (6 * math.log(6) + 3 * math.log(3)) / 9
    expected_max = (6 / 6 + 3 / 3) / 9
    for i in range(2):
        assert values[f"depth/attn_entropy/block_{i}"] == pytest.approx(expected_entropy, rel=1e-5)
        assert values[f"depth/attn_max/block_{i}"] == pytest.approx(expected_max, rel=1e-5)


def test_grad_norms_and_output_scale_are_those_of_each_block():
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=30, d_model=16, n_heads=2, n_layers=3, dropout=0.0, norm="none")
    model = TransformerEncoder(config)
    ids = torch.randint(0, 30, (2, 5))
    outputs = []
    handles = [b.register_forward_hook(lambda m, a, out: outputs.append(out.detach())) for b in model.blocks]
    _, [(_, values)] = measure_one_step(model, ids, None)
    for h in handles:
        h.remove()
    for i, block in enumerate(model.blocks):
        grads = torch.cat([p.grad.flatten() for p in block.parameters()])
        assert values[f"depth/grad_norm/block_{i}"] == pytest.approx(grads.norm().item(), rel=1e-5)
        assert values[f"depth/rms/block_{i}"] == pytest.approx(outputs[i].square().mean().sqrt().item(), rel=1e-5)


def test_only_every_nth_step_is_measured_and_a_model_without_blocks_is_an_error():
    config = TransformerConfig(vocab_size=30, d_model=16, n_heads=2, n_layers=1)
    model = TransformerEncoder(config)
    ids = torch.randint(0, 30, (2, 5))
    assert measure_one_step(model, ids, None, step=3, every=2)[1] == []
    assert len(measure_one_step(model, ids, None, step=4, every=2)[1]) == 1
    with pytest.raises(ValueError, match="TransformerBlocks"):
        DepthStatistics().on_fit_start(None, torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="every_n_steps"):
        DepthStatistics(every_n_steps=0)


def test_a_fit_logs_every_block_at_the_measured_steps(tmp_path):
    L.seed_everything(0)
    dm = tiny_data(batches_per_epoch=12)
    model = tiny_model(dm.vocab_size)
    logger = L.pytorch.loggers.TensorBoardLogger(tmp_path, name="lm")
    trainer = L.Trainer(
        max_epochs=1,
        logger=logger,
        callbacks=[DepthStatistics(every_n_steps=5)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,  # the callback's steps do not depend on it
    )
    trainer.fit(model, dm)
    events = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0})
    events.Reload()
    for quantity in ("grad_norm", "rms", "attn_entropy", "attn_max"):
        for i in range(2):
            assert [e.step for e in events.Scalars(f"depth/{quantity}/block_{i}")] == [0, 5, 10]
    # Causal attention: query t sees t + 1 keys, so the entropy is at most the mean of ln(t + 1).
    bound = sum(math.log(t + 1) for t in range(32)) / 32
    assert 0 < events.Scalars("depth/attn_entropy/block_0")[0].value <= bound + 1e-4
