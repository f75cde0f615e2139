"""The datamodules package resolves its names on first use: a corpus's module brings only what it needs."""

import subprocess
import sys

import pytest

import datamodules


def test_the_toy_language_models_do_not_import_datasets():
    # `datasets` costs about 0.5 s of start-up and only the classification corpora use it.
    probe = "import sys, datamodules, datamodules.toy_grammar, datamodules.lm_corpora; print('datasets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", datamodules.__all__)
def test_every_exported_name_resolves_to_its_module_s_object(name):
    value = getattr(datamodules, name)
    home = sys.modules[f"datamodules.{datamodules._HOMES[name]}"]
    assert value is getattr(home, name)
    assert name in dir(datamodules)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'IMDB'"):
        datamodules.IMDB  # noqa: B018
