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

from alkdsr.training.entry import run


def main() -> int:
    return run('train', prog='alkdsr-train')


if __name__ == '__main__':
    sys.exit(main())
