"""Train ALKDNet (or any BasicSR network) with BasicSR's parts and alkdsr's checks first.

    python alkdsr/train.py -opt options/train_ALKDNet_x4.yml [--auto_resume] [--debug]
        [--force_yml train:total_iter=1000] [--launcher none|pytorch|slurm]
    torchrun --nproc_per_node N alkdsr/train.py -opt X.yml --launcher pytorch   # NCCL on GPUs, gloo on CPUs

(or ``alkdsr-train`` with the same flags). The current directory is the root: experiments go
to ``./experiments/<name>/`` (models, training_states, log, the option file), tensorboard
logs to ``./tb_logger/<name>/``; ``--auto_resume`` continues from the newest training state.
The loop is ``alkdsr.training.loop.train``; ``alkdsr.training.entry.run`` reports each mistake in one line.
"""

import sys

try:
    from alkdsr.training.entry import run
except ModuleNotFoundError as e:  # `python alkdsr/train.py` by a Python alkdsr is not installed in
    if e.name != 'alkdsr':
        raise
    print(
        f'alkdsr-train: error: this Python ({sys.executable}) has no alkdsr: run alkdsr/train.py with the Python '
        'alkdsr is installed in (.venv/bin/python after make env), or install it there (README: Install)',
        file=sys.stderr,
    )
    sys.exit(2)


def main() -> int:
    return run('train', prog='alkdsr-train')


if __name__ == '__main__':
    sys.exit(main())
