#!/usr/bin/env bash
# Build (idempotent, seconds when nothing changed) and run the default test suite: unit + integration tests over real
# DDS, with the real sim. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` for the long tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec "$root/.venv/bin/python" -m pytest "$@"
