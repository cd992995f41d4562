"""The locomotion controller in-process on the MuJoCo Go2 (flat floor): stand, trot, turn, stop, limits, falls, and
pushing against one piece of furniture."""

import dataclasses
import math

import numpy as np
import pytest

from groundfm.control.config import ControlConfig
from groundfm.control.controller import LocomotionController, Mode, RobotState, roll_pitch_yaw
from groundfm.geometry.rotations import quat_from_euler
from groundfm.sim.config import SimConfig
from groundfm.sim.house import CLASSES, SceneObject, flat_house
from groundfm.sim.world import MotorCommand, SimWorld

RATE_HZ = ControlConfig().control_rate_hz


@pytest.fixture(scope='module')
def world():
    w = SimWorld(flat_house(), SimConfig(world='flat'))
    yield w
    w.close()


@pytest.fixture
def robot(world):
    """A freshly reset world and controller, standing after 2 s."""
    world.reset()
    ctl = LocomotionController()
    _run(world, ctl, 2.0)
    return world, ctl


def _state(world: SimWorld) -> RobotState:
    base = world.base_state()
    q, dq, _ = world.joint_state()
    return RobotState(base.orientation_xyzw, base.angular_velocity, base.linear_velocity, q, dq)


def _run(world: SimWorld, ctl: LocomotionController, seconds: float) -> np.ndarray:
    """Close the loop at RATE_HZ for seconds; rows of (t, x, y, z, vx, vy, wz, roll, pitch, yaw) after each tick."""
    steps = round(1.0 / RATE_HZ / world.physics_dt)
    dt = steps * world.physics_dt
    rows = []
    for _ in range(round(seconds / dt)):
        t = ctl.step(_state(world), dt)
        world.set_motor_command(MotorCommand(t.q, t.dq, t.kp, t.kd, t.tau))
        world.step(steps)
        b = world.base_state()
        rows.append((world.time, *b.position, b.linear_velocity[0], b.linear_velocity[1], b.angular_velocity[2],
                     *roll_pitch_yaw(b.orientation_xyzw)))
    return np.array(rows)


def test_stands_at_the_body_height(robot):
    world, ctl = robot
    log = _run(world, ctl, 1.0)

    assert ctl.mode is Mode.STAND
    assert 0.28 <= log[-1, 3] <= 0.31, f'base at {log[-1, 3]:.3f} m'  # ~1 cm of soft foot contact under 0.30
    assert np.abs(log[:, 4:7]).max() < 0.05, 'standing still'
    assert np.abs(log[:, 7:9]).max() < 0.02, 'level'


@pytest.mark.parametrize('vx', [0.5, 0.8])
def test_trot_tracks_forward_velocity_within_10_percent(robot, vx):
    world, ctl = robot
    ctl.set_velocity(vx, 0.0, 0.0)

    log = _run(world, ctl, 4.0)

    steady = log[log[:, 0] > log[0, 0] + 1.5]
    measured = (steady[-1, 1] - steady[0, 1]) / (steady[-1, 0] - steady[0, 0])  # odom displacement along x
    assert ctl.mode is Mode.WALK and not world.fallen()
    assert measured == pytest.approx(vx, rel=0.10)
    assert abs(steady[-1, 2]) < 0.1 and abs(steady[-1, 9]) < 0.05, 'walks straight'
    assert np.abs(steady[:, 7:9]).max() < 0.1, 'attitude stays level'


def test_turns_on_the_spot(robot):
    world, ctl = robot
    ctl.set_velocity(0.0, 0.0, 0.8)

    log = _run(world, ctl, 4.0)

    steady = log[log[:, 0] > log[0, 0] + 1.5]
    yaw_rate = np.unwrap(steady[:, 9])
    rate = (yaw_rate[-1] - yaw_rate[0]) / (steady[-1, 0] - steady[0, 0])
    assert rate == pytest.approx(0.8, rel=0.10)
    assert np.hypot(*(steady[-1, 1:3] - steady[0, 1:3])) < 0.2, 'stays on the spot'


# Abrupt switches between fast turns at the declared limits (vx -0.5..1, vy +-0.3, wz +-1.5): the transitions that
# tipped the trot over (or to 0.7 rad of roll) when the reference accelerated at 1.5 m/s^2 inside a 1.5 rad/s turn.
FAST_TURN_SWITCHES = [((-0.5, 0.0, 1.5), 2.5), ((1.0, 0.3, 1.5), 3.0), ((0.0, -0.3, 1.5), 2.5),
                      ((1.0, 0.3, -1.5), 3.0), ((0.0, 0.0, -1.5), 1.5), ((0.9, 0.0, 1.0), 2.0)]


def test_abrupt_switches_between_fast_turns_do_not_fall(robot):
    world, ctl = robot
    tilt = 0.0
    for cmd, seconds in FAST_TURN_SWITCHES:
        np.testing.assert_allclose(ctl.set_velocity(*cmd), cmd)  # within the limits: nothing is clamped
        log = _run(world, ctl, seconds)
        tilt = max(tilt, np.abs(log[:, 7:9]).max())
        assert not world.fallen() and ctl.falls == 0, f'fell in {cmd}: {ctl.fall_reason}'

    assert ctl.mode is Mode.WALK
    assert tilt < 0.4, f'roll or pitch reached {tilt:.2f} rad'


def test_stop_comes_to_a_stand(robot):
    world, ctl = robot
    ctl.set_velocity(0.6, 0.0, 0.3)
    _run(world, ctl, 2.0)

    ctl.stop()
    log = _run(world, ctl, 2.0)

    assert ctl.mode is Mode.STAND
    assert np.abs(log[-25:, 4:7]).max() < 0.05
    assert not world.fallen()


def test_sit_lowers_the_body_and_stand_raises_it(robot):
    world, ctl = robot
    ctl.sit()
    sitting = _run(world, ctl, 2.5)

    ctl.stand()
    standing = _run(world, ctl, 2.5)

    assert sitting[-1, 3] < 0.19 and ctl.mode is Mode.STAND
    assert standing[-1, 3] > 0.28
    assert not world.fallen() and ctl.falls == 0


def test_limits_clamp_and_acceleration_is_limited():
    ctl = LocomotionController()

    clamped = ctl.set_velocity(5.0, -2.0, -9.0)

    cfg = ctl.cfg
    np.testing.assert_allclose(clamped, [cfg.max_vx_mps, -cfg.max_vy_mps, -cfg.max_wz_radps])
    assert 'vx = 5 is beyond its limit 1' in ctl.limit_violation(5.0, 0.0, 0.0)
    assert ctl.limit_violation(0.5, 0.0, -1.0) is None
    assert np.allclose(ctl.set_velocity(-3.0, 0.0, 0.0), [-cfg.max_vx_back_mps, 0.0, 0.0])
    # A stand-up, then one tick in STAND: the reference moves by at most max_accel * dt.
    standing = RobotState(np.array([0, 0, 0, 1.0]), np.zeros(3), np.zeros(3), ctl._stand_q.copy(), np.zeros(12))
    ctl.set_velocity(1.0, 0.0, 1.0)
    while ctl.mode is Mode.STAND_UP:
        ctl.step(standing, 0.01)
    before = ctl.reference
    ctl.step(standing, 0.01)
    np.testing.assert_allclose(ctl.reference - before, [cfg.max_accel_mps2 * 0.01, 0.0,
                                                        cfg.max_yaw_accel_radps2 * 0.01])


def test_nan_command_is_rejected_and_the_last_one_kept():
    ctl = LocomotionController()
    ctl.set_velocity(0.3, 0.0, 0.0)

    with pytest.raises(ValueError, match='velocity command'):
        ctl.set_velocity(float('nan'), 0.0, 0.0)

    np.testing.assert_allclose(ctl.command, [0.3, 0.0, 0.0])
    assert 'finite' in ctl.limit_violation(0.0, float('inf'), 0.0)


def test_a_tipped_over_robot_is_a_fall_and_goes_to_the_safe_stop(robot):
    world, ctl = robot
    world.data.qpos[3:7] = np.roll(quat_from_euler(1.3, 0.0, 0.0), 1)  # on its side (MuJoCo w, x, y, z)
    world.data.qpos[2] = 0.2

    targets = ctl.step(_state(world), 0.008)

    assert ctl.mode is Mode.FALLEN and ctl.falls == 1 and 'tilt' in ctl.fall_reason
    assert np.all(targets.kp == 0.0) and np.all(targets.kd > 0.0) and np.all(targets.tau == 0.0)
    ctl.set_velocity(0.5, 0.0, 0.0)  # commands do not leave the safe stop
    _run(world, ctl, 1.0)
    assert ctl.mode is Mode.FALLEN and ctl.falls == 1


@pytest.mark.parametrize(('label', 'offset_y', 'yaw', 'turn'), [
    ('lamp', 0.0, 0.6, 1.0), ('chair', -0.3, 0.0, -1.0), ('box', -0.2, 0.6, -1.0), ('table', 0.2, 0.6, 1.0)])
def test_turning_in_place_while_pressed_against_furniture_does_not_tip_over(label, offset_y, yaw, turn):
    """Walk 3 s into a box 0.85 m ahead (held against it or sliding along it), then turn in place for 2.5 s, as
    the navigator does when a piece of furniture was not on its map. Each case tipped over while the velocity trim
    and the heading hold wound up against the furniture (trim integrating whatever the error, heading bound 0.5 rad)."""
    size = CLASSES[label][0]
    box = SceneObject(1, label, 'red', (0.8, 0.1, 0.1), (0.85 + size[0] / 2, offset_y, size[2] / 2), size, yaw, 'x')
    world = SimWorld(dataclasses.replace(flat_house(), objects=(box,)), SimConfig(world='flat'))
    ctl = LocomotionController()
    try:
        _run(world, ctl, 2.0)
        ctl.set_velocity(0.5, 0.0, 0.0)
        pushing = _run(world, ctl, 3.0)
        ctl.set_velocity(0.0, 0.0, turn)
        turning = _run(world, ctl, 2.5)
    finally:
        world.close()

    assert pushing[-1, 1] < 1.0, 'the furniture held the body back (1.5 m asked)'
    assert ctl.mode is Mode.WALK and ctl.falls == 0, ctl.fall_reason
    assert np.abs(turning[:, 7:9]).max() < ControlConfig().fall_tilt_rad


def test_a_collapsed_robot_is_a_fall_by_height():
    ctl = LocomotionController()
    standing = RobotState(np.array([0, 0, 0, 1.0]), np.zeros(3), np.zeros(3), ctl._stand_q.copy(), np.zeros(12))
    for _ in range(200):
        ctl.step(standing, 0.01)
    crouched = RobotState(standing.orientation_xyzw, np.zeros(3), np.zeros(3),
                          np.array([0.0, 1.4, -2.7] * 4), np.zeros(12))  # legs folded: base ~0.1 m up

    ctl.step(crouched, 0.01)

    assert ctl.mode is Mode.FALLEN and 'height' in ctl.fall_reason


def test_config_names_the_bad_field():
    with pytest.raises(ValueError, match='kp'):
        ControlConfig(kp=-1.0)
    with pytest.raises(ValueError, match='sit_height_m'):
        ControlConfig(sit_height_m=0.3, body_height_m=0.28)
    assert math.isclose(ControlConfig().stance_duration_s, 0.15)


def test_benchmark_random_commands_stay_within_the_control_limits():
    from groundfm.bench.locomotion import random_schedule

    ctl = LocomotionController()
    schedule = random_schedule(0, 600.0)

    assert sum(hold for _, hold in schedule) == pytest.approx(600.0)
    assert all(ctl.limit_violation(*cmd) is None for cmd, _ in schedule), 'the node would reject these commands'
    assert max(abs(cmd[2]) for cmd, _ in schedule) > 0.95, 'the schedule includes fast turns'
