#!/usr/bin/env bash
# Build (idempotent, seconds when nothing changed) and run the default test suite: unit + integration tests over real
# DDS, with the real sim. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` for the long tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# Tests import groundfm from the source tree (node processes inherit it), so a concurrent install cannot pull modules
# out from under a running suite. The install above still checks the installed package and its share/ files.
export PYTHONPATH="$root/src/groundfm:$root/src/groundfm_training${PYTHONPATH:+:$PYTHONPATH}"
exec "$root/.venv/bin/python" -m pytest "$@"
