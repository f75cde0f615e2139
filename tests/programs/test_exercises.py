"""lab-exercises: the student copy, its stubs, and the autograder's scores (programs/exercises.py).

Every grade runs as a command of its own: the grader forks its children from a process that must not have
imported the reference layers, which this test process has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from programs import exercises as ex

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ex.load_registry()
BY_NAME = {e.name: e for e in REGISTRY}


def lab_exercises(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "programs.exercises", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def replace_body(path: Path, qualname: str, body: list[str]) -> None:
    """A student's implementation: the function's region holds `body` (lines at the region's indentation)."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    begin, end = ex.region_span(lines, *ex.function_span(text, qualname), qualname)
    indent = lines[begin][: ex.indent_of(lines[begin])]
    lines[begin + 1 : end] = [f"{indent}{line}\n" for line in body]
    path.write_text("".join(lines))


def scores(stdout: str) -> dict[str, str]:
    """{exercise: 'score status'} from grade's per-exercise lines."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in BY_NAME:
            rows[parts[0]] = f"{parts[1]} {' '.join(parts[2:-2])}"
    return rows


@pytest.fixture(scope="module")
def stub_copy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "copy"
    done = lab_exercises("copy", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_the_registry_names_real_functions_with_regions_and_existing_tests():
    for e in REGISTRY:
        text = (ROOT / e.file).read_text()
        lines = text.splitlines(keepends=True)
        for qualname in e.functions:
            span = ex.function_span(text, qualname)
            assert span is not None, (e.name, qualname)
            begin, _ = ex.region_span(lines, *span, qualname)
            assert lines[begin + 1].strip().startswith(ex.HINT), (e.name, qualname)
        for node in e.tests:
            file, name = node.split("::")
            assert f"def {name}(" in (ROOT / file).read_text(), node


def test_the_copy_stubs_every_region_and_still_imports(stub_copy):
    assert json.loads((stub_copy / ex.MARKER).read_text())["exercises"] == [e.name for e in REGISTRY]
    for e in REGISTRY:
        text = (stub_copy / e.file).read_text()
        lines = text.splitlines()
        for qualname in e.functions:
            begin, end = ex.region_span(lines, *ex.function_span(text, qualname), qualname)
            hint, stub = (ln.strip() for ln in lines[begin + 1 : end])
            assert hint.startswith(ex.HINT) and stub.startswith("raise NotImplementedError("), (e.name, qualname)
    script = (
        "import layers, networks, datamodules, lightning_modules, train\n"
        "import torch\n"
        "from layers import LayerNorm\n"
        "try:\n"
        "    LayerNorm(4)(torch.zeros(2, 4))\n"
        "except NotImplementedError as err:\n"
        "    print('stub:', err)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=stub_copy, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stub: return (x − mean)/√(var + eps)·γ + β")


@pytest.mark.slow  # suite time: long; CI runs the default suite
def test_one_restored_region_scores_exactly_it_and_a_loop_or_a_crash_loses_only_its_own(stub_copy, tmp_path):
    copy = tmp_path / "copy"
    assert lab_exercises("copy", str(copy)).returncode == 0
    assert lab_exercises("restore", str(copy), "--exercise", "layer_norm").returncode == 0
    replace_body(copy / "layers/attention.py", "SimpleSelfAttention.forward", ["while True:", "    pass"])
    replace_body(copy / "layers/position.py", "sinusoidal_table", ["import os", "", "os._exit(3)"])
    results = tmp_path / "results.json"
    names = ["simple_self_attention", "self_attention", "layer_norm", "sinusoidal_positions"]  # the registry's order
    args = [arg for name in names for arg in ("--exercise", name)]
    done = lab_exercises("grade", str(copy), *args, "--timeout", "12", "--results", str(results))
    assert done.returncode == 0, done.stderr
    assert scores(done.stdout) == {
        "layer_norm": "1/1 passed",
        "simple_self_attention": "0/1 timed out",
        "sinusoidal_positions": "0/1 crashed",
        "self_attention": "0/1 failed",
    }, done.stdout
    assert "score: 1 of 4" in done.stdout
    # Gradescope's fields, with their types.
    data = json.loads(results.read_text())
    assert isinstance(data["score"], float) and data["score"] == 1.0
    assert isinstance(data["execution_time"], float) and data["execution_time"] > 0
    assert data["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert [t["name"] for t in data["tests"]] == names
    for t in data["tests"]:
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
        assert isinstance(t["output"], str) and t["status"] in ("passed", "failed")
        assert t["visibility"] == "visible" and isinstance(t["number"], str)
    assert "12 s limit" in data["tests"][0]["output"]
    assert "NotImplementedError" in data["tests"][1]["output"]


def test_bad_input_is_one_line_and_exit_2(stub_copy, tmp_path):
    unknown = lab_exercises("copy", str(tmp_path / "x"), "--exercise", "attenton")
    taken = tmp_path / "notes"
    taken.mkdir()
    (taken / "mine.txt").write_text("not a copy")
    occupied = lab_exercises("copy", str(taken))
    broken = tmp_path / "broken"
    assert lab_exercises("copy", str(broken), "--exercise", "layer_norm").returncode == 0
    norm = broken / "layers/norm.py"
    norm.write_text(norm.read_text().replace("    def forward(self, x: Tensor)", "    def fwd(self, x: Tensor)"))
    missing = lab_exercises("grade", str(broken), "--results", str(tmp_path / "r.json"))
    for done, words in (
        (unknown, "unknown exercise 'attenton'"),
        (occupied, "exists and is not a previous student copy"),
        (missing, "no longer has the function LayerNorm.forward"),
    ):
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: {words}") or words in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert (taken / "mine.txt").exists()
    # A previous copy is replaced.
    again = lab_exercises("copy", str(broken), "--exercise", "layer_norm")
    assert again.returncode == 0 and "def forward(self, x: Tensor)" in norm.read_text()


def test_the_copy_restored_region_by_region_trains_xor(tmp_path):
    copy = tmp_path / "copy"
    assert lab_exercises("copy", str(copy)).returncode == 0
    for e in REGISTRY:
        before = (copy / e.file).read_text()
        ex.restore(ROOT, copy, [e])
        assert (copy / e.file).read_text() != before, e.name
    for e in REGISTRY:
        assert (copy / e.file).read_text() == (ROOT / e.file).read_text(), e.file
    command = [sys.executable, "train.py", "fit", "--config", "configs/xor/transformer.yaml"]
    done = subprocess.run(
        [*command, "--trainer.fast_dev_run", "true"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_the_reference_scores_n_of_n_and_the_stub_copy_0_of_n(stub_copy, tmp_path):
    n = len(REGISTRY)
    reference = lab_exercises("grade", str(ROOT), "--results", str(tmp_path / "ref.json"), timeout=900)
    assert reference.returncode == 0, reference.stderr
    assert f"score: {n} of {n}" in reference.stdout, reference.stdout
    stubs = lab_exercises("grade", str(stub_copy), "--results", str(tmp_path / "stub.json"), timeout=900)
    assert stubs.returncode == 0, stubs.stderr
    assert f"score: 0 of {n}" in stubs.stdout, stubs.stdout
    assert set(scores(stubs.stdout).values()) == {"0/1 failed"}
