"""The fast system's local layer: path following, depth obstacle checks, limits, Nav-R1 discrete actions. ROS-free.

Frames: poses are (x, y, yaw) in the map frame [m, rad]; commands are base_link (v forward [m/s], w yaw rate
[rad/s], counter-clockwise positive). Depth images are planar z in metres (REP-103 optical frame, NaN = no hit).
Discrete actions are Nav-R1's: forward 0.25 m, turn left 30 deg, turn right 30 deg, stop.
"""

import math
from dataclasses import dataclass

import numpy as np

FORWARD, TURN_LEFT, TURN_RIGHT, STOP = 'forward', 'turn_left', 'turn_right', 'stop'
DISCRETE_ACTIONS = (FORWARD, TURN_LEFT, TURN_RIGHT, STOP)
FORWARD_STEP_M = 0.25  # Nav-R1 forward step [m]
TURN_STEP_RAD = math.radians(30.0)  # Nav-R1 turn step [rad]
BODY_LENGTH_M, BODY_WIDTH_M = 0.70, 0.31  # Go2 footprint [m]
BODY_SWEEP_M = math.hypot(BODY_LENGTH_M / 2, BODY_WIDTH_M / 2)  # radius the body sweeps turning in place [m]
OBSTACLE_BAND_M = (0.06, 0.75)  # depth points between these heights above the floor are obstacles [m]


def wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi) [rad]."""
    return (a + math.pi) % (2 * math.pi) - math.pi


@dataclass
class Command:
    """One fast-system output: a velocity (v [m/s], w [rad/s], vy [m/s] sideways, only ever non-zero in a side step)
    or a discrete action, plus why it was chosen."""

    v: float = 0.0
    w: float = 0.0
    discrete: str = ''  # one of DISCRETE_ACTIONS in discrete mode, '' in continuous mode
    note: str = ''
    vy: float = 0.0  # base_link y, to the left [m/s]

    @property
    def is_stop(self) -> bool:
        """True for a zero velocity or a STOP action."""
        return self.discrete == STOP or (not self.discrete and self.v == 0.0 and self.w == 0.0 and self.vy == 0.0)


class VelocityLimiter:
    """Clamp (v, w), and a side step's vy (`sideways`), to speed limits and their change per tick to acceleration
    limits."""

    def __init__(self, max_speed: float, max_yaw_rate: float, max_accel: float, max_yaw_accel: float,
                 max_reverse: float = 0.0) -> None:
        self.max_speed, self.max_yaw_rate = max_speed, max_yaw_rate
        self.max_accel, self.max_yaw_accel = max_accel, max_yaw_accel
        self.max_reverse = max_reverse
        self.v = self.w = self.vy = 0.0

    def reset(self) -> None:
        """Forget the last command (the robot is known to stand still)."""
        self.v = self.w = self.vy = 0.0

    def sideways(self, vy: float, dt: float, max_speed: float) -> float:
        """Limited sideways speed vy [m/s] for a tick of dt [s]: at most max_speed, changing at most max_accel."""
        vy = float(np.clip(vy, -max_speed, max_speed))
        self.vy = float(np.clip(vy, self.vy - self.max_accel * dt, self.vy + self.max_accel * dt))
        return self.vy

    def __call__(self, v: float, w: float, dt: float, max_speed: float | None = None) -> tuple[float, float]:
        """Limited (v, w) for a tick of dt [s]; max_speed [m/s] may lower (never raise) the speed limit."""
        top = self.max_speed if max_speed is None or max_speed <= 0 else min(self.max_speed, max_speed)
        v = float(np.clip(v, -self.max_reverse, top))
        w = float(np.clip(w, -self.max_yaw_rate, self.max_yaw_rate))
        dv, dw = self.max_accel * dt, self.max_yaw_accel * dt
        self.v = float(np.clip(v, self.v - dv, self.v + dv))
        self.w = float(np.clip(w, self.w - dw, self.w + dw))
        return self.v, self.w


def closest_index(path: np.ndarray, xy) -> int:
    """Index of the path point (n, 2) nearest to xy."""
    return int(np.argmin(np.sum((path - np.asarray(xy)[None]) ** 2, axis=1)))


def lookahead_point(path: np.ndarray, xy, lookahead: float, start: int = 0) -> tuple[np.ndarray, int]:
    """The first path point at least lookahead [m] from xy after the closest point (else the last); and its index."""
    i0 = start + closest_index(path[start:], xy)
    d = np.linalg.norm(path[i0:] - np.asarray(xy)[None], axis=1)
    ahead = np.nonzero(d >= lookahead)[0]
    i = i0 + int(ahead[0]) if len(ahead) else len(path) - 1
    return path[i], i


def pure_pursuit(pose, path: np.ndarray, lookahead: float, max_speed: float, max_yaw_rate: float,
                 turn_in_place_rad: float = math.radians(50)) -> tuple[float, float]:
    """Velocity (v [m/s], w [rad/s]) following path (n, 2) from pose; slows near the end, turns in place if needed."""
    x, y, yaw = pose
    target, _ = lookahead_point(path, (x, y), lookahead)
    dx, dy = target[0] - x, target[1] - y
    alpha = wrap_angle(math.atan2(dy, dx) - yaw)
    remaining = math.hypot(path[-1][0] - x, path[-1][1] - y)
    if abs(alpha) > turn_in_place_rad:
        return 0.0, math.copysign(min(max_yaw_rate, 1.5 * abs(alpha)), alpha)
    v = max_speed * max(0.0, math.cos(alpha)) * min(1.0, remaining / 0.6 + 0.25)
    dist = max(math.hypot(dx, dy), 1e-6)
    w = 2.0 * v * math.sin(alpha) / dist + 0.8 * alpha  # pure-pursuit curvature plus a heading term
    return v, float(np.clip(w, -max_yaw_rate, max_yaw_rate))


# --- depth -> obstacles -----------------------------------------------------------------------------------------------


def depth_to_points(depth: np.ndarray, k: np.ndarray, world_from_camera: np.ndarray, stride: int = 4) -> np.ndarray:
    """Map-frame points (n, 3) [m] from a planar-z depth image (h, w) [m] of an optical-frame camera (4x4 pose)."""
    d = depth[::stride, ::stride]
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    ok = np.isfinite(d) & (d > 0.05) & (d < 8.0)
    z = d[ok]
    x = (u[ok] - k[0, 2]) / k[0, 0] * z
    y = (v[ok] - k[1, 2]) / k[1, 1] * z
    cam = np.stack([x, y, z], axis=1)
    return cam @ world_from_camera[:3, :3].T + world_from_camera[:3, 3]


def obstacle_points(points: np.ndarray, floor_z: float = 0.0, band=OBSTACLE_BAND_M) -> np.ndarray:
    """(x, y) [m] of points (n, 3) whose height above floor_z lies in band."""
    h = points[:, 2] - floor_z
    return points[(h >= band[0]) & (h <= band[1]), :2]


def body_clearance(pose, obstacles_xy: np.ndarray, v: float, w: float, horizon_s: float = 2.0,
                   steps: int = 20, margin: float = 0.05) -> float:
    """Distance [m] the body can travel along the arc (v, w) from pose before touching an obstacle (inf if none)."""
    if len(obstacles_xy) == 0:
        return math.inf
    x, y, yaw = pose
    travelled = 0.0
    dt = horizon_s / steps
    half_l, half_w = BODY_LENGTH_M / 2 + margin, BODY_WIDTH_M / 2 + margin
    near = obstacles_xy[np.sum((obstacles_xy - (x, y)) ** 2, axis=1) < (abs(v) * horizon_s + 1.0) ** 2]
    if len(near) == 0:
        return math.inf
    for _ in range(steps + 1):
        c, s = math.cos(yaw), math.sin(yaw)
        rel = near - (x, y)
        lx = rel[:, 0] * c + rel[:, 1] * s
        ly = -rel[:, 0] * s + rel[:, 1] * c
        if np.any((np.abs(lx) <= half_l) & (np.abs(ly) <= half_w)):
            return travelled
        x, y, yaw = x + v * math.cos(yaw) * dt, y + v * math.sin(yaw) * dt, yaw + w * dt
        travelled += abs(v) * dt
    return math.inf


def turn_is_clear(pose, obstacles_xy: np.ndarray, margin: float = 0.03) -> bool:
    """True if the body can turn in place: no obstacle inside its sweep circle."""
    if len(obstacles_xy) == 0:
        return True
    radius = BODY_SWEEP_M + margin
    return bool(np.all(np.sum((obstacles_xy - pose[:2]) ** 2, axis=1) > radius ** 2))


def body_gaps(pose, obstacles_xy: np.ndarray) -> np.ndarray:
    """Distance (n,) [m] from the body's footprint at pose to each obstacle point (n, 2); inside it, minus the depth."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    rel = np.asarray(obstacles_xy, float).reshape(-1, 2) - pose[:2]
    over_x = np.abs(rel[:, 0] * c + rel[:, 1] * s) - BODY_LENGTH_M / 2
    over_y = np.abs(-rel[:, 0] * s + rel[:, 1] * c) - BODY_WIDTH_M / 2
    outside = np.hypot(np.maximum(over_x, 0.0), np.maximum(over_y, 0.0))
    return np.where((over_x < 0) & (over_y < 0), np.maximum(over_x, over_y), outside)


def side_steps(pose, obstacles_xy: np.ndarray, distance: float, directions: int = 8,
               band: float = 0.3, give: float = 0.0) -> list[float]:
    """Body-frame directions [rad] (0 ahead, counter-clockwise) of straight steps of distance [m], heading kept, that
    touch no obstacle point (n, 2) on the way (or go no deeper into one the body touches already) and leave no less
    room than there is now; the roomiest first. Room is measured by crowding: the sum over obstacle points of how far
    each is inside band [m] of the footprint. A legged body caught on something that it can neither turn nor back
    away from steps aside; what holds it may not be on the map, so callers try the next direction when one is held.
    give [m]: let each point come this much nearer than it is (or deeper into the footprint) on the way: the footprint
    is a box round legs that splay and the map's cells are coarse, so a held leg may still find a way where none
    touches nothing."""
    def crowding(gaps: np.ndarray) -> float:
        return float(np.sum(np.clip(band - gaps, 0.0, None)))

    start = body_gaps(pose, obstacles_xy)
    floor, now = np.minimum(start, 0.0) - give - 1e-9, crowding(start)  # per point: no deeper than it is now (+ give)
    options = []
    for angle in np.arange(directions) * 2 * math.pi / directions:
        heading = pose[2] + angle
        gaps = [body_gaps((pose[0] + f * distance * math.cos(heading), pose[1] + f * distance * math.sin(heading),
                           pose[2]), obstacles_xy) for f in (0.25, 0.5, 0.75, 1.0)]
        if all(bool(np.all(g >= floor)) for g in gaps) and crowding(gaps[-1]) <= now + 1e-9:
            options.append((crowding(gaps[-1]), float(angle)))
    return [angle for _, angle in sorted(options)]


class DepthGuard:
    """Scale a velocity command by the free distance along its arc in the latest depth obstacles."""

    def __init__(self, stop_clearance: float, slow_clearance: float) -> None:
        self.stop_clearance, self.slow_clearance = stop_clearance, slow_clearance
        self.obstacles = np.zeros((0, 2))
        self.stamp = -math.inf

    def update(self, obstacles_xy: np.ndarray, stamp: float) -> None:
        """New obstacle points (n, 2) [m, map frame] at time stamp [s]."""
        self.obstacles = np.asarray(obstacles_xy, float).reshape(-1, 2)
        self.stamp = stamp

    def age(self, now: float) -> float:
        """Seconds since the last depth update."""
        return now - self.stamp

    def filter(self, pose, v: float, w: float) -> tuple[float, float, str]:
        """(v, w, note): v scaled down near obstacles ahead, 0 within stop_clearance; turning kept if clear."""
        if v <= 0.0:
            if w != 0.0 and not turn_is_clear(pose, self.obstacles) and \
                    body_clearance(pose, self.obstacles, 0.0, w, 0.5, 5) < math.inf:
                return 0.0, 0.0, 'depth: no room to turn'
            return v, w, ''
        free = body_clearance(pose, self.obstacles, v, w, horizon_s=max(1.0, self.slow_clearance / max(v, 1e-3)))
        if free <= self.stop_clearance:
            return 0.0, w if turn_is_clear(pose, self.obstacles) else 0.0, f'depth: blocked {free:.2f} m ahead'
        if free < self.slow_clearance:
            scale = (free - self.stop_clearance) / max(self.slow_clearance - self.stop_clearance, 1e-6)
            return v * max(scale, 0.2), w, f'depth: slowing, {free:.2f} m free'
        return v, w, ''


def apply_discrete(pose, action: str) -> tuple[float, float, float]:
    """The pose after a discrete action (forward 0.25 m, turn +-30 deg, stop)."""
    x, y, yaw = pose
    if action == FORWARD:
        return x + FORWARD_STEP_M * math.cos(yaw), y + FORWARD_STEP_M * math.sin(yaw), yaw
    if action == TURN_LEFT:
        return x, y, wrap_angle(yaw + TURN_STEP_RAD)
    if action == TURN_RIGHT:
        return x, y, wrap_angle(yaw - TURN_STEP_RAD)
    if action == STOP:
        return x, y, yaw
    raise ValueError(f'unknown discrete action {action!r}: expected one of {", ".join(DISCRETE_ACTIONS)}')


def discrete_action(pose, path: np.ndarray, lookahead: float = 0.5, goal_tolerance: float = 0.15,
                    obstacles_xy: np.ndarray | None = None) -> str:
    """Nav-R1 action toward path (n, 2): stop at the end, turn while the heading error is over 15 deg, else forward."""
    x, y, yaw = pose
    if math.hypot(path[-1][0] - x, path[-1][1] - y) <= goal_tolerance:
        return STOP
    target, _ = lookahead_point(path, (x, y), lookahead)
    alpha = wrap_angle(math.atan2(target[1] - y, target[0] - x) - yaw)
    if abs(alpha) > TURN_STEP_RAD / 2:
        return TURN_LEFT if alpha > 0 else TURN_RIGHT
    if obstacles_xy is not None and body_clearance(pose, obstacles_xy, 0.25, 0.0, 1.0, 10) <= FORWARD_STEP_M:
        return STOP
    return FORWARD


def discrete_chunk(pose, path: np.ndarray, n: int, lookahead: float = 0.5, goal_tolerance: float = 0.15,
                   obstacles_xy: np.ndarray | None = None) -> list[str]:
    """A chunk of up to n discrete actions, planned by rolling the actions forward; ends early at STOP."""
    chunk = []
    for _ in range(n):
        action = discrete_action(pose, path, lookahead, goal_tolerance, obstacles_xy)
        chunk.append(action)
        if action == STOP:
            break
        pose = apply_discrete(pose, action)
    return chunk
