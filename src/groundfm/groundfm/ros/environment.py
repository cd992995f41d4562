"""Checks that the ROS 2 environment groundfm runs in is complete (venv from PyPI or a sourced system install)."""

import importlib
import os
import sys

REQUIRED_MODULES = (
    'rclpy',
    'sensor_msgs.msg',
    'nav_msgs.msg',
    'stereo_msgs.msg',
    'tf2_msgs.msg',
    'groundfm_interfaces.msg',
    'groundfm_interfaces.action',
    'mujoco',
)


def missing_pieces() -> list[str]:
    """Return a readable line for each piece of the environment that is missing."""
    problems = []
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except Exception as err:
            problems.append(f'cannot import {name}: {err}')
    profile = os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
    if profile and not os.path.isfile(profile):
        problems.append(f'FASTDDS_DEFAULT_PROFILES_FILE points at a missing file: {profile}')
    try:
        from ament_index_python.packages import get_package_share_directory

        share = get_package_share_directory('groundfm')
        for rel in ('launch/robot_dog.launch.py', 'config/robot_dog.yaml'):
            if not os.path.isfile(os.path.join(share, rel)):
                problems.append(f'share/groundfm/{rel} is missing from {share}')
    except Exception as err:
        problems.append(f'groundfm is not in the ament index: {err}')
    return problems


def check_install() -> None:
    """Exit with a list of problems if the environment is incomplete; print one OK line otherwise."""
    problems = missing_pieces()
    if problems:
        print('groundfm install check failed:', *problems, sep='\n  ', file=sys.stderr)
        raise SystemExit(1)
    print('groundfm install check: OK')
