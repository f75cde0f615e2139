"""MaskedLM: BERT's masking statistics, padding, the initial loss, and the transfer to a classifier."""

import math

import lightning as L
import pytest
import torch

from datamodules.imdb_synth import IMDbSynthDataModule
from layers.transformer import TransformerConfig
from lightning_modules.masked_lm import IGNORE, MaskedLM, mask_inputs
from lightning_modules.mlm_encoder import load_mlm_encoder
from networks.encoder_sources import ScratchEncoder


def test_masking_statistics_match_bert():
    ids = torch.randint(0, 100, (128, 128), generator=torch.Generator().manual_seed(0))
    corrupted, labels = mask_inputs(
        ids, None, 0.15, mask_id=100, vocab_size=100, generator=torch.Generator().manual_seed(1)
    )
    n = ids.numel()
    assert (labels != IGNORE).sum() / n == pytest.approx(0.15, abs=0.006)  # selected
    assert (corrupted == 100).sum() / n == pytest.approx(0.12, abs=0.006)  # 80% of them masked
    assert (corrupted != ids).sum() / n == pytest.approx(0.135, abs=0.006)  # + 10% random (1% of those unchanged)
    assert torch.equal(labels[labels != IGNORE], ids[labels != IGNORE])
    assert torch.equal(corrupted[labels == IGNORE], ids[labels == IGNORE])  # unselected tokens stay


def test_padding_and_special_tokens_are_never_selected():
    ids = torch.randint(5, 50, (64, 40))
    ids[:, 0] = 2  # [CLS]
    mask = torch.arange(40)[None, :] < torch.randint(5, 40, (64, 1))
    ids[~mask] = 0
    corrupted, labels = mask_inputs(ids, mask, 0.5, mask_id=50, vocab_size=50, special_ids=[0, 1, 2, 3, 4])
    assert (labels[~mask] == IGNORE).all() and torch.equal(corrupted[~mask], ids[~mask])
    assert (labels[:, 0] == IGNORE).all() and (corrupted[:, 0] == 2).all()
    replaced = corrupted[(labels != IGNORE) & (corrupted != 50)]
    assert not torch.isin(replaced, torch.tensor([0, 1, 2, 3, 4])).any()  # random tokens are ordinary ones


def test_a_fresh_masked_lm_starts_at_ln_vocab():
    L.seed_everything(0)
    model = MaskedLM(vocab_size=100, transformer=TransformerConfig(d_model=64, n_heads=4, n_layers=2, max_len=64))
    ids = torch.randint(0, 100, (32, 64))
    corrupted, labels = model.mask_inputs(ids, None)
    loss = torch.nn.functional.cross_entropy(model(corrupted).flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
    assert loss.item() == pytest.approx(math.log(100), abs=0.1)


def test_the_training_loss_projects_only_the_masked_positions_and_equals_the_full_loss():
    """The step's loss (vocabulary logits of the selected positions only) equals the mean cross-entropy of
    the full (B, T, V) logits over the selected positions, in value and in every parameter's gradient."""
    L.seed_everything(0)
    model = MaskedLM(
        vocab_size=100, transformer=TransformerConfig(d_model=32, n_heads=4, n_layers=2, max_len=40, dropout=0.0)
    )
    ids = torch.randint(5, 100, (6, 40))
    mask = torch.arange(40)[None, :] < torch.tensor([[40], [31], [12], [40], [7], [25]])
    ids[~mask] = 0
    batch = {"input_ids": ids, "attention_mask": mask}

    torch.manual_seed(3)  # the same draw of masked positions in both
    step_loss = model.training_step(batch, 0)
    step_grads = torch.autograd.grad(step_loss, list(model.parameters()), allow_unused=True)
    torch.manual_seed(3)
    corrupted, labels = model.mask_inputs(ids, mask)
    full = torch.nn.functional.cross_entropy(
        model(corrupted, mask).flatten(0, 1), labels.flatten(), ignore_index=IGNORE
    )
    full_grads = torch.autograd.grad(full, list(model.parameters()), allow_unused=True)

    assert (labels != IGNORE).sum() > 10 and full.item() > 1.0
    torch.testing.assert_close(step_loss, full, rtol=1e-6, atol=1e-6)
    for name_param, a, b in zip(model.named_parameters(), step_grads, full_grads, strict=True):
        assert (a is None) == (b is None), name_param[0]
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name_param[0])


def test_pretrained_encoder_initialises_the_classifier_tensor_for_tensor(tmp_path):
    L.seed_everything(0)
    dm = IMDbSynthDataModule(train_size=256, val_size=64, test_size=64, batch_size=32)
    shape = {"d_model": 32, "n_heads": 4, "n_layers": 2, "max_len": 8}
    mlm = MaskedLM(vocab_size=dm.vocab_size, special_ids=dm.special_ids, transformer=TransformerConfig(**shape))
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path
    )
    trainer.fit(mlm, dm)
    ckpt = tmp_path / "mlm.ckpt"
    trainer.save_checkpoint(ckpt)

    encoder = ScratchEncoder(dm.vocab_size, transformer=TransformerConfig(**shape))
    loaded = load_mlm_encoder(encoder, str(ckpt))
    encoder_state = encoder.state_dict()
    assert loaded == len(encoder_state) == len([k for k in mlm.state_dict() if k.startswith("encoder.")])
    for name, value in encoder_state.items():
        expected = mlm.state_dict()[f"encoder.{name}"]
        torch.testing.assert_close(value, expected[: dm.vocab_size] if name == "tok_emb.weight" else expected)

    wrong = ScratchEncoder(dm.vocab_size, transformer=TransformerConfig(**{**shape, "d_model": 64}))
    with pytest.raises(ValueError, match="its encoder does not match this one"):
        load_mlm_encoder(wrong, str(ckpt))
