"""Writing checkpoints: a full disk mid-run is one line naming the file, and the checkpoints before it stay whole."""

import errno
from pathlib import Path

import pytest
import torch

from lightning_modules import checkpoints
from lightning_modules.checkpoints import AtomicCheckpointIO
from lightning_modules.cli import main

ROOT = Path(__file__).resolve().parents[2]
XOR = str(ROOT / "configs/xor/transformer.yaml")
SMALL = ["--data.init_args.train_size", "256", "--data.init_args.val_size", "128",
         "--data.init_args.test_size", "64", "--trainer.enable_progress_bar", "false"]  # fmt: skip


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_one_line_that_keeps_the_checkpoint_before_it(code, tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "checkpoints/last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, target)

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(code, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", disk_full)
    with pytest.raises(checkpoints.DiskFullError) as info:
        io.save_checkpoint({"step": torch.tensor(2)}, target)
    assert str(info.value) == (
        f"no space left to write {target} (No space left on device): the previous last.ckpt is intact, as are the "
        "run's other checkpoints; free space on its disk, then resume with --ckpt_path last"
    )
    assert isinstance(info.value, OSError) and info.value.errno == code  # still the OSError it was
    with pytest.raises(checkpoints.DiskFullError, match="nothing was written under that name"):
        io.save_checkpoint({"step": torch.tensor(2)}, tmp_path / "checkpoints/new.ckpt")
    monkeypatch.undo()
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]
    assert torch.load(target, weights_only=True)["step"] == 1


def test_other_os_errors_keep_their_traceback(tmp_path, monkeypatch):
    def unreadable(obj, f, *args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(checkpoints.torch, "save", unreadable)
    with pytest.raises(OSError) as info:
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "a.ckpt")
    assert type(info.value) is OSError and info.value.errno == errno.EIO


def test_a_disk_that_fills_during_training_ends_in_one_line(cli_in_tmp_path, monkeypatch, capsys):
    """The first epoch's checkpoints are written, the disk is full by the second's: train.py says so in one
    line and exits with 2, and the first epoch's last.ckpt is whole."""
    real_save, saved = torch.save, []

    def fills_up(obj, f, *args, **kwargs):
        if len(saved) == 2:  # best-epoch000.ckpt and last.ckpt fitted
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(obj["epoch"])
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", fills_up)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "2"])
    monkeypatch.setattr(checkpoints.torch, "save", real_save)  # not undo(): that would leave cli_in_tmp_path
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2, err  # the line, then the LAB_DEBUG hint
    folder = Path("runs/xor/transformer/version_0/checkpoints")  # as Lightning names it: from the working folder
    assert err[0].startswith(f"error: no space left to write {folder}/"), err
    assert "free space on its disk" in err[0]
    assert sorted(p.name for p in folder.iterdir()) == ["best-epoch000.ckpt", "last.ckpt"]  # no partial file
    assert torch.load(folder / "last.ckpt", weights_only=False)["epoch"] == 0
