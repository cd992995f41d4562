"""High-level motion -> velocity commands, closed-loop on odometry: pure pursuit of 2-D waypoints, discrete moves.

Poses are (x [m], y [m], yaw [rad]) in odom; commands are (vx [m/s], vy [m/s], wz [rad/s]) in base_link, to be fed
to LocomotionController.set_velocity. numpy only.
"""

import math
from dataclasses import dataclass

import numpy as np

from groundfm.control.config import ControlConfig

DEFAULT_FORWARD_M = 0.25  # Nav-R1 forward step when amount is 0 [m]
DEFAULT_TURN_RAD = math.radians(30.0)  # Nav-R1 turn when amount is 0 [rad]
MAX_FORWARD_M = 5.0  # longest accepted discrete forward move [m]
MAX_TURN_RAD = math.pi  # largest accepted discrete turn [rad]
MOVE_KINDS = ('forward', 'turn_left', 'turn_right', 'stop')
_TURN_IN_PLACE_RAD = 1.0  # pure pursuit turns on the spot while the lookahead point is further off the heading
_MIN_SPEED, _MIN_TURN = 0.06, 0.15  # slowest approach speeds that still make progress [m/s], [rad/s]
_APPROACH_GAIN = 1.2  # speed per metre or rad/s per rad left [1/s]
_HEADING_GAIN = 1.5  # heading hold during a forward move [1/s]

Pose = tuple[float, float, float]
Command = tuple[float, float, float]
STOPPED: Command = (0.0, 0.0, 0.0)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _check_pose(pose) -> np.ndarray:
    p = np.asarray(pose, dtype=float)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f'pose must be 3 finite values (x, y, yaw), got {pose}')
    return p


class PurePursuit:
    """Follow a polyline of waypoints [m], shape (n, 2), odom frame, and stop at the last one."""

    def __init__(self, cfg: ControlConfig, waypoints) -> None:
        path = np.asarray(waypoints, dtype=float)
        if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0 or not np.all(np.isfinite(path)):
            raise ValueError(f'waypoints must be finite with shape (n >= 1, 2), got {path.shape}')
        self.cfg, self.path = cfg, path
        self._segment = 0  # progress: index of the segment the robot is closest to (never goes back)
        self.done = False

    def _closest(self, xy: np.ndarray) -> tuple[int, np.ndarray]:
        """Closest point to xy on the segments from the current one onwards: (segment index, point)."""
        if len(self.path) == 1:
            return 0, self.path[0]
        best = (math.inf, self._segment, self.path[self._segment])
        for i in range(self._segment, len(self.path) - 1):
            a, b = self.path[i], self.path[i + 1]
            ab = b - a
            t = float(np.clip(np.dot(xy - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
            point = a + t * ab
            dist = float(np.linalg.norm(xy - point))
            if dist < best[0] - 1e-9:
                best = (dist, i, point)
        return best[1], best[2]

    def _lookahead(self, segment: int, start: np.ndarray) -> np.ndarray:
        """The point lookahead metres along the path from start on segment (the last waypoint if the path ends)."""
        left, point = self.cfg.pursuit_lookahead_m, start
        for i in range(segment, len(self.path) - 1):
            step = self.path[i + 1] - point
            length = float(np.linalg.norm(step))
            if length >= left:
                return point + step * (left / length)
            left, point = left - length, self.path[i + 1]
        return self.path[-1]

    def command(self, pose: Pose) -> Command:
        """Velocity command for the robot at pose; STOPPED once within goal_tolerance_m of the last waypoint."""
        x, y, yaw = _check_pose(pose)
        xy = np.array([x, y])
        self._segment, closest = self._closest(xy)
        to_goal = float(np.linalg.norm(self.path[-1] - xy))
        if self.done or (to_goal < self.cfg.goal_tolerance_m and self._segment >= len(self.path) - 2):
            self.done = True
            return STOPPED
        target = self._lookahead(self._segment, closest)
        dx, dy = target - xy
        c, s = math.cos(yaw), math.sin(yaw)
        local = np.array([c * dx + s * dy, -s * dx + c * dy])
        distance = max(float(np.linalg.norm(local)), 1e-6)
        alpha = math.atan2(local[1], local[0])
        max_wz = self.cfg.max_wz_radps
        if abs(alpha) > _TURN_IN_PLACE_RAD:
            return 0.0, 0.0, math.copysign(min(max_wz, self.cfg.move_turn_rate_radps * 1.5), alpha)
        speed = min(self.cfg.pursuit_speed_mps, max(_MIN_SPEED, _APPROACH_GAIN * to_goal)) * math.cos(alpha)
        curvature = 2.0 * math.sin(alpha) / distance
        wz = speed * curvature
        if abs(wz) > max_wz:  # keep the arc, slow down
            speed, wz = speed * max_wz / abs(wz), math.copysign(max_wz, wz)
        return speed, 0.0, wz


@dataclass
class DiscreteMove:
    """One Nav-R1 move executed closed-loop on odometry from start pose: forward d, turn +-angle, or stop."""

    cfg: ControlConfig
    kind: str  # one of MOVE_KINDS
    amount: float  # [m] forward, [rad] turns; 0 = default (0.25 m, 30 deg)
    start: Pose  # odom pose when the move began

    def __post_init__(self) -> None:
        if self.kind not in MOVE_KINDS:
            raise ValueError(f'kind must be one of {MOVE_KINDS}, got {self.kind!r}')
        amount = float(self.amount)
        limit = MAX_FORWARD_M if self.kind == 'forward' else MAX_TURN_RAD
        if not math.isfinite(amount) or amount < 0.0 or amount > limit:
            raise ValueError(f'amount must be in [0, {limit:.4g}] for {self.kind}, got {self.amount}')
        if amount == 0.0:
            amount = DEFAULT_FORWARD_M if self.kind == 'forward' else DEFAULT_TURN_RAD
        self.amount = amount
        self.start = tuple(float(v) for v in _check_pose(self.start))
        self.done = self.kind == 'stop'

    def command(self, pose: Pose) -> Command:
        """Velocity command for the robot at pose; STOPPED once the move is complete."""
        x, y, yaw = _check_pose(pose)
        x0, y0, yaw0 = self.start
        if self.done:
            return STOPPED
        if self.kind == 'forward':
            left = self.amount - ((x - x0) * math.cos(yaw0) + (y - y0) * math.sin(yaw0))
            if left < self.cfg.move_distance_tolerance_m:
                self.done = True
                return STOPPED
            speed = min(self.cfg.move_speed_mps, max(_MIN_SPEED, _APPROACH_GAIN * left))
            return speed, 0.0, _HEADING_GAIN * _wrap(yaw0 - yaw)
        sign = 1.0 if self.kind == 'turn_left' else -1.0
        err = _wrap(yaw0 + sign * self.amount - yaw)
        if abs(err) < self.cfg.move_angle_tolerance_rad:
            self.done = True
            return STOPPED
        rate = min(self.cfg.move_turn_rate_radps, max(_MIN_TURN, _APPROACH_GAIN * abs(err)))
        return 0.0, 0.0, math.copysign(rate, err)
