"""Instruction following on held-out houses: SR, SPL, navigation error, collisions and time per method.

Episodes: per house seed, instructions of four kinds generated with ground truth from the scene JSON: object ("go to
the red sofa"), room ("go to the kitchen"), relational ("walk to the chair next to the table") and multi-step ("go to
the tv, then go to the office" / "..., then come back"). A relational instruction is unambiguous under the stack's own
meaning of "next to" (within reasoner.NEAR_M): no rival of the target's label is next to any object of the anchor's
label (RIVAL_MARGIN_M). No episode starts inside its first success region (START_CLEAR_M). Success: every step's
target region visited in order and the robot stopped within 1.0 m of the last one (inside it for a room), on the
target's side of any wall (a cell within 1.0 m that only a wall separates from it does not count). SPL = S * l /
max(p, l), l the ground-truth geodesic (A* on the ground-truth grid with the robot radius, smoothed) through the
steps' success regions.

Methods, side by side on the same episodes and the same base:
  groundfm: the full fast-in-slow stack (navigation/navigator.py): instruction parsing, slow-system grounding on the
            scene graph, A* re-planning at the 1:n chunk rate, pure pursuit at 20 Hz, depth guard on rendered depth.
  oracle:   ground-truth targets and the geodesic path on the ground-truth map, same servo (upper bound).
  naive:    ground-truth targets, straight line to the nearest point of each target region, no map (lower bound).
Datasets:
  house_heldout_* (default): the three methods on a LABELLED KINEMATIC BASE with ground-truth stand-ins (below).
  sim_heldout (`--dataset sim_heldout`): the legged full stack as real processes, the default launch without scene QA:
            sim (MuJoCo Go2, lockstep) + control (trot gait) + depth (SGBM on the stereo pair) + mapping (live
            map/occupancy, map/objects) + navigation, with the Navigate action sent over DDS. Navigation reads only
            mapping's map and objects and the depth node's depth; rooms come from the sim floor plan (flagged stand-in,
            nothing in the stack names rooms), object classes from the sim's oracle instance labels inside mapping.
            `--depth sim_gt` (dataset sim_heldout_gtdepth) swaps the depth node for the sim's ground-truth depth
            (flagged stand-in) to separate navigation from stereo-depth errors in the map.
            Method groundfm only. Episodes run one after another in one bring-up per house (the robot starts where
            the last episode ended and the map persists; a fallen robot gets a fresh bring-up). Measured from
            odometry: path length from poses averaged over 0.6 s and taken every 0.5 s (the trot's sway is not path),
            collisions as rising edges of the Go2 footprint overlapping a ground-truth wall or furniture footprint at
            5 Hz, time in sim seconds from goal to result.
  `--map revealed` (dataset suffix _revealed): the kinematic base starts with an empty map and scene graph; every 0.5
            s, what the head camera's view (86 deg, to mapping's 6 m depth range) reaches on the ground-truth grid is
            added, with the objects it saw (groundfm.bench.revealed_map, STAND-IN for mapping): exploration and search
            without depth noise or box errors.
BASE (clearly labelled): 'kinematic' integrates the commanded (v, w) as a unicycle in 2-D and teleports the MuJoCo
free joint only to render the head camera's depth; it is not the legged robot. Collisions are counted from the Go2's
0.70 x 0.31 m footprint against wall and furniture footprints (a colliding step slides along them). STAND-INS: the scene
graph and the occupancy grid are the sim's ground truth (mapping #5 and scene #6 are not wired into this benchmark).
"""

import argparse
import math
import os
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from groundfm.bench.results import THIS_PROJECT, Results

HELD_OUT_SEEDS = [1000, 1001, 1002, 1003, 1004]  # never used while developing (tests use seeds 3 and 100)
KINDS = ('object', 'room', 'relational', 'multi')
REVEAL_PERIOD_S = 0.5  # --map revealed: the map and the seen objects are updated this often (mapping's rate) [s]
# The body radius of the benchmark's own geometry: which targets count as reachable when episodes are made, and the
# geodesic that SPL divides by. Fixed here, so a navigator setting (robot_radius) cannot change episodes or SPL [m].
BODY_RADIUS_M = 0.22
# A relational instruction is made only when it names one object: no other object of the target's label
# lies within the stack's 'next to' (reasoner.NEAR_M) of any object of the anchor's label, nor within this much of
# the target's own gap, so mapped-box errors of a few decimetres cannot swap them [m].
RIVAL_MARGIN_M = 0.3
# An object goal's footprint is at least this far from the start: the robot does not start inside the success
# region (1.0 m), as it did for a long shelf whose centre was 1.5 m away [m].
START_CLEAR_M = 1.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark-specific options."""
    parser.set_defaults(seeds=HELD_OUT_SEEDS)
    parser.add_argument('--episodes', type=int, default=8, help='episodes per house (cycling through the kinds)')
    parser.add_argument('--methods', nargs='+', default=['groundfm', 'oracle', 'naive'])
    parser.add_argument('--base', choices=['kinematic'], default='kinematic',
                        help='robot base of the house_heldout dataset (the legged base: --dataset sim_heldout)')
    parser.add_argument('--no-depth', action='store_true', help='skip depth rendering (no depth guard)')
    parser.add_argument('--map', choices=['ground_truth', 'revealed'], default='ground_truth',
                        help='house_heldout: the whole ground-truth map and scene graph from the start, or only what '
                             "the head camera's view (to mapping's depth range) revealed of them so far (exploration; "
                             'STAND-IN for mapping)')
    parser.add_argument('--action-space', choices=['continuous', 'discrete'], default='continuous')
    parser.add_argument('--time-limit', type=float, default=150.0, help='sim seconds per episode')
    parser.add_argument('--dataset', choices=['house_heldout', 'sim_heldout'], default='house_heldout',
                        help='house_heldout: kinematic base, three methods; sim_heldout: the legged full stack as '
                             'real processes (sim, control, depth, mapping, navigation), method groundfm')
    parser.add_argument('--depth', choices=['node', 'sim_gt'], default='node',
                        help="sim_heldout: depth for mapping and navigation's guard: 'node' (the depth node, SGBM by "
                             "default) or 'sim_gt' (STAND-IN: the sim's ground-truth depth, depth node off; dataset "
                             "sim_heldout_gtdepth)")
    parser.add_argument('--trace', metavar='DIR', default='',
                        help='sim_heldout: write each episode\'s odometry and messages here (JSON)')
    parser.add_argument('--rescore', metavar='DIR', default='',
                        help='sim_heldout: score the episodes saved by an earlier --trace DIR again with the current '
                             'success test and geodesic, instead of running the stack')
    parser.add_argument('--first-offset', type=int, default=0,
                        help="sim_heldout: episode offset of the first seed (the n-th seed's episodes start at this "
                             "plus n): re-runs one house of a longer run with the same episodes")
    parser.add_argument('--wall-limit', type=float, default=400.0,
                        help='sim_heldout: wall seconds per episode before it is cancelled')


@dataclass
class Episode:
    """One instruction with its ground-truth step targets."""

    seed: int
    kind: str
    instruction: str
    targets: list  # reasoner.Target per step


@dataclass
class Outcome:
    """What happened in one episode."""

    success: bool
    spl: float
    ne: float  # distance from the final pose to the last target region [m]
    collisions: int
    seconds: float  # sim time until the robot stopped [s]
    length: float  # travelled [m]
    geodesic: float  # shortest feasible [m]
    message: str = ''
    trace: list = field(default_factory=list)


# --- episodes -------------------------------------------------------------------------------------------------------


def make_episodes(seed: int, count: int, grid, costmap, start=None, offset: int = 0) -> list[Episode]:
    """count instructions for house seed, cycling through KINDS from KINDS[offset], each reachable on the
    ground-truth map from start (x, y) [m] (default: the house spawn)."""
    from groundfm.navigation.planner import polygon_distance, reachable_from
    from groundfm.navigation.reasoner import NEAR_M, object_target, point_target, room_target
    from groundfm.sim.house import generate_house

    house = generate_house(seed)
    rng = np.random.default_rng(seed + 7919 * offset)
    spawn = tuple(house.spawn[:2]) if start is None else (float(start[0]), float(start[1]))
    reachable = reachable_from(costmap, spawn)
    objs = [o for o in house.objects if _region_reachable(grid, reachable, o.footprint(), 0.9)]
    labels = [o.label for o in house.objects]
    spawn_room = next((r.name for r in house.rooms
                       if r.x_min <= spawn[0] <= r.x_max and r.y_min <= spawn[1] <= r.y_max), '')

    def phrase(o) -> str:
        same = [p for p in house.objects if p.label == o.label]
        if len(same) == 1:
            return f'the {o.label}'
        if sum(p.color_name == o.color_name for p in same) == 1:
            return f'the {o.color_name} {o.label}'
        return ''

    def away(o) -> bool:  # a goal is not where the robot already stands: its success region is not at the start
        gap = float(polygon_distance(np.asarray([spawn], float), o.footprint())[0])
        return math.dist(o.center[:2], spawn) > 1.5 and gap > START_CLEAR_M

    object_pool = [o for o in objs if phrase(o) and away(o)]
    kinds = [r for r in house.rooms if sum(q.kind == r.kind for q in house.rooms) == 1]
    room_pool = [r for r in kinds if r.name != spawn_room]
    relational = []
    for o in objs:
        if labels.count(o.label) < 2 or not away(o):
            continue
        others = [a for a in house.objects if a.label != o.label]
        anchor = min(others, key=lambda a: float(polygon_distance(o.footprint(), a.footprint()).min()))
        if anchor.room != o.room:  # a wall between them: nobody would say "next to"
            continue
        gap = float(polygon_distance(o.footprint(), anchor.footprint()).min())
        rivals = [float(polygon_distance(p.footprint(), a.footprint()).min()) for p in house.objects
                  if p.label == o.label and p.id != o.id for a in house.objects if a.label == anchor.label]
        if gap <= min(1.0, NEAR_M) and all(r > max(NEAR_M, gap + RIVAL_MARGIN_M) for r in rivals):
            relational.append((o, anchor))
    episodes = []
    order = [KINDS[(i + offset) % len(KINDS)] for i in range(count)]
    for kind in order:
        if kind == 'object' and object_pool:
            o = object_pool[rng.integers(len(object_pool))]
            episodes.append(Episode(seed, kind, f'go to {phrase(o)}', [object_target(_node(o))]))
        elif kind == 'room' and room_pool:
            r = room_pool[rng.integers(len(room_pool))]
            episodes.append(Episode(seed, kind, f'go to the {r.kind.replace("_", " ")}', [room_target(_room(r))]))
        elif kind == 'relational' and relational:
            o, a = relational[rng.integers(len(relational))]
            episodes.append(Episode(seed, kind, f'walk to the {o.label} next to the {a.label}',
                                    [object_target(_node(o))]))
        elif kind == 'multi' and object_pool:
            o = object_pool[rng.integers(len(object_pool))]
            if room_pool and rng.random() < 0.5:
                r = room_pool[rng.integers(len(room_pool))]
                episodes.append(Episode(seed, kind, f'go to {phrase(o)}, then go to the {r.kind.replace("_", " ")}',
                                        [object_target(_node(o)), room_target(_room(r))]))
            else:
                episodes.append(Episode(seed, kind, f'go to {phrase(o)}, then come back',
                                        [object_target(_node(o)), point_target('pose', 'pose: start', spawn)]))
    return episodes


def _node(o):
    from groundfm.navigation.reasoner import ObjectNode

    return ObjectNode(o.id, o.label, o.color_name, o.center, o.size, o.yaw, o.room)


def _room(r):
    from groundfm.navigation.reasoner import RoomNode

    return RoomNode(r.name, r.kind, (r.x_min, r.y_min, r.x_max, r.y_max))


def _region_reachable(grid, reachable: np.ndarray, polygon: np.ndarray, distance: float) -> bool:
    from groundfm.navigation.planner import cells_beside

    return bool((cells_beside(grid, polygon, distance) & reachable).any())


def target_mask(grid, target, tolerance: float, room_inset: float = 0.0) -> np.ndarray:
    """Success region of a target as cells: inside a room (by room_inset [m]), else within tolerance [m] of it and on
    its side of any wall (planner.cells_beside: a cell that only a wall separates from the object is not at it)."""
    from groundfm.navigation.planner import box_mask, cells_beside

    if target.kind == 'room':
        (x0, y0), (x1, y1) = target.polygon.min(axis=0), target.polygon.max(axis=0)
        return box_mask(grid, (x0, y0, x1, y1), room_inset)
    return cells_beside(grid, target.polygon, tolerance)


class SuccessRegions:
    """The success test of an episode's steps on the ground-truth grid: target_mask at the success tolerance."""

    def __init__(self, grid, targets, tolerance: float) -> None:
        self.grid = grid
        self.masks = [target_mask(grid, t, tolerance) for t in targets]

    def reached(self, step: int, xy) -> bool:
        """True when (x, y) [m] lies in step's success region."""
        rows, cols, inside = self.grid.cells_of(np.asarray([xy], float))
        return bool(inside[0] and self.masks[step][rows[0], cols[0]])


def geodesic(grid, start_xy, targets, tolerance: float, radius: float, room_inset: float = 0.0,
             clearance_weight: float = 0.0) -> tuple[float, list]:
    """Shortest feasible length [m] through the targets' success regions in order, and the per-leg paths."""
    from groundfm.navigation.planner import build_costmap, plan_on

    costmap = build_costmap(grid, radius, clearance_weight=clearance_weight)
    total, legs, xy = 0.0, [], start_xy
    for target in targets:
        result = plan_on(costmap, xy, target_mask(grid, target, tolerance - 0.05, room_inset), radius)
        if result.path is None:
            return math.inf, legs
        total += result.length
        legs.append(result.path)
        xy = tuple(result.path[-1])
    return total, legs


# --- the base -------------------------------------------------------------------------------------------------------


class KinematicBase:
    """LABELLED KINEMATIC BASE: unicycle integration of (v, w), footprint collisions, depth from the MuJoCo house."""

    def __init__(self, house, pose, render_depth: bool) -> None:
        from groundfm.sim.house import wall_footprint

        self.house = house
        self.pose = tuple(float(v) for v in pose)
        self.obstacles = [wall_footprint(w) for w in house.walls] + [o.footprint() for o in house.objects]
        self._boxes = np.array([np.r_[p.min(axis=0), p.max(axis=0)] for p in self.obstacles])
        self.collisions = 0
        self._touching = False
        self.length = 0.0
        self.world = None
        if render_depth:
            from groundfm.sim.config import SimConfig
            from groundfm.sim.world import SimWorld

            self.world = SimWorld(house, SimConfig(scene_seed=house.seed, image_width=160, image_height=120))

    def _collides(self, pose) -> bool:
        from groundfm.navigation.local import BODY_LENGTH_M, BODY_WIDTH_M
        from groundfm.sim.house import _rect_corners, polygons_overlap

        body = _rect_corners(pose[:2], (BODY_LENGTH_M, BODY_WIDTH_M), pose[2])
        lo, hi = body.min(axis=0), body.max(axis=0)
        near = np.nonzero((self._boxes[:, 0] <= hi[0]) & (self._boxes[:, 2] >= lo[0]) & (self._boxes[:, 1] <= hi[1])
                          & (self._boxes[:, 3] >= lo[1]))[0]
        return any(polygons_overlap(body, self.obstacles[i]) for i in near)

    def step(self, v: float, w: float, dt: float, vy: float = 0.0) -> None:
        """Advance by (v [m/s], w [rad/s], vy [m/s] to the left) for dt [s]. A step into an obstacle counts as one
        collision (until the body is clear again) and slides: the first of turn only, move only, move along x only,
        move along y only that stays clear is taken, as legs slip along what they touch; none clear: the step is
        undone."""
        x, y, yaw = self.pose
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy, dyaw = (v * c - vy * s) * dt, (v * s + vy * c) * dt, w * dt
        new = (x + dx, y + dy, yaw + dyaw)
        if self._collides(new):
            if not self._touching:
                self.collisions += 1
            self._touching = True
            slides = ((x, y, yaw + dyaw), (x + dx, y + dy, yaw), (x + dx, y, yaw), (x, y + dy, yaw))
            new = next((pose for pose in slides if (pose[:2] != (x, y) or dyaw) and not self._collides(pose)),
                       self.pose)
        else:
            self._touching = False
        self.length += math.hypot(new[0] - x, new[1] - y)
        self.pose = new

    def depth_obstacles(self) -> np.ndarray:
        """Obstacle points (n, 2) [m, map frame] from the head camera's ground-truth depth at the current pose."""
        import mujoco

        from groundfm.navigation import local
        from groundfm.sim import world as sim_world

        world = self.world
        x, y, yaw = self.pose
        world.data.qpos[0:3] = x, y, 0.30
        world.data.qpos[3:7] = math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)
        world.data.qvel[:] = 0.0
        mujoco.mj_forward(world.model, world.data)
        frame = world.render_stereo()
        cam_id = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_CAMERA, sim_world._CAMS[0])
        world_from_cam = np.eye(4)
        # MuJoCo camera axes are x right, y up, -z forward; REP-103 optical is x right, y down, z forward.
        world_from_cam[:3, :3] = world.data.cam_xmat[cam_id].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        world_from_cam[:3, 3] = world.data.cam_xpos[cam_id]
        points = local.depth_to_points(frame.depth, world.camera_model.k(), world_from_cam, stride=4)
        return local.obstacle_points(points)

    def close(self) -> None:
        """Free the renderer."""
        if self.world is not None:
            self.world.close()


# --- methods --------------------------------------------------------------------------------------------------------


def run_episode(method: str, ep: Episode, house, grid, cfg, args, name: str = '') -> Outcome:
    """Run one method on one episode on the kinematic base (`--trace`: groundfm's run saved as episode_NAME)."""
    from groundfm.bench.revealed_map import RevealedMap
    from groundfm.mapping.config import MapConfig
    from groundfm.navigation import local
    from groundfm.navigation.instructions import parse_instruction
    from groundfm.navigation.navigator import FeedbackLog, Navigator
    from groundfm.navigation.reasoner import SceneGraph
    from groundfm.sim.config import SimConfig

    spawn = house.spawn
    ell, _ = geodesic(grid, spawn[:2], ep.targets, cfg.goal_tolerance_m, BODY_RADIUS_M)
    # The oracle drives a clearance-aware shortest path 0.3 m into each region (a corner-hugging geodesic would
    # scrape the 0.70 m body on door frames); l above stays the pure geodesic.
    _, legs = geodesic(grid, spawn[:2], ep.targets, cfg.goal_tolerance_m - 0.3, cfg.robot_radius, room_inset=0.3,
                       clearance_weight=cfg.clearance_weight)
    regions = SuccessRegions(grid, ep.targets, cfg.goal_tolerance_m)
    base = KinematicBase(house, spawn, render_depth=method == 'groundfm' and not args.no_depth)
    dt = 1.0 / cfg.fast_rate_hz
    t, visited, message = 0.0, 0, ''
    nav = None
    revealed, last_reveal = None, -math.inf
    if method == 'groundfm':
        nav = Navigator(cfg, parse_instruction(ep.instruction), spawn)
        if args.map == 'revealed':  # the head camera's horizontal field of view and mapping's depth range
            sim, mapping = SimConfig(), MapConfig()
            half_width = (sim.image_width / sim.image_height) * math.tan(math.radians(sim.camera_fovy_deg) / 2)
            house_json = house.to_json()
            revealed = RevealedMap(house_json, fov_deg=math.degrees(2 * math.atan(half_width)),
                                   range_m=mapping.max_depth)
        else:
            nav.set_map(grid)
            nav.set_scene(SceneGraph.from_house_json(house.to_json()))
    limiter = local.VelocityLimiter(cfg.max_speed, cfg.max_yaw_rate, cfg.max_accel, cfg.max_yaw_accel)
    leg = 0
    last_slow, last_depth, stopped_for = -math.inf, -math.inf, 0.0
    pending: list[tuple[float, float, float]] = []  # discrete action as (v, w, seconds left)
    vy = 0.0  # sideways speed: only the navigator's side step sets it [m/s]
    rows: list[tuple[float, float, float, float]] = []
    feedback = FeedbackLog()
    try:
        while t < args.time_limit:
            pose = base.pose
            if len(rows) <= t * 10:  # poses at 10 Hz for --trace
                rows.append((round(t, 3), *(float(v) for v in pose)))
            if visited < len(ep.targets) and regions.reached(visited, pose[:2]):
                visited += 1
            if method == 'groundfm':
                if revealed is not None and t - last_reveal >= REVEAL_PERIOD_S - 1e-9:  # mapping's 2 Hz
                    revealed.observe(pose)
                    nav.set_map(revealed.grid(t))
                    nav.set_scene(SceneGraph.from_house_json(dict(house_json, objects=revealed.seen_objects())))
                    last_reveal = t
                if base.world is not None and t - last_depth >= 0.1 - 1e-9:
                    nav.set_depth_obstacles(base.depth_obstacles(), t)
                    last_depth = t
                if nav.wants_slow_update or t - last_slow >= 1.0 / cfg.slow_rate_hz:
                    nav.slow_update(pose, t)
                    last_slow = t
                if pending:
                    v, w, left = pending[0]
                    pending[0] = (v, w, left - dt)
                    if pending[0][2] <= 1e-9:
                        pending.pop(0)
                else:
                    cmd = nav.fast_tick(pose, t, dt)
                    if cmd.discrete and cmd.discrete != local.STOP:
                        v, w, left = _discrete_motion(cmd.discrete, cfg)
                        pending.append((v, w, left - dt))
                    else:
                        v, w, vy = cmd.v, cmd.w, cmd.vy
                status = nav.status
                feedback.add(status.phase, status.subgoal, status.distance_remaining, status.reasoning)
                if nav.status.done:
                    message = nav.status.message
                    break
            elif method == 'oracle':
                while leg < len(legs) and math.dist(pose[:2], legs[leg][-1]) < 0.1:
                    leg += 1
                if leg >= len(legs):
                    message = 'oracle: end of the geodesic'
                    break
                v, w = local.pure_pursuit(pose, legs[leg], cfg.lookahead_m, cfg.max_speed, cfg.max_yaw_rate)
                v, w = limiter(v, w, dt)
            else:  # naive: straight at the nearest point of the current target's region
                if leg < len(ep.targets) and ep.targets[leg].reached(pose[:2], cfg.stop_distance_m):
                    leg += 1
                if leg >= len(ep.targets):
                    message = 'naive: reached every target'
                    break
                v, w = _naive(pose, ep.targets[leg], cfg)
                v, w = limiter(v, w, dt)
                stopped_for = stopped_for + dt if base._touching else 0.0
                if stopped_for > 3.0:
                    message = 'naive: blocked'
                    break
            base.step(v, w, dt, vy)
            vy = 0.0
            t += dt
        else:
            message = message or f'time limit {args.time_limit:g} s'
        final = base.pose
        if visited < len(ep.targets) and regions.reached(visited, final[:2]):
            visited += 1
        ne = ep.targets[-1].distance(final[:2])
        success = visited == len(ep.targets) and regions.reached(len(ep.targets) - 1, final[:2])
        spl = (ell / max(base.length, ell)) if success and math.isfinite(ell) else 0.0
        out = Outcome(success, spl, ne, base.collisions, t, base.length, ell, message)
        if method == 'groundfm':
            _write_trace(args.trace, name or str(ep.seed), ep, out, rows, feedback.lines)
        return out
    finally:
        base.close()


def _discrete_motion(action: str, cfg) -> tuple[float, float, float]:
    """A Nav-R1 discrete action as a constant (v, w) held for its duration [s]."""
    from groundfm.navigation import local

    speed, rate = min(cfg.max_speed, 0.4), min(cfg.max_yaw_rate, 0.8)
    if action == local.FORWARD:
        return speed, 0.0, local.FORWARD_STEP_M / speed
    sign = 1.0 if action == local.TURN_LEFT else -1.0
    return 0.0, sign * rate, local.TURN_STEP_RAD / rate


def _naive(pose, target, cfg) -> tuple[float, float]:
    from groundfm.navigation.local import wrap_angle
    from groundfm.navigation.planner import polygon_distance

    x, y, yaw = pose
    poly = target.polygon
    if target.kind == 'room':
        aim = poly.mean(axis=0)
    else:  # nearest point of the region
        samples = np.concatenate([np.linspace(a, b, 20) for a, b in zip(poly, np.roll(poly, -1, axis=0),
                                                                        strict=True)]) if len(poly) > 1 else poly
        aim = samples[np.argmin(polygon_distance(samples, np.array([[x, y]])))]
    alpha = wrap_angle(math.atan2(aim[1] - y, aim[0] - x) - yaw)
    if abs(alpha) > 0.3:
        return 0.0, math.copysign(cfg.max_yaw_rate, alpha)
    return cfg.max_speed, 1.5 * alpha


# --- the benchmark --------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Results:
    """Every method on the same episodes; metrics per instruction kind and overall."""
    from groundfm.navigation.config import NavigationConfig
    from groundfm.navigation.planner import build_costmap, grid_from_house
    from groundfm.sim.house import generate_house

    cfg = NavigationConfig(action_space=args.action_space)
    if args.dataset == 'sim_heldout':
        outcomes = rescore(args.rescore, cfg) if args.rescore else run_full_stack(args, cfg)
        return _summarise(outcomes, 'sim_heldout' + ('_gtdepth' if args.depth == 'sim_gt' else ''))
    outcomes: dict[str, dict[str, list[Outcome]]] = {}
    for seed in args.seeds:
        house = generate_house(seed)
        grid = grid_from_house(house.to_json(), cfg.map_resolution)
        costmap = build_costmap(grid, BODY_RADIUS_M)
        for i, ep in enumerate(make_episodes(seed, args.episodes, grid, costmap)):
            for method in args.methods:
                start = time.perf_counter()
                out = run_episode(method, ep, house, grid, cfg, args, name=f'{seed}_{i}')
                for key in ('all', ep.kind):
                    outcomes.setdefault(key, {}).setdefault(method, []).append(out)
                print(f'seed {seed} {ep.kind:10s} {method:8s} {"OK  " if out.success else "FAIL"} '
                      f'spl {out.spl:.2f} ne {out.ne:.2f} m coll {out.collisions} {out.seconds:5.1f} s sim '
                      f'({time.perf_counter() - start:.1f} s wall) {ep.instruction!r}: {out.message}', flush=True)
    suffix = f'{args.base}_{args.action_space}' + ('_nodepth' if args.no_depth else '') + \
        ('_revealed' if args.map == 'revealed' else '')
    return _summarise(outcomes, f'house_heldout_{suffix}')


def _summarise(outcomes: dict[str, dict[str, list[Outcome]]], prefix: str) -> Results:
    """Mean metrics per dataset (prefix = all kinds, prefix_KIND per instruction kind) and method."""
    results: Results = {}
    for key, methods in outcomes.items():
        name = prefix if key == 'all' else f'{prefix}_{key}'
        results[name] = {}
        for method, outs in methods.items():
            label = THIS_PROJECT if method == 'groundfm' else method
            results[name][label] = {
                'sr': statistics.fmean(o.success for o in outs),
                'spl': statistics.fmean(o.spl for o in outs),
                'ne': statistics.fmean(o.ne for o in outs),
                'collisions': statistics.fmean(o.collisions for o in outs),
                'seconds': statistics.fmean(o.seconds for o in outs),
                'episodes': float(len(outs)),
            }
    return results


# --- the legged full stack (dataset sim_heldout) --------------------------------------------------------------------

LAUNCH_CAPABILITIES = {'control': 'true', 'depth': 'true', 'mapping': 'true', 'navigation': 'true', 'scene': 'false'}
STANDING_M = 0.22  # base above this: the robot still stands [m]


def evaluate_trajectory(ep: Episode, trajectory: np.ndarray, grid, obstacles, tolerance: float, radius: float,
                        seconds: float, message: str) -> Outcome:
    """Score one full-stack episode from odometry rows (t, x, y, yaw) in the map frame.

    Steps count as visited in order along the trajectory; success needs every step and the final pose within
    tolerance [m] of the last target (inside a room), and the robot still standing: a result message saying it fell
    (navigator.FELL_MESSAGE) is a failure wherever it lies. Length: the odometry averaged over 0.6 s (two trot
    cycles: the gait's sway is not path) and taken every 0.5 s. Collisions are rising edges of the Go2 footprint
    overlapping a ground-truth obstacle footprint (obstacles: list of (4, 2) polygons), checked on the raw odometry
    at 5 Hz.
    """
    from groundfm.navigation.local import BODY_LENGTH_M, BODY_WIDTH_M
    from groundfm.navigation.navigator import FELL_MESSAGE
    from groundfm.sim.house import _rect_corners, polygons_overlap

    rows = _every(trajectory, 0.2)
    t = trajectory[:, 0]
    windows = [(t >= c - 0.3) & (t <= c + 0.3) for c in np.arange(t[0], t[-1], 0.5)]
    smooth = np.array([trajectory[w, 1:3].mean(axis=0) for w in windows if w.any()]  # a gap in odometry: skip it
                      + [trajectory[-1, 1:3]])
    start = (float(rows[0, 1]), float(rows[0, 2]))
    ell, _ = geodesic(grid, start, ep.targets, tolerance, radius)
    regions = SuccessRegions(grid, ep.targets, tolerance)
    visited = 0
    for _, x, y, _ in rows:
        while visited < len(ep.targets) and regions.reached(visited, (x, y)):
            visited += 1
    final = (float(rows[-1, 1]), float(rows[-1, 2]))
    last = ep.targets[-1]
    success = (visited == len(ep.targets) and regions.reached(len(ep.targets) - 1, final)
               and not message.startswith(FELL_MESSAGE))
    length = float(np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum()) if len(smooth) > 1 else 0.0
    boxes = np.array([np.r_[p.min(axis=0), p.max(axis=0)] for p in obstacles])
    collisions, touching = 0, False
    for _, x, y, yaw in rows:
        body = _rect_corners((x, y), (BODY_LENGTH_M, BODY_WIDTH_M), yaw)
        lo, hi = body.min(axis=0), body.max(axis=0)
        near = np.nonzero((boxes[:, 0] <= hi[0]) & (boxes[:, 2] >= lo[0]) & (boxes[:, 1] <= hi[1])
                          & (boxes[:, 3] >= lo[1]))[0]
        hit = any(polygons_overlap(body, obstacles[i]) for i in near)
        collisions += int(hit and not touching)
        touching = hit
    spl = (ell / max(length, ell)) if success and math.isfinite(ell) and ell > 0 else (1.0 if success else 0.0)
    return Outcome(success, spl, last.distance(final), collisions, seconds, length, ell, message)


def _gt_depth_params() -> str:
    """A copy of the installed config/robot_dog.yaml with mapping and navigation on sim/depth_gt (STAND-IN)."""
    import tempfile

    import yaml
    from ament_index_python.packages import get_package_share_directory

    from groundfm.io import atomic_write_text

    with open(f'{get_package_share_directory("groundfm")}/config/robot_dog.yaml') as f:
        params = yaml.safe_load(f)
    params['mapping']['ros__parameters']['depth_source'] = 'sim_gt'
    params['navigation']['ros__parameters']['depth_topic'] = 'sim/depth_gt'
    path = f'{tempfile.gettempdir()}/groundfm_nav_bench_gtdepth_{os.getpid()}.yaml'
    atomic_write_text(path, yaml.safe_dump(params, sort_keys=False))
    return path


def _every(trajectory: np.ndarray, period: float) -> np.ndarray:
    """Rows of trajectory at least period [s] apart (the first and the last kept)."""
    keep = [0]
    for i in range(1, len(trajectory)):
        if trajectory[i, 0] - trajectory[keep[-1], 0] >= period or i == len(trajectory) - 1:
            keep.append(i)
    return trajectory[keep]


class _Stack:
    """One bring-up of the default launch (without scene QA) for a house seed, on a leased ROS domain."""

    def __init__(self, seed: int, depth: str = 'node', startup_timeout: float = 180.0) -> None:
        from groundfm.demo import STANDING_HEIGHT_M, _Observer
        from groundfm.ros.launcher import LaunchSession

        arguments = {'scene_seed': str(seed), **LAUNCH_CAPABILITIES}
        if depth == 'sim_gt':
            arguments.update(depth='false', params_file=_gt_depth_params())
        self.session = LaunchSession('robot_dog', arguments)
        self.observer = None
        started = time.monotonic()
        try:
            self.session.start()
            self.observer = obs = _Observer(quiet=True)
            obs.wait('house ground truth on sim/scene', lambda: obs.scene is not None, startup_timeout)
            obs.wait('the robot standing up', lambda: obs.height() > STANDING_HEIGHT_M, startup_timeout)
            obs.wait('the first map on map/occupancy', lambda: obs.map_cells > 1, startup_timeout)
        except BaseException:
            self.close()
            raise
        self.startup_s = time.monotonic() - started

    def pose(self) -> tuple[float, float, float]:
        """Latest odometry (x, y, yaw) [m, rad]."""
        with self.observer.lock:
            return self.observer.pose

    def close(self) -> None:
        """Stop the client and every process of the launch."""
        if self.observer is not None:
            self.observer.close()
        self.session.stop()


def run_full_stack(args: argparse.Namespace, cfg) -> dict[str, dict[str, list[Outcome]]]:
    """Episodes on the legged full stack, the Navigate action over DDS; outcomes per kind for method groundfm."""
    from groundfm.navigation.planner import build_costmap, grid_from_house
    from groundfm.ros.domain import BENCH_DOMAIN_IDS, lease_domain_id, release_domain_id
    from groundfm.sim.house import House, wall_footprint

    domain = lease_domain_id(BENCH_DOMAIN_IDS)
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    print(f'sim_heldout: legged full stack on ROS domain {domain}: sim, '
          + ', '.join(k for k, v in LAUNCH_CAPABILITIES.items() if v == 'true' and not (k == 'depth' and
                                                                                    args.depth == 'sim_gt'))
          + ('; STAND-IN: mapping and navigation on sim/depth_gt' if args.depth == 'sim_gt' else ''), flush=True)
    outcomes: dict[str, dict[str, list[Outcome]]] = {}
    try:
        for n, seed in enumerate(args.seeds):
            stack = _Stack(seed, args.depth)
            try:
                house = House.from_json(stack.observer.scene)
                grid = grid_from_house(stack.observer.scene, cfg.map_resolution)
                costmap = build_costmap(grid, BODY_RADIUS_M)
                obstacles = [wall_footprint(w) for w in house.walls] + [o.footprint() for o in house.objects]
                print(f'seed {seed}: stack up in {stack.startup_s:.1f} s', flush=True)
                for k in range(args.episodes):
                    if stack.observer.height() < STANDING_M or stack.observer.control_mode == 'fallen':
                        # a fall ends this bring-up (control damps the joints; a base leaning on furniture stays
                        # high): start a fresh one
                        print(f'seed {seed}: the robot is down; bringing the stack up again', flush=True)
                        stack.close()
                        stack = _Stack(seed, args.depth)
                    pose = stack.pose()
                    offset = args.first_offset + n + k
                    episodes = make_episodes(seed, 1, grid, costmap, start=pose[:2], offset=offset)
                    if not episodes:
                        continue
                    ep = episodes[0]
                    out = _full_stack_episode(stack, ep, grid, obstacles, cfg, args, f'{seed}_{k}', offset)
                    for key in ('all', ep.kind):
                        outcomes.setdefault(key, {}).setdefault('groundfm', []).append(out)
                    print(f'seed {seed} {ep.kind:10s} groundfm {"OK  " if out.success else "FAIL"} spl {out.spl:.2f} '
                          f'ne {out.ne:.2f} m coll {out.collisions} {out.seconds:5.1f} s sim, {out.length:.1f} m '
                          f'(geodesic {out.geodesic:.1f} m) {ep.instruction!r}: {out.message}', flush=True)
            finally:
                stack.close()
    finally:
        release_domain_id(domain)
    return outcomes


def _full_stack_episode(stack: _Stack, ep: Episode, grid, obstacles, cfg, args, name: str, offset: int) -> Outcome:
    obs = stack.observer
    with obs.lock:
        first = len(obs.trajectory)
    first_line = len(stack.session.lines)
    sim_start = obs.sim_time
    try:
        result, _feedback = obs.navigate(ep.instruction, args.wall_limit, timeout_s=args.time_limit)
        message = result.message
    except TimeoutError:
        _feedback = []
        message = f'no result within {args.wall_limit:g} wall seconds (cancelled)'
    time.sleep(0.3)  # the last odometry after the stop
    seconds = (obs.sim_time or 0.0) - (sim_start or 0.0)
    with obs.lock:
        rows = np.array([(t, x, y, yaw) for t, x, y, _z, yaw in obs.trajectory[max(first - 1, 0):]])
    out = evaluate_trajectory(ep, rows, grid, obstacles, cfg.goal_tolerance_m, BODY_RADIUS_M, seconds, message)
    _write_trace(args.trace, name, ep, out, rows.tolist(), _feedback, offset, stack.session.lines[first_line:])
    _write_map(args.trace, name, obs.map_msg)
    return out


def _write_trace(folder: str, name: str, ep: Episode, out: Outcome, rows: list, feedback: list[str],
                 offset: int | None = None, log: list[str] = ()) -> None:
    """`--trace DIR`: one episode's instruction, outcome, poses (t, x, y, yaw) and feedback lines as JSON, with the
    episode generator's offset (for `--rescore`) and what the launch printed meanwhile (every node's log lines)."""
    if not folder:
        return
    from pathlib import Path

    from groundfm.io import atomic_write_json

    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(folder) / f'episode_{name}.json', {
        'instruction': ep.instruction, 'kind': ep.kind, 'message': out.message, 'success': out.success,
        'spl': out.spl, 'length': out.length, 'geodesic': out.geodesic, 'seconds': out.seconds, 'offset': offset,
        'odometry_t_x_y_yaw': rows, 'feedback': feedback, 'log': list(log)})


def _write_map(folder: str, name: str, msg) -> None:
    """`--trace DIR`: mapping's map/occupancy at the episode's end as episode_NAME_map.npz: occupancy (h, w) int8
    (-1 unknown, 0 free, 100 occupied), origin (x, y) [m] and resolution [m]."""
    if not folder or msg is None:
        return
    import io
    from pathlib import Path

    from groundfm.io import atomic_write_bytes
    from groundfm.ros.convert import occupancy_grid_to_numpy

    cells, origin, resolution = occupancy_grid_to_numpy(msg)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, occupancy=cells, origin=np.array(origin), resolution=np.array(resolution))
    atomic_write_bytes(Path(folder) / f'episode_{name}_map.npz', buffer.getvalue())


def rescore(folder: str, cfg) -> dict[str, dict[str, list[Outcome]]]:
    """Score the legged episodes saved in folder (`--trace DIR` files episode_SEED_K.json) again with the current
    success test and geodesic: each episode is generated again from its seed, start pose and offset (traces without
    an offset: the seed's rank in the folder plus K, the order `run_full_stack` uses). An episode whose instruction
    comes out different is skipped with a line saying so. Time: the stored sim seconds, else the odometry's span."""
    import json
    import re
    from pathlib import Path

    from groundfm.navigation.planner import build_costmap, grid_from_house
    from groundfm.sim.house import generate_house, wall_footprint

    files = sorted(Path(folder).glob('episode_*_*.json'), key=lambda f: tuple(map(int, f.stem.split('_')[1:3])))
    seeds = sorted({int(f.stem.split('_')[1]) for f in files})
    outcomes: dict[str, dict[str, list[Outcome]]] = {}
    houses: dict[int, tuple] = {}  # seed -> (house, grid, costmap, obstacles), built once per house
    for f in files:
        seed, k = (int(v) for v in re.fullmatch(r'episode_(\d+)_(\d+)', f.stem).groups())
        trace = json.loads(f.read_text())
        if seed not in houses:
            house = generate_house(seed)
            grid = grid_from_house(house.to_json(), cfg.map_resolution)
            houses[seed] = (house, grid, build_costmap(grid, BODY_RADIUS_M),
                            [wall_footprint(w) for w in house.walls] + [o.footprint() for o in house.objects])
        _house, grid, costmap, obstacles = houses[seed]
        rows = np.asarray(trace['odometry_t_x_y_yaw'], float)
        offset = trace.get('offset')
        offset = seeds.index(seed) + k if offset is None else offset
        episodes = make_episodes(seed, 1, grid, costmap, start=rows[0, 1:3], offset=offset)
        if not episodes or episodes[0].instruction != trace['instruction']:
            print(f'{f.name}: skipped, the generator now gives '
                  f'{episodes[0].instruction if episodes else "no episode"!r} for {trace["instruction"]!r}')
            continue
        seconds = trace.get('seconds', float(rows[-1, 0] - rows[0, 0]))
        out = evaluate_trajectory(episodes[0], rows, grid, obstacles, cfg.goal_tolerance_m, BODY_RADIUS_M,
                                  seconds, trace['message'])
        for key in ('all', episodes[0].kind):
            outcomes.setdefault(key, {}).setdefault('groundfm', []).append(out)
        print(f'{f.name} {"OK  " if out.success else "FAIL"} spl {out.spl:.2f} (was {trace["spl"]:.2f}) geodesic '
              f'{out.geodesic:.1f} m (was {trace["geodesic"]:.1f}) {trace["instruction"]!r}', flush=True)
    return outcomes
