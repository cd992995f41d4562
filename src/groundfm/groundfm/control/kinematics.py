"""Go2 leg kinematics in the base frame: forward kinematics, closed-form 3-DoF IK and the foot Jacobian. numpy only.

Each leg: hip (abduction) about base x at go2.HIP_OFFSETS[leg]; thigh about y, go2.THIGH_OFFSET_Y outward from the
hip joint; calf about y, go2.THIGH_LENGTH below the thigh joint; foot sphere centre at FOOT_IN_CALF in the calf frame.
Joint angles come in JOINT_NAMES order, shape (12,) or as (4, 3) per leg (FL, FR, RL, RR x hip, thigh, calf).
The foot's 2 mm fore-aft offset is folded into an effective calf length and a fixed knee angle offset, so FK is exact
against the MJCF and IK stays closed-form.
"""

import math

import numpy as np

from groundfm.sim import go2

FOOT_IN_CALF = np.array([-0.002, 0.0, -0.213])  # foot sphere centre in the calf body frame [m] (Menagerie go2.xml)
SIDES = np.array([1.0, -1.0, 1.0, -1.0])  # +1 left legs (FL, RL), -1 right legs (FR, RR)
_L1 = go2.THIGH_LENGTH
_L2 = math.hypot(FOOT_IN_CALF[0], FOOT_IN_CALF[2])  # effective calf length [m]
_KNEE_OFFSET = math.atan2(-FOOT_IN_CALF[0], -FOOT_IN_CALF[2])  # calf angle of the foot vs the calf's -z axis [rad]
_LY = go2.THIGH_OFFSET_Y
MAX_REACH = _L1 + _L2  # thigh joint to foot, fully stretched [m]


def _per_leg(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.shape == (12,):
        return q.reshape(4, 3)
    if q.shape != (4, 3):
        raise ValueError(f'joint angles must have shape (12,) or (4, 3), got {q.shape}')
    return q


def leg_fk(q: np.ndarray) -> np.ndarray:
    """Foot sphere centres in the base frame [m], shape (4, 3), for joint angles [rad] of shape (12,) or (4, 3)."""
    q = _per_leg(q)
    hip, thigh, knee = q[:, 0], q[:, 1], q[:, 2] + _KNEE_OFFSET
    x = -_L1 * np.sin(thigh) - _L2 * np.sin(thigh + knee)  # leg plane, before the abduction rotation
    z = -_L1 * np.cos(thigh) - _L2 * np.cos(thigh + knee)
    y = SIDES * _LY
    c, s = np.cos(hip), np.sin(hip)
    return go2.HIP_OFFSETS + np.stack([x, c * y - s * z, s * y + c * z], axis=1)


def leg_ik(feet: np.ndarray) -> np.ndarray:
    """Joint angles [rad], shape (12,), putting the foot centres at feet [m], shape (4, 3), base frame.

    Knee-backward solution. Unreachable targets are pulled onto the reachable shell; angles are not clipped to the
    joint limits (see clip_to_limits).
    """
    feet = np.asarray(feet, dtype=float)
    if feet.shape != (4, 3) or not np.all(np.isfinite(feet)):
        raise ValueError(f'feet must be finite with shape (4, 3), got {feet.shape}')
    p = feet - go2.HIP_OFFSETS
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    r2 = np.maximum(y * y + z * z, _LY * _LY + 1e-6)
    d = np.sqrt(r2 - _LY * _LY)  # foot below the thigh joint in the leg plane [m]
    # Abduction: the leg-plane vector (side * ly, -d) rotated by hip must point at (y, z).
    hip = np.arctan2(z, y) - np.arctan2(-d, SIDES * _LY)
    hip = (hip + np.pi) % (2 * np.pi) - np.pi
    dist = np.minimum(np.hypot(x, d), MAX_REACH - 1e-6)
    cos_knee = np.clip((dist * dist - _L1 * _L1 - _L2 * _L2) / (2 * _L1 * _L2), -1.0, 1.0)
    knee = -np.arccos(cos_knee)
    thigh = np.arctan2(-x, d) - np.arctan2(_L2 * np.sin(knee), _L1 + _L2 * np.cos(knee))
    return np.stack([hip, thigh, knee - _KNEE_OFFSET], axis=1).reshape(12)


def leg_jacobians(q: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d foot / d (hip, thigh, calf) per leg, base frame [m/rad], shape (4, 3, 3), by central differences."""
    q = _per_leg(q)
    jac = np.empty((4, 3, 3))
    for k in range(3):
        step = np.zeros((4, 3))
        step[:, k] = eps
        jac[:, :, k] = (leg_fk(q + step) - leg_fk(q - step)) / (2 * eps)
    return jac


def joint_velocities(q: np.ndarray, foot_velocities: np.ndarray) -> np.ndarray:
    """Joint velocities [rad/s], shape (12,), giving foot velocities [m/s], shape (4, 3), base frame, at q."""
    jac = leg_jacobians(q)
    return np.linalg.solve(jac, np.asarray(foot_velocities, dtype=float)[..., None])[..., 0].reshape(12)


def joint_torques(q: np.ndarray, foot_forces: np.ndarray) -> np.ndarray:
    """Joint torques [Nm], shape (12,), with which the feet push with foot_forces [N], shape (4, 3), base frame."""
    jac = leg_jacobians(q)
    return np.einsum('lij,li->lj', jac, np.asarray(foot_forces, dtype=float)).reshape(12)


def clip_to_limits(q: np.ndarray, margin: float = 0.02) -> np.ndarray:
    """Joint angles [rad], shape (12,), clipped into go2.POSITION_LIMITS shrunk by margin [rad]."""
    return np.clip(np.asarray(q, dtype=float).reshape(12), go2.POSITION_LIMITS[:, 0] + margin,
                   go2.POSITION_LIMITS[:, 1] - margin)


def nominal_feet(body_height: float) -> np.ndarray:
    """Foot centres [m], shape (4, 3), base frame: straight below each thigh joint with the base at body_height [m]."""
    feet = go2.HIP_OFFSETS.copy()
    feet[:, 1] += SIDES * _LY
    feet[:, 2] = -(body_height - go2.FOOT_RADIUS)
    return feet
