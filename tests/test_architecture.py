"""The import contracts of .importlinter: web -> workflows -> engine | forms | signing, and no
import cycles among the modules of workflows."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import ROOT


def test_imports_keep_the_contracts():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache", "--no-logo", str(ROOT / ".importlinter")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
