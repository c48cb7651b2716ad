#!/usr/bin/env bash
# Create (or update) the local virtual environment .venv with the suite and its pinned
# dependencies. Works offline except for the package registry. torch is pinned to 2.13.0,
# which installs the CPU build here; for a GPU install see the README.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet torch==2.13.0
  # the `slurm` extra: the executor plugin that profiles/slurm names (docs/slurm.md)
  .venv/bin/python -m pip install --quiet -e ".[test,slurm]"
  # Real MovieLens-100K for offline use ships in this wheel; none of its code is used.
  .venv/bin/python -m pip install --quiet --no-deps recbole==1.2.1
  rm -f .venv/.installed-*
  touch "$stamp"
fi
