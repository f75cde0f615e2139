"""The cached encoder gives what its encoder computes, reads it back instead of recomputing, and is never
stale: another layout, other weights or another encoder in the same folder are told apart."""

from __future__ import annotations

import functools
import json

import pytest
import torch

from datamodules.preparation import write_atomically
from lab_errors import InputError
from layers.transformer import TransformerConfig
from networks.cached_encoder import CachedEncoder
from networks.classifier import EncoderClassifier
from networks.encoder_sources import ScratchEncoder
from networks.feature_store import FeatureStore
from networks.heads import BiGRUHead

VOCAB = 50
CONFIG = TransformerConfig(d_model=16, n_heads=2, n_layers=3, d_ff=32, max_len=32, dropout=0.3, norm="post")


def scratch(seed: int = 0):
    """A ScratchEncoder factory (vocab_size → encoder) with weights drawn from `seed`."""

    def build(vocab_size: int) -> ScratchEncoder:
        torch.manual_seed(seed)
        return ScratchEncoder(vocab_size, CONFIG)

    return build


def batch(lengths=(7, 12, 3, 12), width: int = 12, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), width), generator=generator)
    mask = torch.arange(width)[None] < torch.tensor(lengths)[:, None]
    return ids.masked_fill(~mask, 0), mask


def reference(ids, mask, seed: int = 0):
    encoder = scratch(seed)(VOCAB).eval()
    with torch.no_grad():
        return encoder(ids, mask)


def stored_files(store_dir) -> int:
    return len(list(store_dir.glob("??/*.npy")))


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-6), ("float16", 2e-3)])
def test_states_are_the_encoders_and_the_second_pass_reads_them_back(tmp_path, dtype, tolerance):
    encoder = CachedEncoder(VOCAB, scratch(), cache_dir=str(tmp_path / "cache"), dtype=dtype)
    ids, mask = batch()
    first = encoder(ids, mask)
    expected = reference(ids, mask)
    assert torch.allclose(first[mask], expected[mask], atol=tolerance, rtol=tolerance)
    assert (first[~mask] == 0).all()
    assert (encoder.hits, encoder.misses) == (0, 4)
    assert stored_files(tmp_path / "cache") == 4
    second = encoder(ids, mask)
    assert (encoder.hits, encoder.misses) == (4, 4)
    assert torch.equal(first, second)  # computed states are rounded through the stored dtype, as read later


def test_the_same_review_in_another_batch_and_padding_is_read_not_recomputed(tmp_path):
    encoder = CachedEncoder(VOCAB, scratch(), cache_dir=str(tmp_path), dtype="float32")
    ids, mask = batch(lengths=(5, 9), width=9)
    encoder(ids, mask)
    wider = torch.cat([ids, torch.zeros(2, 6, dtype=torch.long)], dim=1)[[1, 0]]  # reordered, more padding
    out = encoder(wider, torch.cat([mask, torch.zeros(2, 6, dtype=torch.bool)], dim=1)[[1, 0]])
    assert (encoder.hits, encoder.misses) == (2, 2)
    assert torch.allclose(out[1, :5], reference(ids, mask)[0, :5], atol=1e-6)


def test_a_batch_of_stored_and_new_reviews_computes_only_the_new_ones(tmp_path):
    encoder = CachedEncoder(VOCAB, scratch(), cache_dir=str(tmp_path), dtype="float32")
    ids, mask = batch()
    encoder(ids[:2], mask[:2])
    out = encoder(ids, mask)
    assert (encoder.hits, encoder.misses) == (2, 4)
    assert torch.allclose(out[mask], reference(ids, mask)[mask], atol=1e-6)


def test_the_same_ids_at_other_positions_are_another_entry(tmp_path):
    """Learned positions make a left-padded review's states differ from the right-padded one's."""
    encoder = CachedEncoder(VOCAB, scratch(), cache_dir=str(tmp_path), dtype="float32")
    ids, mask = batch(lengths=(4,), width=6)
    right = encoder(ids, mask)
    left_ids, left_mask = ids.roll(2, dims=1), mask.roll(2, dims=1)
    left = encoder(left_ids, left_mask)
    assert encoder.misses == 2
    assert torch.allclose(left[left_mask], reference(left_ids, left_mask)[left_mask], atol=1e-6)
    assert not torch.allclose(left[left_mask], right[mask], atol=1e-3)


def test_the_cached_part_stays_frozen_and_deterministic_in_training_mode(tmp_path):
    encoder = CachedEncoder(VOCAB, scratch(), cache_dir=str(tmp_path), dtype="float32").train()
    encoder.requires_grad_(True)
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.encoder.training
    ids, mask = batch()
    assert torch.allclose(encoder(ids, mask)[mask], reference(ids, mask)[mask], atol=1e-6)  # dropout off


def test_top_layers_run_live_over_cached_lower_layers_with_the_full_encoders_values_and_gradients(tmp_path):
    ids, mask = batch()
    cached = CachedEncoder(VOCAB, scratch(), uncached_layers=1, cache_dir=str(tmp_path), dtype="float32").eval()
    full = scratch()(VOCAB).eval()
    full.requires_grad_(False)
    full.blocks[2].requires_grad_(True)
    for _ in range(2):  # computed, then read back
        ours, theirs = cached(ids, mask), full(ids, mask)
        assert torch.allclose(ours[mask], theirs[mask], atol=1e-5)
        weights = torch.randn_like(theirs) * mask[..., None]
        grads = torch.autograd.grad((ours * weights).sum(), list(cached.encoder.blocks[2].parameters()))
        expected = torch.autograd.grad((theirs * weights).sum(), list(full.blocks[2].parameters()))
        for got, want in zip(grads, expected, strict=True):
            assert torch.allclose(got, want, atol=1e-5)
    trainable = {name for name, p in cached.named_parameters() if p.requires_grad}
    assert trainable == {f"encoder.blocks.2.{name}" for name, _ in full.blocks[2].named_parameters()}
    cached.train()
    assert cached.encoder.blocks[2].training and not cached.encoder.blocks[1].training


def test_a_folder_of_another_encoders_states_is_refused_in_one_line(tmp_path):
    ids, mask = batch()
    CachedEncoder(VOCAB, scratch(seed=0), cache_dir=str(tmp_path))(ids, mask)
    other = CachedEncoder(VOCAB, scratch(seed=1), cache_dir=str(tmp_path))
    with pytest.raises(InputError, match=r"made by another encoder.*weights_sha256.*give another cache_dir") as err:
        other(ids, mask)
    assert "\n" not in str(err.value)
    deeper = CachedEncoder(VOCAB, scratch(seed=0), uncached_layers=1, cache_dir=str(tmp_path))
    with pytest.raises(InputError, match="cached_layers"):
        deeper(ids, mask)


def test_the_default_folder_is_named_by_the_weights_and_new_weights_get_their_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids, mask = batch()
    encoder = CachedEncoder(VOCAB, scratch(seed=0))
    encoder(ids, mask)
    encoder.load_state_dict(CachedEncoder(VOCAB, scratch(seed=1)).state_dict())
    out = encoder(ids, mask)
    folders = sorted((tmp_path / ".cache/features").iterdir())
    assert [f.name.split("-")[0] for f in folders] == ["scratchencoder", "scratchencoder"]
    digests = {json.loads((f / "manifest.json").read_text())["weights_sha256"] for f in folders}
    assert len(digests) == 2
    assert encoder.misses == 8  # nothing of the first weights was read for the second
    assert torch.allclose(out[mask], reference(ids, mask, seed=1)[mask], atol=2e-3)


def test_bad_settings_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="uncached_layers must be between 0 and 2"):
        CachedEncoder(VOCAB, scratch(), uncached_layers=3)
    with pytest.raises(InputError, match="dtype must be one of"):
        CachedEncoder(VOCAB, scratch(), dtype="bfloat16")


def test_an_interrupted_write_leaves_no_file(tmp_path):
    def fail(file):
        file.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "ab" / "x.npy", fail)
    assert list((tmp_path / "ab").iterdir()) == []
    store = FeatureStore.open(tmp_path / "store", {"encoder": "E", "width": 4, "dtype": "float16"})
    assert store.get("00" * 16) is None


def test_a_frozen_classifier_over_the_cache_trains_its_head_only(tmp_path):
    encoder = functools.partial(CachedEncoder, encoder=scratch(), cache_dir=str(tmp_path))
    model = EncoderClassifier(VOCAB, 0, 2, encoder, functools.partial(BiGRUHead, hidden_size=8), frozen=True).train()
    ids, mask = batch()
    torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 1, 0, 1])).backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert all(p.grad is None for p in model.encoder.parameters())
    assert stored_files(tmp_path) == 4
