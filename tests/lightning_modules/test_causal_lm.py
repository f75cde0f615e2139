"""CausalLM: causality, bits per character, sampling with and without the cache, logging, generate.py."""

import math
import sys
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from datamodules.toy_grammar import ToyGrammarDataModule
from layers.generation import generate, next_token
from layers.transformer import TransformerConfig
from lightning_modules.causal_lm import CausalLM
from programs import generate as generate_cli


def tiny_data(**kwargs):
    settings = {
        "train_chars": 20_000,
        "val_chars": 2_000,
        "seq_len": 32,
        "batch_size": 16,
        "batches_per_epoch": 40,
        "last_token_batches": 4,
        **kwargs,
    }
    return ToyGrammarDataModule(**settings)


def tiny_model(vocab_size, **kwargs):
    shape = {"d_model": 32, "n_heads": 4, "n_layers": 2, "max_len": 32, "dropout": 0.0}
    shape.update({key: kwargs.pop(key) for key in list(kwargs) if key in TransformerConfig.__dataclass_fields__})
    settings = {"warmup_steps": 10, "sample_every_n_steps": 0, **kwargs}
    return CausalLM(vocab_size, transformer=TransformerConfig(**shape), **settings)


def test_later_tokens_never_change_earlier_logits():
    model = tiny_model(20).eval()
    ids = torch.randint(0, 20, (2, 16))
    logits = model(ids)
    changed = ids.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % 20
    torch.testing.assert_close(model(changed)[:, :9], logits[:, :9])
    assert not torch.allclose(model(changed)[:, 9:], logits[:, 9:])


def test_bits_per_character_are_nats_over_ln_2_and_start_near_uniform():
    L.seed_everything(0)
    dm = tiny_data()
    model = tiny_model(dm.vocab_size)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.validate(model, dm, verbose=False)[0]
    assert metrics["val/bpc"] == pytest.approx(metrics["val/loss"] / math.log(2), rel=1e-5)
    assert metrics["val/ppl"] == pytest.approx(math.exp(metrics["val/loss"]), rel=1e-5)
    assert metrics["val/bpc"] == pytest.approx(math.log2(dm.vocab_size), abs=0.15)  # a fresh model: ~uniform
    assert "val/bpc_last_token" in metrics
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        without = trainer.validate(model, tiny_data(last_token_batches=0), verbose=False)[0]
    # The last-token figure's metrics saw no batch: they are skipped, not computed (torchmetrics would warn).
    assert not [w for w in caught if "before the ``update``" in str(w.message)]
    assert "val/bpc_last_token" not in without
    assert without["val/bpc"] == pytest.approx(metrics["val/bpc"], rel=1e-6)  # every token, either way
    with pytest.raises(ValueError, match="last_token_batches"):
        tiny_data(last_token_batches=-1)


def test_training_brings_bits_per_character_down_and_logs_samples(tmp_path):
    L.seed_everything(0)
    dm = tiny_data()
    model = tiny_model(dm.vocab_size, sample_every_n_steps=40, sample_length=30)
    model.hparams.optimizer = None
    model.optimizer = lambda params: torch.optim.AdamW(params, lr=3e-3)
    logger = L.pytorch.loggers.TensorBoardLogger(tmp_path, name="lm")
    trainer = L.Trainer(
        max_epochs=3,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        gradient_clip_val=1.0,
        accumulate_grad_batches=2,  # samples are still taken once per optimiser step
    )
    trainer.fit(model, dm)
    assert trainer.callback_metrics["val/bpc"] < 0.7 * math.log2(dm.vocab_size)  # from ≈ 5 bits, uniform
    events = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    assert {"train/loss", "train/grad_norm", "val/bpc", "val/bpc_last_token"} <= set(events.Tags()["scalars"])
    assert len(events.Scalars("train/grad_norm")) == trainer.global_step  # every optimiser step
    sample_steps = [event.step for event in events.Tensors("samples/text_summary")]
    assert sample_steps == list(range(0, trainer.global_step + 1, 40))  # the untrained model's first


def test_cached_and_uncached_generation_give_the_same_tokens_even_past_max_len():
    model = tiny_model(25).double().eval()
    prompt = torch.randint(0, 25, (3, 6))
    for settings in ({"temperature": 0}, {"temperature": 1.0, "top_k": 5}, {"temperature": 0.7, "top_p": 0.8}):
        cached = generate(model.net, prompt, 50, generator=torch.Generator().manual_seed(3), **settings)
        uncached = generate(
            model.net, prompt, 50, generator=torch.Generator().manual_seed(3), use_cache=False, **settings
        )
        assert cached.shape == (3, 56) and torch.equal(cached, uncached)


def test_greedy_sampling_is_deterministic_and_filters_restrict_the_choice():
    model = tiny_model(25).eval()
    prompt = torch.randint(0, 25, (2, 4))
    assert torch.equal(model.generate(prompt, 20, temperature=0), model.generate(prompt, 20, temperature=0))
    logits = torch.tensor([[5.0, 4.0, 1.0, 0.0]]).repeat(2000, 1)
    assert set(next_token(logits, top_k=2).tolist()) == {0, 1}
    assert set(next_token(logits, top_p=0.5).tolist()) == {0}  # token 0 alone has p ≈ 0.71 ≥ 0.5
    with pytest.raises(ValueError, match="top_k must be a positive"):
        generate(model.net, prompt, 5, top_k=0)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        generate(model.net, prompt, 5, top_p=1.5)
    with pytest.raises(ValueError, match="temperature must be"):
        CausalLM(10, sample_temperature=-1)


def test_generate_py_samples_from_a_checkpoint_and_refuses_unknown_characters(tmp_path, monkeypatch, capsys):
    L.seed_everything(0)
    dm = tiny_data(batches_per_epoch=5)
    trainer = L.Trainer(
        max_epochs=1, default_root_dir=tmp_path, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(tiny_model(dm.vocab_size), dm)
    ckpt = tmp_path / "lm.ckpt"
    trainer.save_checkpoint(ckpt)
    monkeypatch.setattr(sys, "argv", ["generate.py"])
    samples = generate_cli.main(
        [
            "--ckpt_path",
            str(ckpt),
            "--prompt",
            "the cat ",
            "--max-new-tokens",
            "20",
            "--num-samples",
            "2",
            "--top-k",
            "5",
        ]
    )
    assert len(samples) == 2 and all(s.startswith("the cat ") and len(s) == 28 for s in samples)
    greedy = generate_cli.main(["--ckpt_path", str(ckpt), "--prompt", "a dog", "--temperature", "0"])
    assert greedy == generate_cli.main(
        ["--ckpt_path", str(ckpt), "--prompt", "a dog", "--temperature", "0", "--no-cache"]
    )
    with pytest.raises(SystemExit) as exit_info:
        generate_cli.main(["--ckpt_path", str(ckpt), "--prompt", "The Cat!"])
    assert exit_info.value.code == 2
    assert "error: characters outside the model's vocabulary: '!CT'" in capsys.readouterr().err
    assert Path(ckpt).exists()
