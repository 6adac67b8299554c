"""alkdsr.utils.packages names what setup.py installs: its tables hold setup.py's requirements, pins included,
under the names they are imported by."""

from __future__ import annotations

import ast
import importlib.util

from conftest import ROOT

from alkdsr.utils.packages import EXTRAS, REQUIRED


def setup_requirements() -> tuple[list[str], dict[str, list[str]]]:
    """(install_requires, extras_require) as setup.py writes them."""
    call = next(
        node for node in ast.walk(ast.parse((ROOT / 'setup.py').read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'setup'
    )  # fmt: skip
    keywords = {k.arg: k.value for k in call.keywords}
    return ast.literal_eval(keywords['install_requires']), ast.literal_eval(keywords['extras_require'])


def test_the_tables_hold_setup_py_requirements():
    install_requires, extras = setup_requirements()
    assert sorted(REQUIRED.values()) == sorted(r for r in install_requires if r != 'setuptools')
    features = {r for name, requirements in extras.items() if name != 'dev' for r in requirements}
    assert sorted(EXTRAS.values()) == sorted(features)


def test_the_tables_name_modules_that_import():
    for module in [*REQUIRED, *EXTRAS]:  # the test environment has every extra (setup.py's dev extra)
        assert importlib.util.find_spec(module) is not None, module
