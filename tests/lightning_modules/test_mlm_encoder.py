"""A MaskedLM checkpoint as a classifier's encoder: every encoder tensor transferred, predictions surviving a
save/load round trip, and checkpoints of the wrong kind refused in one line."""

import functools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from lab_errors import InputError, MissingInputError
from layers.transformer import TransformerConfig, TransformerEncoder
from lightning_modules.classifier import TextClassifier
from lightning_modules.masked_lm import MaskedLM
from lightning_modules.mlm_encoder import MaskedLMEncoder, load_mlm_encoder
from networks.classifier import EncoderClassifier
from networks.encoder_sources import ScratchEncoder
from networks.heads import BiGRUHead, PooledHead
from tests.lightning_modules.harness import ClassifierHarness, labelled_batches

VOCAB = 40
SHAPE = {"d_model": 32, "n_heads": 4, "n_layers": 2, "max_len": 16}


def fit_one_step(module, folder, checkpoint=None):
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=checkpoint is not None,
        callbacks=[checkpoint] if checkpoint else None,
        limit_val_batches=0,
        default_root_dir=folder,
    )
    trainer.fit(module, DataLoader(labelled_batches(VOCAB, 4), batch_size=None))
    return trainer


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory):
    """A MaskedLM trained one step, in a run folder runs/mlm/tiny/version_0 as the CLI lays it out."""
    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    mlm = MaskedLM(vocab_size=VOCAB, special_ids=[0], transformer=TransformerConfig(**SHAPE))
    checkpoints = root / "mlm" / "tiny" / "version_0" / "checkpoints"
    fit_one_step(mlm, root, ModelCheckpoint(dirpath=checkpoints, filename="best", save_last=True))
    return mlm, checkpoints / "best.ckpt", root / "mlm" / "tiny"


def test_every_encoder_tensor_is_loaded_without_the_mask_row(mlm_run):
    mlm, ckpt, _ = mlm_run
    encoder = MaskedLMEncoder(VOCAB, str(ckpt))
    expected = {k.removeprefix("encoder."): v for k, v in mlm.state_dict().items() if k.startswith("encoder.")}
    assert encoder.loaded_tensors == len(encoder.state_dict()) == len(expected) > 10
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(value, expected[name][:VOCAB] if name == "tok_emb.weight" else expected[name])
    assert encoder.tok_emb.num_embeddings == VOCAB  # [MASK] dropped
    assert encoder.width == 32 and encoder.config.n_layers == 2


def test_an_experiment_folder_means_its_best_checkpoint_and_overrides_apply(mlm_run, tmp_path):
    mlm, ckpt, experiment = mlm_run
    from_folder = MaskedLMEncoder(VOCAB, str(experiment), dropout=0.0, attn_impl="sdpa")
    assert from_folder.checkpoint_file == str(ckpt)
    # A run that stopped before recording a best checkpoint: its last one.
    (tmp_path / "version_3" / "checkpoints").mkdir(parents=True)
    last = tmp_path / "version_3" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["callbacks"] = {}
    torch.save(checkpoint, last)
    assert MaskedLMEncoder(VOCAB, str(tmp_path)).checkpoint_file == str(last)
    assert from_folder.config.dropout == 0.0 and from_folder.config.attn_impl == "sdpa"
    torch.testing.assert_close(from_folder.tok_emb.weight, mlm.encoder.tok_emb.weight[:VOCAB])


def test_load_mlm_encoder_fills_an_encoder_built_elsewhere(mlm_run):
    mlm, ckpt, _ = mlm_run
    encoder = TransformerEncoder(TransformerConfig(vocab_size=VOCAB, **SHAPE))
    assert load_mlm_encoder(encoder, str(ckpt)) == len(encoder.state_dict())
    torch.testing.assert_close(encoder.blocks[1].ff.linear2.weight, mlm.encoder.blocks[1].ff.linear2.weight)
    wider = TransformerEncoder(TransformerConfig(vocab_size=VOCAB, **{**SHAPE, "d_model": 64}))
    with pytest.raises(InputError, match="its encoder does not match this one"):
        load_mlm_encoder(wider, str(ckpt))


def test_predictions_survive_a_save_load_round_trip(mlm_run, tmp_path):
    _, ckpt, _ = mlm_run
    backbone = functools.partial(
        EncoderClassifier,
        encoder=functools.partial(MaskedLMEncoder, checkpoint=str(ckpt)),
        head=functools.partial(BiGRUHead, hidden_size=8, num_layers=1),
        frozen=True,
    )
    trained = ClassifierHarness(backbone, VOCAB)
    trainer = fit_one_step(trained, tmp_path)
    trainer.save_checkpoint(tmp_path / "classifier.ckpt")

    restored = ClassifierHarness(backbone, VOCAB)
    batch = next(iter(labelled_batches(VOCAB, 1)))
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        before = restored.eval()(ids, mask)
        state = torch.load(tmp_path / "classifier.ckpt", weights_only=True)["state_dict"]
        restored.load_state_dict(state)
        after = restored(ids, mask)
        assert not torch.allclose(before, after)  # the head was trained: a fresh one differs
        torch.testing.assert_close(after, trained.eval()(ids, mask))


def test_a_vocabulary_other_than_pretraining_fails_in_one_line(mlm_run):
    _, ckpt, _ = mlm_run
    with pytest.raises(InputError, match=r"pretrained on 40 token ids, the data module has 41: .*same tokenizer"):
        MaskedLMEncoder(VOCAB + 1, str(ckpt))


def test_checkpoints_of_another_task_and_missing_runs_fail_in_one_line(tmp_path):
    backbone = functools.partial(
        EncoderClassifier,
        encoder=functools.partial(ScratchEncoder, transformer=TransformerConfig(**SHAPE)),
        head=PooledHead,
    )
    classifier = TextClassifier(backbone, vocab_size=VOCAB)
    trainer = fit_one_step(classifier, tmp_path)
    trainer.save_checkpoint(tmp_path / "classifier.ckpt")
    with pytest.raises(InputError, match=r"classifier\.ckpt is a checkpoint of TextClassifier, not of a MaskedLM"):
        MaskedLMEncoder(VOCAB, str(tmp_path / "classifier.ckpt"))
    (tmp_path / "experiment" / "version_0").mkdir(parents=True)
    with pytest.raises(MissingInputError, match="no run in it has a checkpoint"):
        MaskedLMEncoder(VOCAB, str(tmp_path / "experiment"))
    with pytest.raises(MissingInputError, match="no such checkpoint file"):
        MaskedLMEncoder(VOCAB, str(tmp_path / "nothing.ckpt"))
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="is not a PyTorch checkpoint"):
        MaskedLMEncoder(VOCAB, str(tmp_path / "notes.txt"))
