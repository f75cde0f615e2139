"""Speed and memory measurements of the lab's layers and recipes; each module with a main() is one benchmark.

From the repository root each runs as `python -m benchmarks.<name> [ARGS]`; `pip install .` installs
`lab-benchmark NAME [ARGS]` for all of them (benchmarks/cli.py; `lab-benchmark --help` lists them). timing.py
is what they share: interleaved timing, medians, Markdown tables.
"""
