"""Leg kinematics against MuJoCo's own forward kinematics of the Menagerie Go2."""

import mujoco
import numpy as np
import pytest

from groundfm.control import kinematics
from groundfm.sim import go2


@pytest.fixture(scope='module')
def model():
    m = mujoco.MjModel.from_xml_path(str(go2.mjcf_path()))
    return m, mujoco.MjData(m)


def _mujoco_feet(model, q: np.ndarray) -> np.ndarray:
    """Foot sphere centres in the base frame from mj_kinematics with the base at the origin, shape (4, 3)."""
    m, d = model
    d.qpos[:] = 0.0
    d.qpos[3] = 1.0  # identity base orientation (w, x, y, z)
    d.qpos[7:19] = q
    mujoco.mj_kinematics(m, d)
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name) for name in go2.FOOT_GEOMS]
    return d.geom_xpos[ids] - d.xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, go2.BASE_BODY)]


def test_fk_matches_mujoco_for_random_joint_angles(model):
    rng = np.random.default_rng(0)
    lo, hi = go2.POSITION_LIMITS.T
    for _ in range(50):
        q = rng.uniform(lo, hi)

        feet = kinematics.leg_fk(q)

        np.testing.assert_allclose(feet, _mujoco_feet(model, q), atol=1e-9)


def test_ik_inverts_fk_within_the_working_range():
    rng = np.random.default_rng(1)
    checked = 0
    while checked < 200:
        q = np.array([[rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 2.0), rng.uniform(-2.6, -0.9)] for _ in range(4)])
        leg_plane_z = -np.cos(q[:, 1]) - np.cos(q[:, 1] + q[:, 2])  # foot below the thigh joint: IK's branch
        if np.any(leg_plane_z > -0.2):
            continue
        checked += 1

        q_back = kinematics.leg_ik(kinematics.leg_fk(q))

        np.testing.assert_allclose(kinematics.leg_fk(q_back), kinematics.leg_fk(q), atol=1e-7)
        np.testing.assert_allclose(q_back, q.reshape(12), atol=1e-6)  # the knee-backward branch


def test_nominal_stance_is_straight_below_the_thigh_joints(model):
    q = kinematics.leg_ik(kinematics.nominal_feet(0.30))

    feet = _mujoco_feet(model, q)

    np.testing.assert_allclose(feet[:, 2], -(0.30 - go2.FOOT_RADIUS), atol=1e-9)
    np.testing.assert_allclose(np.abs(feet[:, 1]), 0.0465 + 0.0955, atol=1e-9)
    np.testing.assert_allclose(q[0::3], 0.0, atol=1e-12)  # no abduction
    assert np.all(q[2::3] < 0), 'knees bend backwards'


def test_jacobian_maps_joint_velocities_to_foot_velocities():
    rng = np.random.default_rng(2)
    q = kinematics.leg_ik(kinematics.nominal_feet(0.28)) + rng.normal(0, 0.1, 12)
    foot_v = rng.normal(0, 0.5, (4, 3))

    dq = kinematics.joint_velocities(q, foot_v)

    h = 1e-6
    np.testing.assert_allclose((kinematics.leg_fk(q + h * dq) - kinematics.leg_fk(q - h * dq)) / (2 * h), foot_v,
                               atol=1e-6)


def test_unreachable_targets_stay_finite_and_bad_shapes_are_refused():
    far = kinematics.nominal_feet(0.30)
    far[:, 2] = -2.0

    q = kinematics.leg_ik(far)

    assert np.all(np.isfinite(q))
    with pytest.raises(ValueError, match='feet'):
        kinematics.leg_ik(np.zeros((3, 3)))
    with pytest.raises(ValueError, match='joint angles'):
        kinematics.leg_fk(np.zeros(11))
