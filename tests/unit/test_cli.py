"""The `praxis` command speaks to operators: no library's deprecation notices."""
import os
import subprocess
import sys
from pathlib import Path


def test_the_praxis_command_prints_no_library_warnings():
    praxis = Path(sys.executable).with_name("praxis")
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # show what a default run would show
    done = subprocess.run([str(praxis), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0
    assert "usage: praxis" in done.stdout
    assert "Warning" not in done.stderr and "deprecated" not in done.stderr.lower(), done.stderr
