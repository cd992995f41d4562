"""Diagonal trot: phase scheduler, stance and swing foot trajectories, Raibert touchdown placement. numpy only.

Feet live in the 'aligned' frame: origin at the base, z up along gravity, x forward along the heading (the base frame
with roll and pitch removed). A stance foot stays put on the ground, so in this frame it slides back with the body's
commanded twist; a swing foot goes from its lift-off point to the Raibert touchdown point
    nominal rotated by wz * Ts / 2  +  v * Ts / 2  +  raibert_gain * (v_meas - v)  +  (h / g) v x wz,
with Ts the stance duration and the last term (as in MIT Cheetah 3) putting the feet outward in a turn; it moves on a
smoothstep in x, y and a raised cosine of swing_height in z.
"""

import math
from dataclasses import dataclass

import numpy as np

from groundfm.control.config import ControlConfig
from groundfm.control.kinematics import nominal_feet

PHASE_OFFSETS = np.array([0.0, 0.5, 0.5, 0.0])  # FL, FR, RL, RR: diagonal pairs (FL, RR) and (FR, RL)
GRAVITY = 9.81  # [m/s^2]
STAND_BLEND_S = 0.5  # time constant pulling standing feet back under the hips [s]


@dataclass
class FootTargets:
    """Where the feet should be now, aligned frame: positions [m] (4, 3), velocities [m/s] (4, 3), stance (4,)."""

    positions: np.ndarray
    velocities: np.ndarray
    stance: np.ndarray


def _smoothstep(s: float) -> tuple[float, float]:
    """3 s^2 - 2 s^3 and its derivative, for s in [0, 1]."""
    return s * s * (3.0 - 2.0 * s), 6.0 * s * (1.0 - s)


class TrotGait:
    """Trot scheduler and foot trajectories; start() and request_stop() switch between trotting and standing."""

    def __init__(self, cfg: ControlConfig) -> None:
        self.cfg = cfg
        self._nominal = nominal_feet(cfg.body_height_m)[:, :2]  # (4, 2) [m]
        self.reset()

    def set_body_height(self, body_height: float) -> None:
        """Recompute the nominal footholds for a new body height [m]."""
        self._nominal = nominal_feet(body_height)[:, :2]

    def reset(self, feet_xy: np.ndarray | None = None) -> None:
        """Stand with every foot on the ground at feet_xy [m], shape (4, 2) (default: under the hips)."""
        self._xy = self._nominal.copy() if feet_xy is None else np.array(feet_xy, dtype=float).reshape(4, 2)
        self._liftoff = self._xy.copy()
        self._stance = np.ones(4, dtype=bool)
        self.phase = 0.0  # cycle phase in [0, 1)
        self.active = False
        self._stopping = False

    def start(self) -> None:
        """Begin trotting from a stand (no-op while trotting; cancels a pending stop)."""
        if not self.active:
            self.phase, self.active = 0.0, True
        self._stopping = False

    def request_stop(self) -> None:
        """Stop at the next touchdown of a diagonal pair, when all four feet are down."""
        if self.active:
            self._stopping = True

    @property
    def stopping(self) -> bool:
        """True between request_stop() and the touchdown that ends the trot."""
        return self._stopping

    def _touchdown(self, leg: int, v: np.ndarray, wz: float, v_meas: np.ndarray) -> np.ndarray:
        ts = self.cfg.stance_duration_s
        angle = wz * ts / 2
        c, s = math.cos(angle), math.sin(angle)
        x, y = self._nominal[leg]
        centrifugal = self.cfg.body_height_m / GRAVITY * np.array([v[1] * wz, -v[0] * wz])  # lean into turns
        return (np.array([c * x - s * y, s * x + c * y]) + v * ts / 2 + self.cfg.raibert_gain_s * (v_meas - v)
                + centrifugal)

    def step(self, dt: float, v: np.ndarray, wz: float, v_meas: np.ndarray, ground_z: float) -> FootTargets:
        """Advance dt [s] at body velocity v [m/s] (2,) and yaw rate wz [rad/s]; v_meas [m/s] (2,); feet at z [m]."""
        cfg = self.cfg
        v, v_meas = np.asarray(v, dtype=float), np.asarray(v_meas, dtype=float)
        positions, velocities = np.zeros((4, 3)), np.zeros((4, 3))
        positions[:, 2] = ground_z
        if not self.active:
            self._stance[:] = True
            self._xy += (self._nominal - self._xy) * min(1.0, dt / STAND_BLEND_S)
            positions[:, :2] = self._xy
            return FootTargets(positions, velocities, self._stance.copy())

        new_phase = self.phase + dt / cfg.gait_period_s
        if self._stopping:
            for boundary in (cfg.duty_factor, 1.0):  # a pair touches down here (duty 0.5: every half cycle)
                if self.phase < boundary <= new_phase:
                    new_phase, self.active, self._stopping = boundary, False, False
                    break
        self.phase = new_phase % 1.0
        leg_phase = (self.phase + PHASE_OFFSETS) % 1.0
        stance = leg_phase < cfg.duty_factor if self.active else np.ones(4, dtype=bool)
        swing_s = cfg.gait_period_s - cfg.stance_duration_s
        for leg in range(4):
            x, y = self._xy[leg]
            slide = -(v + wz * np.array([-y, x]))  # a grounded foot, seen from the moving body [m/s]
            if stance[leg]:
                if not self._stance[leg]:  # touchdown
                    self._xy[leg] = self._touchdown(leg, v, wz, v_meas)
                else:
                    self._xy[leg] += slide * dt
                positions[leg, :2] = self._xy[leg]
                velocities[leg, :2] = slide
                continue
            if self._stance[leg]:  # lift-off
                self._liftoff[leg] = self._xy[leg]
            s = (leg_phase[leg] - cfg.duty_factor) / (1.0 - cfg.duty_factor)
            target = self._touchdown(leg, v, wz, v_meas)
            b, db = _smoothstep(s)
            self._xy[leg] = self._liftoff[leg] + (target - self._liftoff[leg]) * b
            positions[leg, :2] = self._xy[leg]
            velocities[leg, :2] = (target - self._liftoff[leg]) * db / swing_s
            positions[leg, 2] = ground_z + cfg.swing_height_m * (1.0 - math.cos(2 * math.pi * s)) / 2
            velocities[leg, 2] = cfg.swing_height_m * math.pi * math.sin(2 * math.pi * s) / swing_s
        self._stance = stance.copy()
        return FootTargets(positions, velocities, stance.copy())
