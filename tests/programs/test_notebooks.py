"""The notebooks (programs/notebooks.py) and their exercise cells (programs/exercise_cells.py).

CI runs every notebook whole (`python -m programs.notebooks run` in .ci/run); these tests hold what that run
cannot: the committed .ipynb files are built from their sources, each course's notebook checks every exercise
of the course, a check reads pytest's results right, and a failing cell is one line naming it. The slow test
runs a notebook's student twin: the same notebook in a student copy stops at its first stubbed exercise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from lab_errors import InputError
from programs import exercise_cells, notebooks
from programs.exercises import load_registry

ROOT = Path(__file__).resolve().parents[2]


def test_committed_notebooks_are_built_from_their_sources():
    assert [nb.name for nb in notebooks.stale(notebooks.notebooks())] == []


def test_a_rebuild_of_an_unchanged_source_is_byte_identical():
    walkthrough = notebooks.chosen(["walkthrough"])[0]
    assert notebooks.rendered(walkthrough) == notebooks.rendered(walkthrough)
    built = notebooks.as_notebook(walkthrough)
    assert built.cells[0].source == notebooks.SETUP_CELL
    # The walkthrough's shell block is shown, not run: `tensorboard --logdir runs` never returns.
    assert not any(c.cell_type == "code" and "tensorboard" in c.source for c in built.cells)
    assert any(c.cell_type == "markdown" and "tensorboard --logdir runs" in c.source for c in built.cells)


def test_each_course_notebook_shows_and_checks_every_exercise_of_its_course():
    registry = load_registry()
    courses = {course for e in registry for course in e.courses}
    assert set(notebooks.COURSE_NOTEBOOKS) == courses
    for course, name in notebooks.COURSE_NOTEBOOKS.items():
        source = (ROOT / "notebooks" / f"{name}.py").read_text()
        shown = set(re.findall(r'^show\("(\w+)"\)', source, flags=re.M))
        checked = set(re.findall(r'^check\("(\w+)"\)', source, flags=re.M))
        expected = {e.name for e in registry if course in e.courses}
        assert shown == expected, f"{name}: shows {sorted(shown)}, course {course} has {sorted(expected)}"
        assert checked == expected, f"{name}: checks {sorted(checked)}, course {course} has {sorted(expected)}"


def test_an_unknown_notebook_is_one_line_naming_the_choices():
    with pytest.raises(InputError, match=r"unknown notebook 'dlvu'.*dlvu_a3b"):
        notebooks.chosen(["dlvu"])


def junit(cases: list[tuple[str, str | None]]) -> ElementTree.Element:
    suite = ElementTree.Element("testsuite")
    for name, failure in cases:
        case = ElementTree.SubElement(suite, "testcase", classname="tests.layers.test_x", name=name)
        if failure:
            ElementTree.SubElement(case, "failure", message=failure)
    return suite


def test_a_check_passes_a_parametrized_test_only_when_every_case_passes():
    tests = ("tests/layers/test_x.py::test_a", "tests/layers/test_x.py::test_b", "tests/layers/test_x.py::test_c")
    report = junit(
        [
            ("test_a[shape0]", None),
            ("test_a[shape1]", None),
            ("test_b[shape0]", None),
            ("test_b[shape1]", "NotImplementedError: return (h, c)\nmore"),
            ("test_ab", None),  # another test whose name starts like test_a's: not one of its cases
        ]
    )
    result = exercise_cells._read_report("x", tests, report)
    assert result.passed == ("tests/layers/test_x.py::test_a",)
    assert result.failed == {
        "tests/layers/test_x.py::test_b": "1 of 2 cases fail; the first: NotImplementedError: return (h, c)",
        "tests/layers/test_x.py::test_c": "not run (a collection error: import its module by hand to see it)",
    }
    assert result.total == 3


def test_show_prints_the_exercise_functions_from_the_tree(tmp_path):
    (tmp_path / "layers").mkdir()
    reference = (ROOT / "layers" / "recurrent.py").read_text()
    (tmp_path / "layers" / "recurrent.py").write_text(reference)
    text = exercise_cells.source_of("lstm_cell", tmp_path)
    assert text.startswith("# layers/recurrent.py, line ")
    assert "def lstm_cell(gates: Tensor, c: Tensor) -> State:" in text and "### BEGIN SOLUTION" in text
    method = exercise_cells.source_of("decoder_attention", tmp_path)
    assert "\ndef forward(" in method  # a method is shown at the margin


def test_a_failing_cell_is_one_line_naming_the_notebook_and_the_cell(tmp_path):
    source = tmp_path / "broken.py"
    source.write_text('# %%\nvalue = 1\n\n# %%\nraise ValueError("the second cell fails")\n')
    with pytest.raises(notebooks.NotebookFailed) as failed:
        notebooks.execute(notebooks.Notebook("broken", source), out=tmp_path / "out")
    assert str(failed.value) == f"{source}: cell 2 ('raise ValueError(\"the second cell fails\")') failed: " + (
        "ValueError: the second cell fails"
    )
    assert (tmp_path / "out" / "broken.ipynb").is_file()  # the executed notebook, for a look at the outputs


@pytest.mark.slow
def test_the_student_twin_of_a_notebook_stops_at_its_first_stub_until_the_region_is_written(tmp_path):
    copy = tmp_path / "copy"

    def run(module: str, *args: str, tree: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}
        command = [sys.executable, "-m", module, *args]
        return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=900, check=False)

    made = run("programs.exercises", "copy", str(copy), "--exercise", "padding", tree=ROOT)
    assert made.returncode == 0, made.stderr
    stubbed = run("programs.notebooks", "run", "dlvu_a3b", tree=copy)
    assert stubbed.returncode == 1
    assert "error: notebooks/dlvu_a3b.py: cell 5 ('check(\"padding\")') failed: ExerciseNotPassed: " in stubbed.stderr
    assert "padding: 0 of 2 tests pass; write datamodules/batching.py's region" in stubbed.stderr
    restored = run("programs.exercises", "restore", str(copy), "--exercise", "padding", tree=ROOT)
    assert restored.returncode == 0, restored.stderr
    written = run("programs.notebooks", "run", "dlvu_a3b", tree=copy)
    assert written.returncode == 0, written.stderr
    assert "dlvu_a3b: every cell ran" in written.stdout
