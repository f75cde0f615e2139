"""The encoder of this lab's MaskedLM checkpoints, as an encoder source for classifiers
(networks/encoder_sources.py describes the sources; this one reads a Lightning checkpoint, so it lives here).

A MaskedLM (lightning_modules/masked_lm.py) keeps a TransformerEncoder under `encoder.` over vocab_size + 1
token embeddings, the last one [MASK]. The classifier's encoder is rebuilt from the checkpoint's saved
hyperparameters, every encoder tensor is loaded strictly, and the [MASK] row is dropped: fine-tuning
text never contains [MASK].
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from lab_errors import InputError, MissingInputError
from layers.attention import AttentionImpl
from layers.transformer import TransformerConfig, TransformerEncoder
from lightning_modules.checkpoints import check_task, find_checkpoint, read_checkpoint
from lightning_modules.masked_lm import MaskedLM
from networks.encoder_sources import check_vocabulary

ENCODER_PREFIX = "encoder."


def resolve_checkpoint(path: str) -> Path:
    """A checkpoint file as given, or for an experiment folder (runs/<task>/<experiment>) the best checkpoint
    of its newest run, or that run's last.ckpt when it stopped before recording a best one."""
    folder = Path(path).expanduser()
    if not folder.is_dir() or not any(folder.glob("version_*")):
        return folder  # read_checkpoint says what is wrong with anything that is not a checkpoint file
    found = find_checkpoint(folder, "best") or find_checkpoint(folder, "last")
    if found is None:
        raise MissingInputError(f"{folder}: no run in it has a checkpoint (version_*/checkpoints/last.ckpt)")
    rank_zero_info(f"{folder}: the encoder of {found}")
    return found


def masked_lm_state(path: str) -> tuple[Path, dict[str, Any], dict[str, Tensor]]:
    """(the checkpoint file, the MaskedLM's hyperparameters, its encoder tensors without the prefix), or an
    InputError naming the file when it is not a MaskedLM checkpoint."""
    file = resolve_checkpoint(path)
    checkpoint = read_checkpoint(file)
    check_task(file, checkpoint, MaskedLM)
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    weights = {
        k.removeprefix(ENCODER_PREFIX): v for k, v in checkpoint["state_dict"].items() if k.startswith(ENCODER_PREFIX)
    }
    if "tok_emb.weight" not in weights or "vocab_size" not in hparams or "transformer" not in hparams:
        raise InputError(f"{file} is a MaskedLM checkpoint without its encoder or its transformer config")
    return file, hparams, weights


def load_mlm_encoder(encoder: TransformerEncoder, path: str) -> int:
    """Copy a MaskedLM checkpoint's encoder into `encoder`, every tensor, strictly; its [MASK] embedding
    row (the last) is dropped. Returns how many tensors were loaded."""
    file, _, weights = masked_lm_state(path)
    return copy_encoder_weights(encoder, file, weights)


def copy_encoder_weights(encoder: TransformerEncoder, file: Path, weights: dict[str, Tensor]) -> int:
    vocab = encoder.tok_emb.num_embeddings
    check_vocabulary(str(file), weights["tok_emb.weight"].shape[0] - 1, vocab)
    weights["tok_emb.weight"] = weights["tok_emb.weight"][:vocab]
    try:
        encoder.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise InputError(
            f"{file}: its encoder does not match this one (d_model, n_heads, n_layers, max_len, positions and "
            f"norm must agree): {str(err).strip().splitlines()[0]}"
        ) from err
    return len(weights)


class MaskedLMEncoder(TransformerEncoder):
    """The TransformerEncoder of a MaskedLM checkpoint: `checkpoint` a .ckpt file, or an experiment folder
    such as runs/mlm/imdb (its newest run's best checkpoint, else its last). Its shape comes from the checkpoint's
    hyperparameters; `dropout` and `attn_impl` may differ from pretraining's (None: keep them)."""

    def __init__(
        self,
        vocab_size: int,
        checkpoint: str,
        dropout: float | None = None,
        attn_impl: AttentionImpl | None = None,
    ) -> None:
        file, hparams, weights = masked_lm_state(checkpoint)
        check_vocabulary(str(file), hparams["vocab_size"], vocab_size)
        overrides = {k: v for k, v in {"dropout": dropout, "attn_impl": attn_impl}.items() if v is not None}
        pretrained = TransformerConfig.coerce({**hparams["transformer"], "vocab_size": None})
        config = replace(pretrained, **overrides).with_vocab_size(vocab_size)
        super().__init__(config)
        self.loaded_tensors = copy_encoder_weights(self, file, weights)
        self.checkpoint_file = str(file)
        self.width, self.max_len = config.d_model, config.max_len

    def extra_repr(self) -> str:
        return f"checkpoint={self.checkpoint_file!r}, loaded_tensors={self.loaded_tensors}"
