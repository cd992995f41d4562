"""Validation of joint-level motor commands, as a robot's motor drivers would check them. ROS-free.

A command names its joints; every array has one entry per name. The result is reordered into the robot's actuator
order. Anything malformed raises ValueError with the field and the problem, so the node can log it and keep the last
good command.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MotorLimits:
    """What the motors accept: joint names in actuator order and per-joint limits."""

    names: tuple[str, ...]
    effort: np.ndarray  # (j,) max |torque| [N*m]
    q_min: np.ndarray  # (j,) joint position lower limit [rad]
    q_max: np.ndarray  # (j,) joint position upper limit [rad]
    kp_max: float = 500.0  # [N*m/rad]
    kd_max: float = 50.0  # [N*m*s/rad]


@dataclass(frozen=True)
class ValidatedCommand:
    """A checked motor command in actuator order; arrays of shape (j,)."""

    q: np.ndarray
    dq: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    tau: np.ndarray


def validate_motor_command(
    limits: MotorLimits,
    names: Sequence[str],
    q: Sequence[float],
    dq: Sequence[float],
    kp: Sequence[float],
    kd: Sequence[float],
    tau: Sequence[float],
) -> ValidatedCommand:
    """Check a named joint command against `limits` and reorder it; raise ValueError naming what is wrong.

    `dq` and `tau` may be empty (meaning zero), as in sensor_msgs/JointState; `q`, `kp` and `kd` may not.
    """
    names = list(names)
    unknown = [n for n in names if n not in limits.names]
    if unknown:
        raise ValueError(f'unknown joint name(s) {unknown}; expected {list(limits.names)}')
    if len(set(names)) != len(names):
        raise ValueError(f'duplicate joint names in {names}')
    missing = [n for n in limits.names if n not in names]
    if missing:
        raise ValueError(f'missing joint(s) {missing}: a command must set all {len(limits.names)} motors')
    arrays = {}
    for field, values, optional in (('q', q, False), ('dq', dq, True), ('kp', kp, False), ('kd', kd, False),
                                    ('tau', tau, True)):
        values = np.asarray(values, dtype=np.float64)
        if optional and values.size == 0:
            values = np.zeros(len(names))
        if values.shape != (len(names),):
            raise ValueError(f'{field} has {values.size} entries for {len(names)} joint names')
        if not np.all(np.isfinite(values)):
            bad = [names[i] for i in np.flatnonzero(~np.isfinite(values))]
            raise ValueError(f'{field} contains NaN or inf at joint(s) {bad}')
        arrays[field] = values
    order = [names.index(n) for n in limits.names]
    cmd = ValidatedCommand(**{field: values[order] for field, values in arrays.items()})
    _check_range('kp', cmd.kp, 0.0, limits.kp_max, limits.names)
    _check_range('kd', cmd.kd, 0.0, limits.kd_max, limits.names)
    _check_range('tau', cmd.tau, -limits.effort, limits.effort, limits.names)
    _check_range('q', cmd.q, limits.q_min, limits.q_max, limits.names)
    return cmd


def _check_range(field: str, values: np.ndarray, low, high, names: tuple[str, ...]) -> None:
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        low_b, high_b = np.broadcast_to(low, values.shape), np.broadcast_to(high, values.shape)
        i = int(bad[0])
        raise ValueError(
            f'{field} out of limits at {names[i]}: {values[i]:.4g} not in [{low_b[i]:.4g}, {high_b[i]:.4g}]'
            + (f' (and {bad.size - 1} more)' if bad.size > 1 else '')
        )
