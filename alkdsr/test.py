"""Evaluate with BasicSR's own test pipeline and alkdsr's architectures and model.

    python alkdsr/test.py -opt options/test_ALKDNet_x4.yml [--force_yml path:pretrain_network_g=W.pth]

(or ``alkdsr-test`` with the same flags). The current directory is the root: PSNR/SSIM are
logged to ``./results/<name>/test_<name>_<time>.log`` and images saved under
``./results/<name>/visualization/<dataset>/``.
"""

import os
import sys

if __name__ == '__main__':  # run as a file: alkdsr/ is sys.path[0] and would shadow top-level modules
    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _here:
        sys.path.pop(0)
    sys.path.insert(0, os.path.dirname(_here))


def main() -> int:
    from alkdsr.pipeline import run

    return run('test', prog='alkdsr-test')


if __name__ == '__main__':
    sys.exit(main())
