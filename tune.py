"""Optuna studies over any train.py config: sample hyperparameters, train, prune, keep the best.

    python tune.py --config configs/imdb_synth/simple_attention.yaml --n-trials 40
    python tune.py --help

The program is tuning/cli.py; `pip install .` also installs this command as `lab-tune`.
"""

from tuning.cli import run

if __name__ == "__main__":
    run()  # the allocation policy (lightning_modules/allocator.py), then the study
