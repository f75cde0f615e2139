"""The data's texts against the model's positions: checked when training starts, not linked.

A model's `max_len` (how many positions it has) and its data module's (where texts are cut) are two settings;
the model's may be larger (a language model samples beyond its training slices, an encoder pretrained for longer
texts is fine-tuned on shorter ones), never smaller, or the first long batch fails inside the position
embedding. Each LightningModule calls this from `setup`, so a mismatch is one line before the first step.
"""

from __future__ import annotations

from lab_errors import InputError


def check_lengths(data_max_len: int | None, model_max_len: int | None) -> None:
    """The data's texts must fit the network's positions: an InputError naming both settings otherwise."""
    if model_max_len is None or data_max_len is None:  # unbounded, or texts of the data's own fixed length
        return
    if data_max_len > model_max_len:
        raise InputError(
            f"the data module's max_len ({data_max_len}) is longer than the network reads (its positions' "
            f"max_len is {model_max_len}): set the data's max_len to at most {model_max_len}, or the encoder's "
            "max_len higher"
        )
