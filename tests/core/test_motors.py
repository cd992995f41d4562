import numpy as np
import pytest

from groundfm.sim.motors import MotorLimits, validate_motor_command

NAMES = ('a_joint', 'b_joint', 'c_joint')
LIMITS = MotorLimits(NAMES, effort=np.array([10.0, 10.0, 20.0]), q_min=np.full(3, -1.0), q_max=np.full(3, 1.0))


def _cmd(**overrides):
    cmd = dict(names=list(NAMES), q=[0.1, 0.2, 0.3], dq=[], kp=[20.0] * 3, kd=[1.0] * 3, tau=[])
    cmd.update(overrides)
    return cmd


def test_reorders_into_actuator_order_and_fills_optional_arrays():
    out = validate_motor_command(LIMITS, **_cmd(names=['c_joint', 'a_joint', 'b_joint']))

    np.testing.assert_allclose(out.q, [0.2, 0.3, 0.1])
    np.testing.assert_allclose(out.dq, 0.0)
    np.testing.assert_allclose(out.tau, 0.0)


@pytest.mark.parametrize('overrides, message', [
    (dict(names=['a_joint', 'b_joint', 'x_joint']), 'unknown joint'),
    (dict(names=['a_joint', 'b_joint'], q=[0, 0], kp=[1, 1], kd=[1, 1]), 'missing joint'),
    (dict(names=['a_joint', 'a_joint', 'b_joint']), 'duplicate'),
    (dict(q=[0.1, 0.2]), 'q has 2 entries for 3'),
    (dict(kd=[1.0, float('nan'), 1.0]), 'kd contains NaN'),
    (dict(kp=[20.0, -1.0, 20.0]), 'kp out of limits at b_joint'),
    (dict(kp=[20.0, 20.0, 1e4]), 'kp out of limits at c_joint'),
    (dict(tau=[0.0, 0.0, 25.0]), 'tau out of limits at c_joint'),
    (dict(q=[0.0, 3.0, 0.0]), 'q out of limits at b_joint'),
])
def test_rejects_malformed_commands(overrides, message):
    with pytest.raises(ValueError, match=message):
        validate_motor_command(LIMITS, **_cmd(**overrides))
