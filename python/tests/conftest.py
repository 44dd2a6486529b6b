"""Shared fixtures: the `downhill` command line, whose output the Python package must reproduce."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _find_cli():
    """$DOWNHILL_BIN, else a built binary in $CARGO_TARGET_DIR or target/, else `downhill` on PATH."""
    explicit = os.environ.get("DOWNHILL_BIN")
    if explicit:
        return explicit
    targets = [os.environ.get("CARGO_TARGET_DIR"), str(ROOT / "target")]
    for target in filter(None, targets):
        for profile in ("release", "debug"):
            path = Path(target) / profile / "downhill"
            if path.is_file():
                return str(path)
    return shutil.which("downhill")


class Cli:
    def __init__(self, path):
        self.path = path

    def __call__(self, *args):
        """(exit code, stdout, stderr) of `downhill ARGS`."""
        p = subprocess.run([self.path, *map(str, args)], capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def json(self, *args):
        code, out, err = self(*args, "--format", "json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture(scope="session")
def cli():
    path = _find_cli()
    if path is None:
        pytest.fail(
            "the downhill binary is needed to compare against: build it (cargo build -p downhill-cli) "
            "and set DOWNHILL_BIN or CARGO_TARGET_DIR"
        )
    return Cli(path)
