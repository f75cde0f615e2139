"""How the checkpoints beside this file were made: by the code before the consolidation, not by today's.

    git worktree add /tmp/old 02dabc0
    cd /tmp/old && python /path/to/make_legacy_checkpoints.py /path/to/this/folder [case ...]

Each case trains a tiny model of an old class for three steps through the old LabCLI, then saves its last
checkpoint (optimiser state dropped, to keep the files small) and the old model's outputs on fixed ids
(`<case>.outputs.pt`), which the converted checkpoint must reproduce (test_legacy_checkpoints.py).
"""

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, ".")
from lightning_modules.cli import LabCLI

OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
COMMON = [
    "--trainer.max_steps",
    "3",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.enable_progress_bar",
    "false",
    "--seed_everything",
    "0",
    "--trainer.logger.init_args.save_dir",
    tempfile.mkdtemp(),
]
SMALL = ["--model.init_args.d_model", "8"]
cases = {
    "sequence_classifier_none": ("configs/xor/baseline.yaml", SMALL),
    "sequence_classifier_simple_attention": ("configs/xor/simple_attention.yaml", SMALL),
    "sequence_classifier_attention": ("configs/xor/attention_pos.yaml", [*SMALL, "--model.init_args.n_heads", "2"]),
    "sequence_classifier_transformer": (
        "configs/xor/transformer.yaml",
        [*SMALL, "--model.init_args.n_heads", "2", "--model.init_args.n_layers", "1"],
    ),
    "transformer_classifier": (str(Path(__file__).parent / "xor_transformer_classifier.yaml"), []),
    "causal_lm": (
        "configs/toy_lm/transformer.yaml",
        [
            *SMALL,
            "--model.init_args.n_heads",
            "2",
            "--model.init_args.n_layers",
            "1",
            "--model.init_args.max_len",
            "16",
            "--data.init_args.seq_len",
            "16",
            "--data.init_args.batches_per_epoch",
            "3",
            "--data.init_args.last_token_batches",
            "1",
        ],
    ),
    "masked_lm": (
        "configs/mlm/toy_grammar.yaml",
        [
            *SMALL,
            "--model.init_args.n_heads",
            "2",
            "--model.init_args.n_layers",
            "1",
            "--model.init_args.max_len",
            "16",
            "--data.init_args.seq_len",
            "16",
            "--data.init_args.batches_per_epoch",
            "3",
            "--checkpoint.monitor",
            "val/loss/dataloader_idx_0",
        ],
    ),
}
for name, (config, extra) in cases.items():
    if len(sys.argv) > 2 and name not in sys.argv[2:]:
        continue
    cli = LabCLI(args=["fit", "--config", config, *COMMON, *extra])
    ckpt = Path(cli.trainer.checkpoint_callback.last_model_path)
    model = type(cli.model).load_from_checkpoint(ckpt, weights_only=False).eval()
    torch.manual_seed(1)
    vocab = model.hparams.get("vocab_size") or 10
    lm = name in ("causal_lm", "masked_lm")
    ids = torch.randint(1, vocab, (3, 16 if lm else 2))
    with torch.no_grad():
        out = model(ids)
    c = torch.load(ckpt, weights_only=False)
    c.pop("optimizer_states", None)
    c.pop("lr_schedulers", None)  # keep the fixture small
    torch.save(c, OUT / f"{name}.ckpt")
    torch.save({"input_ids": ids, "output": out}, OUT / f"{name}.outputs.pt")
    print(name, ckpt, tuple(out.shape), c["hyper_parameters"].get("_class_path"))
