"""Evaluate with BasicSR's test pipeline (``alkdsr.training.loop.test``), alkdsr's checks first.

    python alkdsr/test.py -opt options/test_ALKDNet_x4.yml [--force_yml path:pretrain_network_g=W.pth]

(or ``alkdsr-test`` with the same flags). The current directory is the root: PSNR/SSIM are
logged to ``./results/<name>/test_<name>_<time>.log`` and images saved under
``./results/<name>/visualization/<dataset>/``.
"""

import sys

from alkdsr.training.entry import run


def main() -> int:
    return run('test', prog='alkdsr-test')


if __name__ == '__main__':
    sys.exit(main())
