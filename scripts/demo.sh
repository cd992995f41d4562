#!/usr/bin/env bash
# Build everything (idempotent) and run the main job: the robot dog in the MuJoCo house sim, headless, with a run
# report in runs/demo/. Extra arguments go to `groundfm demo` (e.g. --seed 3 --duration 20).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
cd "$root"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec "$root/.venv/bin/groundfm" demo "$@"
