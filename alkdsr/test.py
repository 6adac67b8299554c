"""Evaluate with BasicSR's test pipeline (``alkdsr.training.loop.test``), alkdsr's checks first.

    python alkdsr/test.py -opt options/test_ALKDNet_x4.yml [--force_yml path:pretrain_network_g=W.pth]

(or ``alkdsr-test`` with the same flags). The current directory is the root: PSNR/SSIM are
logged to ``./results/<name>/test_<name>_<time>.log`` and images saved under
``./results/<name>/visualization/<dataset>/``.
"""

import sys

try:
    from alkdsr.training.entry import run
except ModuleNotFoundError as e:  # `python alkdsr/test.py` by a Python alkdsr is not installed in
    if e.name != 'alkdsr':
        raise
    print(
        f'alkdsr-test: error: this Python ({sys.executable}) has no alkdsr: run alkdsr/test.py with the Python '
        'alkdsr is installed in (.venv/bin/python after make env), or install it there (README: Install)',
        file=sys.stderr,
    )
    sys.exit(2)


def main() -> int:
    return run('test', prog='alkdsr-test')


if __name__ == '__main__':
    sys.exit(main())
