"""Locomotion controller: robot state + velocity command -> joint targets, gains and feed-forward torques. ROS-free.

Layers, per tick:
  1. fall check (roll/pitch beyond fall_tilt_rad, or the base lower than fall_height_m over the lowest foot) ->
     safe stop: zero stiffness, joint damping only (the sim's and Unitree's 'damping mode');
  2. command shaping: clamp to the velocity limits, rate-limit to the acceleration limits; a heading hold integrates
     the commanded yaw rate; a small integral trim removes steady velocity error (both with anti-windup: a body
     held against furniture does not make them push harder);
  3. gait (gait.py): trot foot targets in the gravity-aligned frame, plus a leg-length PD on roll and pitch;
  4. legs (kinematics.py): closed-form IK to joint targets, velocity feed-forward from the foot trajectories only,
     and feed-forward torques for gravity on the stance feet and for the joints' damping and friction.
Behaviours: stand up (joint-space ramp from wherever the legs are), stand, walk (trot), sit (body lowered), stop
(zero velocity: trot in place until slow, then stand with all feet down), fallen (safe stop).
"""

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from groundfm.control import kinematics
from groundfm.control.config import ControlConfig
from groundfm.control.gait import TrotGait
from groundfm.geometry.rotations import quat_to_matrix
from groundfm.sim import go2

GRAVITY = 9.81  # [m/s^2]
FALLEN_KD = 2.0  # joint damping while fallen [Nm s/rad]
_EPS_V, _EPS_W = 1e-3, 1e-3  # a command component below this is zero [m/s], [rad/s]
_STOP_SPEED, _STOP_YAW_RATE = 0.15, 0.3  # trot in place until slower than this [m/s], [rad/s]
_VELOCITY_FILTER_S = 0.03  # measured-velocity low-pass time constant [s]
_TRIM_LIMIT = 0.3  # integral trim bound [m/s]
# Anti-windup against furniture. The trim integrates only while the body follows its command within _TRIM_WINDOW
# (else it decays with time constant _TRIM_RELEASE_S), and the heading hold's error is bounded: held against a box, a
# trim and a heading reference that wind up push and twist harder still. Walking into a box and then turning in place
# or backing off (420 scripted in-process cases, 6 furniture classes) tipped the robot over in 57 cases with the trim
# always integrating and a 0.5 rad bound, in 9 with the window alone, and in none with the window and a 0.2 rad bound.
_TRIM_WINDOW = 0.15  # [m/s]
_TRIM_RELEASE_S = 0.5  # [s]
_HEADING_ERROR_LIMIT = 0.2  # heading-hold error bound [rad]
_RECOVER_STILL_S = 1.0  # a fallen robot must lie upright and still this long before it stands up [s]


class Mode(StrEnum):
    """What the controller is doing."""

    STAND_UP = 'stand_up'
    STAND = 'stand'
    WALK = 'walk'
    SIT = 'sit'
    FALLEN = 'fallen'


@dataclass
class RobotState:
    """What the controller reads each tick: base attitude and twist, joint positions and velocities."""

    orientation_xyzw: np.ndarray  # (4,) base orientation in odom
    angular_velocity: np.ndarray  # (3,) base frame [rad/s]
    linear_velocity: np.ndarray  # (3,) base frame [m/s]
    q: np.ndarray  # (12,) joint positions [rad], JOINT_NAMES order
    dq: np.ndarray  # (12,) joint velocities [rad/s]


@dataclass
class JointTargets:
    """Per-motor command, each (12,) in JOINT_NAMES order: tau = kp (q - q_m) + kd (dq - dq_m) + tau."""

    q: np.ndarray  # [rad]
    dq: np.ndarray  # [rad/s]
    kp: np.ndarray  # [Nm/rad]
    kd: np.ndarray  # [Nm s/rad]
    tau: np.ndarray  # [Nm]


def roll_pitch_yaw(orientation_xyzw: np.ndarray) -> tuple[float, float, float]:
    """Fixed-axis roll, pitch, yaw [rad] of an (x, y, z, w) quaternion."""
    r = quat_to_matrix(orientation_xyzw)
    return math.atan2(r[2, 1], r[2, 2]), math.asin(max(-1.0, min(1.0, -r[2, 0]))), math.atan2(r[1, 0], r[0, 0])


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _check_vector(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise ValueError(f'{name} must be finite with shape {shape}, got {array.shape}: {array}')
    return array


class LocomotionController:
    """Trot controller for the Go2; call set_velocity / stand / sit, then step(state, dt) at the control rate."""

    def __init__(self, cfg: ControlConfig | None = None) -> None:
        self.cfg = cfg or ControlConfig()
        if not isinstance(self.cfg, ControlConfig):
            raise ValueError(f'cfg must be a ControlConfig, got {type(self.cfg).__name__}')
        self.gait = TrotGait(self.cfg)
        self._stand_q = kinematics.leg_ik(kinematics.nominal_feet(self.cfg.body_height_m))
        self.falls = 0
        self.fall_reason = ''
        self.reset()

    def update_config(self, cfg: ControlConfig) -> None:
        """Use new settings from the next tick on (live parameter changes); the gait restarts at the next stand."""
        if not isinstance(cfg, ControlConfig):
            raise ValueError(f'cfg must be a ControlConfig, got {type(cfg).__name__}')
        self.cfg = cfg
        self._stand_q = kinematics.leg_ik(kinematics.nominal_feet(cfg.body_height_m))
        self.gait.cfg = cfg
        self.gait.set_body_height(cfg.body_height_m)

    def reset(self) -> None:
        """Forget everything: next step() stands up from the measured joint positions."""
        self.mode = Mode.STAND_UP
        self._target = np.zeros(3)  # commanded (vx, vy, wz) after clamping [m/s, m/s, rad/s]
        self._ref = np.zeros(3)  # rate-limited command
        self._trim = np.zeros(2)  # integral velocity trim [m/s]
        self._v_filt = np.zeros(2)  # filtered measured velocity, aligned frame [m/s]
        self._yaw_ref: float | None = None
        self._posture = 'stand'  # 'stand' or 'sit': what the robot should settle into
        self._height = self.cfg.body_height_m  # body height reference [m]
        self._ramp_t = 0.0  # time into the stand-up ramp [s]
        self._ramp_q0: np.ndarray | None = None
        self._still_t = 0.0
        self.gait.reset()

    # --- commands -------------------------------------------------------------------------------------------------
    def clamp_velocity(self, vx: float, vy: float, wz: float) -> np.ndarray:
        """(vx, vy, wz) clamped to the velocity limits [m/s, m/s, rad/s]; ValueError if any is not finite."""
        cmd = _check_vector('velocity command (vx, vy, wz)', [vx, vy, wz], (3,))
        c = self.cfg
        return np.array([np.clip(cmd[0], -c.max_vx_back_mps, c.max_vx_mps), np.clip(cmd[1], -c.max_vy_mps,
                         c.max_vy_mps), np.clip(cmd[2], -c.max_wz_radps, c.max_wz_radps)])

    def limit_violation(self, vx: float, vy: float, wz: float) -> str | None:
        """Why (vx, vy, wz) is not a valid command (non-finite or beyond a limit), or None if it is."""
        try:
            clamped = self.clamp_velocity(vx, vy, wz)
        except ValueError as err:
            return str(err)
        for name, value, limit in zip(('vx', 'vy', 'wz'), (vx, vy, wz), clamped, strict=True):
            if abs(value - limit) > 1e-9:
                return f'{name} = {value:g} is beyond its limit {limit:g}'
        return None

    def set_velocity(self, vx: float, vy: float, wz: float) -> np.ndarray:
        """Walk at (vx, vy, wz) [m/s, m/s, rad/s], base frame, clamped to the limits; returns the clamped command."""
        self._target = self.clamp_velocity(vx, vy, wz)
        if np.any(np.abs(self._target) > _EPS_V):
            self._posture = 'stand'
        return self._target.copy()

    def stop(self) -> None:
        """Zero velocity: trot in place until slow, then stand with all four feet down."""
        self._target = np.zeros(3)

    def stand(self) -> None:
        """Stop and stand at body_height_m (rises from a sit)."""
        self.stop()
        self._posture = 'stand'

    def sit(self) -> None:
        """Stop, then lower the body to sit_height_m."""
        self.stop()
        self._posture = 'sit'

    @property
    def command(self) -> np.ndarray:
        """The current (clamped, not yet rate-limited) velocity command (3,)."""
        return self._target.copy()

    @property
    def reference(self) -> np.ndarray:
        """The rate-limited velocity command being walked (3,)."""
        return self._ref.copy()

    # --- the tick -------------------------------------------------------------------------------------------------
    def step(self, state: RobotState, dt: float) -> JointTargets:
        """One control tick of dt [s] (clipped to [0, 0.05]) from the measured state; returns the motor command."""
        quat = _check_vector('orientation_xyzw', state.orientation_xyzw, (4,))
        w_body = _check_vector('angular_velocity', state.angular_velocity, (3,))
        v_body = _check_vector('linear_velocity', state.linear_velocity, (3,))
        q = _check_vector('q', state.q, (12,))
        dt = min(max(float(dt), 0.0), 0.05)
        roll, pitch, yaw = roll_pitch_yaw(quat)
        rot = quat_to_matrix(quat)
        cy, sy = math.cos(yaw), math.sin(yaw)
        r_ab = np.array([[cy, sy, 0.0], [-sy, cy, 0.0], [0.0, 0.0, 1.0]]) @ rot  # base -> aligned frame
        height = float(-(r_ab @ kinematics.leg_fk(q).T)[2].min() + go2.FOOT_RADIUS)  # over the lowest foot [m]

        if self.mode is not Mode.FALLEN:
            reason = self._fall_reason(roll, pitch, height)
            if reason:
                self.mode, self.fall_reason = Mode.FALLEN, reason
                self.falls += 1
                self._still_t = 0.0
        if self.mode is Mode.FALLEN:
            return self._fallen(q, roll, pitch, w_body, dt)
        if self.mode is Mode.STAND_UP:
            return self._stand_up(q, yaw, dt)

        # Command shaping: rate limits, heading hold, integral trim.
        c = self.cfg
        target = self._target if self._posture == 'stand' else np.zeros(3)
        step = np.array([c.max_accel_mps2, c.max_accel_mps2, c.max_yaw_accel_radps2]) * dt
        self._ref += np.clip(target - self._ref, -step, step)
        v_meas = (r_ab @ v_body)[:2]
        self._v_filt += (v_meas - self._v_filt) * min(1.0, dt / _VELOCITY_FILTER_S)
        self._update_mode(w_body)
        if self._yaw_ref is None or self.mode is not Mode.WALK:
            self._yaw_ref = yaw
            self._trim[:] = 0.0
        else:
            self._yaw_ref += self._ref[2] * dt
            err = _wrap(self._yaw_ref - yaw)
            if abs(err) > _HEADING_ERROR_LIMIT:
                err = math.copysign(_HEADING_ERROR_LIMIT, err)
                self._yaw_ref = yaw + err
            error = self._ref[:2] - self._v_filt
            if np.linalg.norm(error) < _TRIM_WINDOW:
                self._trim = np.clip(self._trim + c.velocity_ki * error * dt, -_TRIM_LIMIT, _TRIM_LIMIT)
            else:
                self._trim *= max(0.0, 1.0 - dt / _TRIM_RELEASE_S)
        heading = c.heading_kp * _wrap(self._yaw_ref - yaw)
        v_des = self._ref[:2] + self._trim
        wz_des = self._ref[2] + heading

        # Body height: ramp towards the posture's height (sitting only once standing still).
        goal = c.sit_height_m if self._posture == 'sit' and self.mode is not Mode.WALK else c.body_height_m
        rate = (c.body_height_m - c.sit_height_m) / c.standup_duration_s
        self._height += float(np.clip(goal - self._height, -rate * dt, rate * dt))
        if self.mode is Mode.STAND and self._height < c.body_height_m - 1e-3:
            self.mode = Mode.SIT
        elif self.mode is Mode.SIT and self._height >= c.body_height_m - 1e-3:
            self.mode = Mode.STAND

        feet = self.gait.step(dt, v_des, wz_des, self._v_filt, -(self._height - go2.FOOT_RADIUS))
        pos, vel = feet.positions, feet.velocities
        # Leg-length PD on roll and pitch: lengthen the legs on the low side.
        pos[:, 2] += (c.attitude_kp * roll + c.attitude_kd * w_body[0]) * pos[:, 1]
        pos[:, 2] -= (c.attitude_kp * pitch + c.attitude_kd * w_body[1]) * pos[:, 0]
        return self._legs(pos @ r_ab, vel @ r_ab, feet.stance, r_ab)  # row-wise r_ab.T @ p: aligned -> base

    def _fall_reason(self, roll: float, pitch: float, height: float) -> str:
        c = self.cfg
        if abs(roll) > c.fall_tilt_rad or abs(pitch) > c.fall_tilt_rad:
            return f'tilt: roll {roll:.2f} rad, pitch {pitch:.2f} rad beyond {c.fall_tilt_rad} rad'
        if self.mode in (Mode.STAND, Mode.WALK) and height < c.fall_height_m:
            return f'height: base {height:.3f} m over the lowest foot, below {c.fall_height_m} m'
        return ''

    def _update_mode(self, w_body: np.ndarray) -> None:
        moving_cmd = bool(np.any(np.abs(self._target) > _EPS_V)) and self._posture == 'stand'
        if self.mode is Mode.STAND and moving_cmd:
            self.gait.start()
            self.mode = Mode.WALK
        elif self.mode is Mode.WALK:
            if moving_cmd:
                self.gait.start()  # cancels a pending stop
            elif (np.all(np.abs(self._ref) < _EPS_V) and np.linalg.norm(self._v_filt) < _STOP_SPEED
                  and abs(w_body[2]) < _STOP_YAW_RATE):
                self.gait.request_stop()
            if not self.gait.active:
                self.mode = Mode.STAND

    def _legs(self, feet_b: np.ndarray, vel_b: np.ndarray, stance: np.ndarray, r_ab: np.ndarray) -> JointTargets:
        """Joint targets for base-frame foot positions (4, 3) and velocities (4, 3); gravity on the stance feet."""
        c = self.cfg
        q_des = kinematics.clip_to_limits(kinematics.leg_ik(feet_b))
        dq_des = kinematics.joint_velocities(q_des, vel_b)
        n_stance = max(int(stance.sum()), 1)
        force_a = np.zeros((4, 3))
        force_a[stance, 2] = -c.mass_kg * GRAVITY / n_stance  # the feet push the ground down
        tau = kinematics.joint_torques(q_des, force_a @ r_ab)
        tau += c.joint_damping * dq_des + c.joint_friction * np.tanh(dq_des / 0.05)
        tau = np.clip(tau, -go2.EFFORT_LIMITS, go2.EFFORT_LIMITS)
        return JointTargets(q_des, dq_des, np.full(12, c.kp), np.full(12, c.kd), tau)

    def _stand_up(self, q: np.ndarray, yaw: float, dt: float) -> JointTargets:
        c = self.cfg
        if self._ramp_q0 is None:
            self._ramp_q0, self._ramp_t = q.copy(), 0.0
        self._ramp_t += dt
        s = min(1.0, self._ramp_t / c.standup_duration_s)
        b = s * s * (3.0 - 2.0 * s)
        q_des = self._ramp_q0 + (self._stand_q - self._ramp_q0) * b
        if s >= 1.0:
            self.mode, self._ramp_q0 = Mode.STAND, None
            self._height, self._yaw_ref = c.body_height_m, yaw
            self._ref[:] = 0.0
            self.gait.reset()
        return JointTargets(q_des, np.zeros(12), np.full(12, c.kp), np.full(12, c.kd), np.zeros(12))

    def _fallen(self, q: np.ndarray, roll: float, pitch: float, w_body: np.ndarray, dt: float) -> JointTargets:
        upright = abs(roll) < 0.35 and abs(pitch) < 0.35 and np.linalg.norm(w_body) < 0.2
        self._still_t = self._still_t + dt if upright else 0.0
        if self.cfg.auto_recover and self._still_t >= _RECOVER_STILL_S:
            self.recover()
        # kp = 0, so q only has to be a valid target: motors refuse positions outside the joint range.
        q_valid = kinematics.clip_to_limits(q, margin=1e-3)
        return JointTargets(q_valid, np.zeros(12), np.zeros(12), np.full(12, FALLEN_KD), np.zeros(12))

    def recover(self) -> None:
        """Leave the safe stop: stand up from where the legs are (call only with the robot upright)."""
        falls, reason = self.falls, self.fall_reason
        self.reset()
        self.falls, self.fall_reason = falls, reason

    def status(self) -> dict:
        """Mode, commands and counters, JSON-ready."""
        return {'mode': self.mode.value, 'command': [round(float(v), 4) for v in self._target],
                'reference': [round(float(v), 4) for v in self._ref], 'posture': self._posture,
                'gait_phase': round(self.gait.phase, 3), 'falls': self.falls, 'fall_reason': self.fall_reason}
