"""docs/walkthrough.md runs as written: its Python blocks are executed in order, in one namespace.

Slow-marked: CI runs the same blocks as the walkthrough notebook (`python -m programs.notebooks run`, built from
this page), whose cells hold the same assertions; this test is the quick way to run them under pytest.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "docs/walkthrough.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.S | re.M)


@pytest.mark.slow
def test_the_walkthrough_runs_as_written(cli_in_tmp_path, capsys):
    (cli_in_tmp_path / "configs").symlink_to(ROOT / "configs")  # its commands run from the repository root
    blocks = python_blocks(WALKTHROUGH.read_text())
    assert len(blocks) == 5
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{WALKTHROUGH.name}, Python block {number}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "hand-built attention matches nn.MultiheadAttention" in out and "val/acc" in out
