"""The server's warm-up: what it imports exists, and a module that cannot be imported is reported, not raised."""

from __future__ import annotations

import subprocess
import sys

from components.startup import WARM_UP, warm_up
from tests.conftest import ROOT


def test_every_warm_up_module_imports_in_a_fresh_interpreter():
    """A renamed module would make the warm-up print and the first page slow again: import them for real."""
    code = "import sys; from components.startup import warm_up; sys.exit(len(warm_up()))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "warm-up could not import" not in done.stderr
    assert {"numpy", "pandas"} <= set(WARM_UP)


def test_a_module_that_cannot_be_imported_is_named_and_the_rest_still_load(capsys):
    sys.modules.pop("colorsys", None)
    failed = warm_up(("parley_no_such_module", "colorsys"))
    assert failed == ["parley_no_such_module"]
    assert "warm-up could not import parley_no_such_module" in capsys.readouterr().err
    assert "colorsys" in sys.modules
