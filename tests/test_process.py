"""The entry points' process-wide settings (dice/process.py)."""

import subprocess
import sys

import pytest

CHECK = """
import sys, torch
from dice.process import deterministic_kernels
deterministic_kernels(sys.argv[1])
print(torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled(),
      "torch._inductor" in sys.modules)
"""


@pytest.mark.parametrize(("device", "expected"), [("cpu", "True False False"),
                                                    ("cuda", "True True False")])  # fmt: skip
def test_deterministic_kernels_sets_the_mode_without_importing_the_compiler(device, expected):
    # a fresh interpreter: the test process's own mode is set by conftest
    out = subprocess.run([sys.executable, "-c", CHECK, device], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.split() == expected.split()
