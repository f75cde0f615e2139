"""Per-step work that nothing shows is skipped: the gradient norm is computed only for steps that are logged."""

import lightning as L
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.lightning_modules.test_causal_lm import tiny_data, tiny_model


def test_grad_norm_is_computed_only_on_logged_steps(tmp_path, monkeypatch):
    computed = []
    total_norm = torch.nn.utils.get_total_norm
    monkeypatch.setattr(torch.nn.utils, "get_total_norm", lambda grads: computed.append(1) or total_norm(grads))
    dm = tiny_data(batches_per_epoch=20)
    dm.prepare_data()
    model = tiny_model(dm.vocab_size)
    model.hparams.optimizer = None
    model.optimizer = lambda params: torch.optim.AdamW(params, lr=3e-3)
    logger = L.pytorch.loggers.TensorBoardLogger(tmp_path, name="lm")
    trainer = L.Trainer(
        max_steps=20,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=5,
        limit_val_batches=1,
    )
    trainer.fit(model, dm)
    events = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0})
    events.Reload()
    logged = events.Scalars("train/grad_norm")
    assert [e.step for e in logged] == [4, 9, 14, 19]
    assert len(computed) == 4  # not 20
    assert all(e.value > 0 for e in logged)
