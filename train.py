"""Train, validate, test or predict with any model and data module of the lab, from YAML configs.

    python train.py fit --config configs/xor/transformer.yaml
    python train.py fit --config configs/xor/transformer.yaml --ckpt_path last    # resume the newest run
    python train.py test --config configs/xor/transformer.yaml --ckpt_path best
    python train.py fit --config configs/xor/transformer.yaml --model.init_args.n_layers 4
    python train.py fit --config configs/xor/transformer.yaml --print_config      # the resolved config
    python train.py fit --help

Runs are logged under runs/<task>/<experiment>/version_N (TensorBoard: tensorboard --logdir runs), with the
resolved config.yaml and checkpoints/ (best by the monitored metric, and last) beside the logs; test, validate
and predict with a run's checkpoint write into its test/, validate/ or predict/ folder. Bad input ends in one
line (exit status 2); `pip install .` also installs this command as `lab-train`.
"""

from lightning_modules.cli import run

if __name__ == "__main__":
    run()  # the allocation policy (lightning_modules/allocator.py), then the CLI
