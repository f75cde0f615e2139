"""lab-benchmark: the list of benchmarks, a name that is none, and a benchmark run with the arguments after its
name (its main() replaced: the test is about the dispatch, not the measurement)."""

import sys

import pytest

from benchmarks import cli, lstm

BENCHMARKS = {"attention", "attention_scaling", "configs_table", "generation", "lstm", "nanogpt", "pretrained_step"}


@pytest.fixture(autouse=True)
def own_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lab-benchmark"])  # the dispatcher rewrites it for the benchmark


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code, capsys.readouterr()


def test_help_lists_every_benchmark_and_nothing_else(capsys):
    assert set(cli.available()) == BENCHMARKS  # timing.py (shared helpers) and the dispatcher are not benchmarks
    code, output = run_cli(["--help"], capsys)
    assert code == 0 and output.err == ""
    for name, summary in cli.available().items():
        assert f"  {name}" in output.out and summary in output.out


def test_no_name_lists_the_benchmarks_on_stderr_with_exit_status_2(capsys):
    code, output = run_cli([], capsys)
    assert code == 2 and output.out == "" and "lstm" in output.err


def test_an_unknown_name_is_one_line_with_exit_status_2(capsys):
    code, output = run_cli(["lstn", "--mask"], capsys)
    assert code == 2 and output.out == ""
    listed = ", ".join(sorted(BENCHMARKS))
    assert output.err.splitlines() == [f"error: no benchmark named 'lstn'; the benchmarks are {listed}"]


def test_a_benchmark_gets_the_arguments_after_its_name(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(lstm, "main", lambda argv: calls.append((argv, list(sys.argv))))
    cli.main(["lstm", "--mask", "--repeats", "2"])
    assert calls == [(["--mask", "--repeats", "2"], ["lab-benchmark lstm", "--mask", "--repeats", "2"])]


def test_a_benchmark_help_names_the_command_that_runs_it(capsys):
    code, output = run_cli(["lstm", "--help"], capsys)
    assert code == 0 and output.out.startswith("usage: lab-benchmark lstm [-h]")
