"""Checkpoints written by the classes the consolidation replaced convert to today's and compute what they did.

The files in legacy_checkpoints/ were written by the old code itself (make_legacy_checkpoints.py says how), with
the old model's outputs on fixed ids beside each; a converted checkpoint must load through load_model and give
those outputs again, to float precision.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lab_errors import InputError
from lightning_modules.causal_lm import CausalLM
from lightning_modules.checkpoints import read_checkpoint
from lightning_modules.classifier import TextClassifier
from lightning_modules.legacy_checkpoints import is_legacy, main, upgrade
from lightning_modules.loading import load_model
from lightning_modules.masked_lm import MaskedLM

FIXTURES = Path(__file__).parent / "legacy_checkpoints"
CASES = {
    "sequence_classifier_none": TextClassifier,
    "sequence_classifier_simple_attention": TextClassifier,
    "sequence_classifier_attention": TextClassifier,
    "sequence_classifier_transformer": TextClassifier,
    "transformer_classifier": TextClassifier,
    "causal_lm": CausalLM,
    "masked_lm": MaskedLM,
}


@pytest.mark.parametrize("case", CASES)
def test_an_old_checkpoint_is_refused_in_one_line_naming_the_conversion(case):
    with pytest.raises(InputError, match="legacy_checkpoints") as caught:
        load_model(FIXTURES / f"{case}.ckpt", CASES[case])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("case", CASES)
def test_the_converted_checkpoint_computes_what_the_old_model_did(case, tmp_path, capsys):
    new = tmp_path / f"{case}.ckpt"
    main([str(FIXTURES / f"{case}.ckpt"), str(new)])
    assert "→" in capsys.readouterr().out

    model = load_model(new, CASES[case])
    reference = torch.load(FIXTURES / f"{case}.outputs.pt", weights_only=True)
    with torch.no_grad():
        output = model(reference["input_ids"])
    torch.testing.assert_close(output, reference["output"], rtol=1e-5, atol=1e-6)
    assert not is_legacy(read_checkpoint(new))


def test_the_sequence_classifier_ladder_becomes_an_encoder_and_a_head():
    old = read_checkpoint(FIXTURES / "sequence_classifier_attention.ckpt")
    new = upgrade(old)
    backbone = new["hyper_parameters"]["backbone"]
    assert new["hyper_parameters"]["_class_path"] == "lightning_modules.classifier.TextClassifier"
    assert backbone["class_path"] == "networks.classifier.EncoderClassifier"
    encoder = backbone["init_args"]["encoder"]
    assert encoder["init_args"]["mixer"]["class_path"] == "layers.attention.MultiHeadAttention"
    assert encoder["init_args"]["positions"] == "learned"
    assert all(key.startswith("network.") for key in new["state_dict"])
    # Same tensors, new names: nothing dropped, nothing copied.
    assert len(new["state_dict"]) == len(old["state_dict"])
    assert {id(t) for t in new["state_dict"].values()} == {id(t) for t in old["state_dict"].values()}


def test_the_flat_lm_arguments_become_one_transformer_config():
    new = upgrade(read_checkpoint(FIXTURES / "causal_lm.ckpt"))["hyper_parameters"]
    assert new["transformer"]["d_model"] == 8 and new["transformer"]["n_heads"] == 2
    assert "d_model" not in new and "n_layers" not in new


def test_a_current_checkpoint_needs_no_conversion(tmp_path):
    new = tmp_path / "new.ckpt"
    main([str(FIXTURES / "transformer_classifier.ckpt"), str(new)])
    with pytest.raises(SystemExit) as caught:
        main([str(new), str(tmp_path / "again.ckpt")])
    assert caught.value.code == 2
    assert not (tmp_path / "again.ckpt").exists()


def test_the_conversion_never_writes_over_the_old_file(tmp_path):
    old = tmp_path / "old.ckpt"
    old.write_bytes((FIXTURES / "causal_lm.ckpt").read_bytes())
    with pytest.raises(SystemExit):
        main([str(old), str(old)])
    assert old.read_bytes() == (FIXTURES / "causal_lm.ckpt").read_bytes()
