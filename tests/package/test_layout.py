"""The package's shape: what ``import alkdsr`` registers, what it leaves of BasicSR, what sits at its top."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'alkdsr'


def _in_fresh_interpreter(script: str) -> dict:
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_import_alkdsr_alone_registers_its_architectures_model_and_dataset():
    found = _in_fresh_interpreter(
        'import json, alkdsr\n'
        'from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY\n'
        "print(json.dumps({'arch': [n for n in ('ALKDNet', 'ALKDN', 'BSRN') if n in ARCH_REGISTRY],\n"
        "                  'model': 'ALKDSRModel' in MODEL_REGISTRY,\n"
        "                  'dataset': 'ALKDSRPairedImageDataset' in DATASET_REGISTRY}))\n"
    )
    assert found == {'arch': ['ALKDNet', 'ALKDN', 'BSRN'], 'model': True, 'dataset': True}


def test_a_training_run_leaves_basicsr_as_it_was(tmp_path):
    """alkdsr extends BasicSR by registering classes only: after a whole run through alkdsr/train.py in this
    interpreter, every function and method BasicSR's pipelines call is still BasicSR's own."""
    from train_utils import make_pairs, train_options, write_options

    pairs = make_pairs(tmp_path / 'pairs', names=('rocket', 'coffee'))
    opt = train_options('untouched', pairs / 'HR', pairs / 'LR_bicubic' / 'X4', total_iter=1, save_freq=1)
    opt['network_g']['num_block'] = 1
    opt['model_type'] = 'SRModel'
    option_file = write_options(opt, tmp_path / 'opt.yml')
    found = _in_fresh_interpreter(
        'import json, os, sys\n'
        f'os.chdir({str(tmp_path)!r})\n'
        'from alkdsr.training.entry import run\n'
        f"assert run('train', 'alkdsr-train', ['-opt', {str(option_file)!r}]) == 0\n"
        'import basicsr.data, basicsr.train, basicsr.test, basicsr.utils.options\n'
        'import basicsr.data.paired_image_dataset as m\n'
        'from basicsr.models.base_model import BaseModel\n'
        'functions = [basicsr.data.worker_init_fn, basicsr.data.build_dataloader, basicsr.train.parse_options,\n'
        '             basicsr.train.load_resume_state, basicsr.train.create_train_val_dataloader,\n'
        '             basicsr.test.parse_options, BaseModel.load_network, m.PairedImageDataset.__init__,\n'
        '             m.PairedImageDataset.__getitem__, m.paired_paths_from_folder]\n'
        'print(json.dumps([f.__module__ for f in functions]))\n'
    )
    assert all(module.startswith('basicsr.') for module in found), found


def test_no_module_of_alkdsr_assigns_to_an_attribute_of_another_package():
    """Read from the code: no ``x.attr = ...`` or ``setattr`` on a module or class of basicsr (or any other
    package, spandrel's ModelLoader included); the one change elsewhere is compat's ``sys.modules`` alias."""
    import ast

    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        imported = {alias.asname or alias.name.split('.')[0] for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                        isinstance(node, ast.ImportFrom) and (node.module or '').startswith('alkdsr'))
                    for alias in node.names}  # fmt: skip
        imported -= {'sys', 'os', 'np', 'numpy', 'torch', 'nn', 'F'}  # their attributes are not assigned below
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []  # fmt: skip
            for target in targets:
                base = target
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(target, ast.Attribute) and isinstance(base, ast.Name) and base.id in imported:
                    found.append(f'{path.relative_to(ROOT)}:{node.lineno}')
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'setattr':
                found.append(f'{path.relative_to(ROOT)}:{node.lineno} setattr')
    assert found == []


def test_at_most_five_modules_at_the_top_and_none_hides_an_installed_one():
    """``python alkdsr/train.py`` puts alkdsr/ first on sys.path: no name there may hide a package (as in BasicSR)."""
    modules = sorted(p.name for p in PACKAGE.glob('*.py'))
    assert len(modules) <= 5 and {'__init__.py', 'train.py', 'test.py', 'version.py'} <= set(modules)
    names = [p.stem for p in PACKAGE.glob('*.py') if p.stem not in ('__init__', 'test')]  # test: as basicsr/test.py
    names += [p.name for p in PACKAGE.iterdir() if (p / '__init__.py').is_file()]
    script = (
        'import importlib.util, json, sys\n'
        f'sys.path = [p for p in sys.path if p not in ("", {str(ROOT)!r}, {str(PACKAGE)!r})]\n'
        f'print(json.dumps([n for n in {names!r} if importlib.util.find_spec(n) is not None]))\n'
    )
    assert _in_fresh_interpreter(script) == []


@pytest.mark.docs
def test_readme_where_things_live_names_every_folder_of_the_package():
    import re

    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    table = readme.split('## Where things live', 1)[1].split('\n## ', 1)[0]
    rows = re.findall(r'^\| (\d+) \| `alkdsr/([\w.]+/?)`(?:, `([\w.]+)`)?', table, re.M)
    listed = {name.rstrip('/') for _, name, _ in rows if name.endswith('/')}
    folders = {p.parent.name for p in PACKAGE.glob('*/__init__.py')}
    assert listed == folders
    modules = {m for _, name, other in rows for m in (name, other) if m.endswith('.py')}
    assert modules <= {p.name for p in PACKAGE.glob('*.py')} and modules
    # the floors are import-linter's layers, top first
    contract = (ROOT / 'pyproject.toml').read_text().split('layers = [', 1)[1].split(']', 1)[0]
    layers = re.findall(r'"([^"]+)"', contract)
    floor_of = {m.strip(): i + 1 for i, layer in enumerate(layers) for m in re.split(r'[|:]', layer)}
    for floor, name, other in rows:
        for room in (name, other):
            if room:
                assert floor_of['alkdsr.' + room.rstrip('/').removesuffix('.py')] == int(floor), room


@pytest.mark.docs
def test_every_image_format_is_named_where_formats_are_listed():
    """The docs and --help list the suffixes alkdsr.files.images reads and writes, all of them."""
    import re

    from alkdsr.cli import prepare, upscale
    from alkdsr.files.images import FORMATS

    def parser_help(module) -> str:
        import argparse

        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        return parser.format_help()

    texts = {
        'docs/inference.md': (ROOT / 'docs' / 'inference.md').read_text(encoding='utf-8'),
        'docs/datasets.md': (ROOT / 'docs' / 'datasets.md').read_text(encoding='utf-8'),
        'alkdsr prepare --help': parser_help(prepare),
        'alkdsr upscale --help': parser_help(upscale),
    }
    suffixes = {s.lstrip('.') for s in FORMATS}
    short = {s for s in suffixes if s not in ('jpeg', 'tiff')}  # the help names jpg and tif for both spellings
    for where, text in texts.items():
        named = set(re.findall(r'\b(' + '|'.join(suffixes) + r')\b', text))
        assert (short if 'help' in where else suffixes) <= named, (where, sorted(suffixes - named))
