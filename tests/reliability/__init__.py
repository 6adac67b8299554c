"""Bad input of every kind: each command handles a case or reports it in one line, leaving no partial file.

A package, unlike the other test folders: its conftest.py is then imported as ``reliability.conftest``
instead of ``conftest``, the name under which modules elsewhere import tests/conftest.py (``from conftest
import ...``). The modules here import their shared helpers as ``from .helpers import ...``; pytest rewrites
the asserts in those helpers as it does in the tests.
"""

import pytest

pytest.register_assert_rewrite('reliability.helpers')
