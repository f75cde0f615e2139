"""GloVe-format vectors into an embedding: values, missing words, errors."""

import codecs

import pytest
import torch
from torch import nn

from networks.word_vectors import load_word_vectors, read_word_vectors
from tests.fixtures import write_glove


@pytest.mark.parametrize("name", ["vectors.txt", "vectors.txt.gz"])
def test_vectors_are_read_for_the_vocabulary_and_missing_words_are_counted(tmp_path, name):
    path = write_glove(tmp_path / name, ["the", "good", "bad"], dim=4)
    vectors, found = read_word_vectors(path, ["[PAD]", "good", "Bad", "unseen"])
    assert found.tolist() == [False, True, True, False]  # "Bad" matches "bad" in lower case
    line = path.read_bytes()
    if name.endswith(".gz"):
        import gzip

        line = gzip.decompress(line)
    good = [float(v) for v in line.decode().splitlines()[1].split()[1:]]
    torch.testing.assert_close(vectors[1], torch.tensor(good))
    assert (vectors[3] == 0).all()

    embedding = nn.Embedding(4, 4, padding_idx=0)
    report = load_word_vectors(embedding, path, ["[PAD]", "good", "Bad", "unseen"], skip={0})
    assert (report.found, report.total) == (2, 3) and report.missing_examples == ["unseen"]
    assert "2 of 3 vocabulary words found" in str(report)
    torch.testing.assert_close(embedding.weight[1], torch.tensor(good))
    assert (embedding.weight[0] == 0).all() and embedding.weight[3].abs().sum() > 0


def test_mismatched_width_and_malformed_files_are_errors(tmp_path):
    path = write_glove(tmp_path / "v.txt", ["good"], dim=4)
    with pytest.raises(ValueError, match="4-d vectors but the embedding is 8-d: set d_model to 4"):
        load_word_vectors(nn.Embedding(2, 8), path, ["[PAD]", "good"])
    bad = tmp_path / "bad.txt"
    bad.write_text("good 0.1 0.2\nbad 0.1 x\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: not a word followed by numbers"):
        read_word_vectors(bad, ["good", "bad"])
    with pytest.raises(ValueError, match="none of the 1 vocabulary words"):
        read_word_vectors(path, ["zebra"])
    with pytest.raises(FileNotFoundError, match="word vectors not found"):
        read_word_vectors(tmp_path / "missing.txt", ["good"])


def test_a_byte_order_mark_does_not_hide_the_first_word(tmp_path):
    plain = tmp_path / "glove.txt"
    plain.write_text("the 0.5 -1.0\nfilm 2.0 0.25\n")
    marked = tmp_path / "marked.txt"
    marked.write_bytes(codecs.BOM_UTF8 + plain.read_bytes())
    vectors, found = read_word_vectors(marked, ["the", "film"])
    assert found.tolist() == [True, True] and vectors.tolist() == [[0.5, -1.0], [2.0, 0.25]]
