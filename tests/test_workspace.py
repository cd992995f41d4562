"""The repository is a colcon workspace: a plain `colcon build` gives the layout ros2 launch / ros2 run expect."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def _fresh_clone(dest: Path) -> None:
    """Export the committed tree (what a fresh clone has) into dest."""
    archive = subprocess.run(['git', 'archive', 'HEAD'], cwd=ROOT, capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(['tar', '-x', '-C', str(dest)], input=archive, check=True)


@pytest.mark.skipif(shutil.which('colcon', path=str(VENV / 'bin')) is None, reason='colcon is not installed')
def test_colcon_build_installs_launch_config_and_node_executables(tmp_path):
    ws = tmp_path / 'ws'
    _fresh_clone(ws)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV))

    build = subprocess.run([str(VENV / 'bin' / 'colcon'), 'build', '--cmake-args',
                            f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
                           cwd=ws, env=env, capture_output=True, text=True, timeout=600)

    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    share = ws / 'install' / 'groundfm' / 'share' / 'groundfm'
    assert (share / 'launch' / 'robot_dog.launch.py').is_file()
    assert (share / 'config' / 'robot_dog.yaml').is_file() and (share / 'config' / 'fastdds.xml').is_file()
    assert (ws / 'install' / 'groundfm' / 'lib' / 'groundfm' / 'sim_node').is_file()
    assert (ws / 'install' / 'groundfm_interfaces' / 'share' / 'groundfm_interfaces' / 'action' /
            'Navigate.action').is_file()
    assert not (ws / 'install' / 'tf2_msgs').exists(), 'the vendored tf2_msgs must stay out of colcon builds'

    printed = subprocess.run([sys.executable, '-m', 'groundfm.ros.launcher', 'robot_dog', '--print'],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env=dict(env, PYTHONPATH=str(ws / 'install' / 'groundfm' / 'lib' / 'python3.11' /
                                                          'site-packages'),
                                      AMENT_PREFIX_PATH=f'{ws / "install" / "groundfm"}:{VENV}', TMPDIR=str(tmp_path)))
    assert printed.returncode == 0, printed.stderr
    assert f'{ws}/install/groundfm/lib/groundfm/sim_node --ros-args -r __node:=sim' in printed.stdout
