"""The one transition object: every way of changing a case goes through it, and what reacts to where
the engine waits or ends is registered, not imported by it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT
from workflows import transitions


@pytest.mark.parametrize("entry", ["workflows.cases", "workflows.timers", "workflows.inquiries"])
def test_each_way_in_registers_every_reaction(entry):
    program = (f"import {entry}\n"
               "from workflows import procedures, transitions\n"
               "assert sorted(transitions._ON_END) == sorted(procedures.OUTCOME_ACTIONS), transitions._ON_END\n"
               "assert sorted(transitions._ON_WAITING) == sorted(procedures.MESSAGE_SENDERS), transitions._ON_WAITING\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_missing_reaction_is_named():
    with pytest.raises(LookupError, match="no reaction to 'print_money' is registered"):
        transitions._reaction(transitions._ON_END, "print_money")

