"""Fast-in-slow episode logic shared by the ROS node and the benchmark: sub-goals, chunks, servo ticks. ROS-free.

Scheduling (Nav-R1's asynchronous 1:n): `slow_update` runs at cfg.slow_rate_hz (the node runs it on its own
callback group, so a slow backend never blocks the servo); `fast_tick` runs at cfg.fast_rate_hz and, every
cfg.chunk_period_s (= n chunks per slow update), re-plans on the latest map to the latest sub-goal and cuts the next
action chunk; between chunks each tick follows the chunk with the latest depth and the limits applied.
"""

import math
import threading
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from groundfm.navigation import local
from groundfm.navigation.config import NavigationConfig
from groundfm.navigation.instructions import SubGoal
from groundfm.navigation.planner import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    Costmap,
    Grid,
    PlanResult,
    box_cells,
    box_mask,
    build_costmap,
    cells_beside,
    cells_within,
    costs_from,
    densify,
    drop_specks,
    find_frontiers,
    floor_plan_walls,
    grow_to_cover,
    known_fraction,
    path_costs,
    plan_on,
    polygon_distance,
    room_path_cost,
    trail_mask,
    unseen_beside,
)
from groundfm.navigation.reasoner import NEAR_M, Decision, Observation, SceneGraph, SlowSystem, Target
from groundfm.navigation.trail import Trail

PHASE_PARSING, PHASE_EXPLORING, PHASE_NAVIGATING, PHASE_ARRIVED = 'parsing', 'exploring', 'navigating', 'arrived'
FELL_MESSAGE = 'the robot fell'  # how a Navigate result begins when the goal ended in a fall (the benchmark reads it)
ROOM_INSET_M = 0.35  # room goals: aim this far inside the walls [m]
ROOM_ARRIVED_M = 0.1  # ... and a room goal is reached once the robot's centre is this far inside them (past the
#                       doorway's wall, half 0.05 m thick) [m]
POINT_GOAL_M = 0.3  # door / pose goals: aim within this distance [m] (reached sooner: STOP_SHORT_MARGIN_M)
FRONTIER_REACHED_M = 0.6  # a frontier counts as explored within this distance [m]
PATH_END_M = 0.15  # arrived when this close to the end of the planned path [m]
MAX_PLAN_FAILURES = 3  # consecutive planning failures before the goal is given up
DEVIATION_M = 0.4  # re-plan when the robot is this far from its path [m]
GOAL_CLEARANCE_M = 0.42  # goal cells keep the whole body (half length 0.35 m + margin) off obstacles [m]
BLOCKED_REPLAN_S = 2.0  # held by the depth guard this long: mark depth obstacles on the map and re-plan [s]
BLOCK_MEMORY_S = 60.0  # where the robot was held or stuck stays marked as an obstacle this long [s]
STUCK_MARK_M = 0.3  # stuck: the path this far beyond the body's front is marked as an obstacle [m]
COVER_MARGIN_M = 1.0  # a live map is padded with unknown cells to hold the robot and the sub-goal this far inside [m]
STUCK_S = 8.0  # no progress for this long while navigating: stop short, turn to look again, or give up [s]
PROGRESS_M = 0.25  # moving this far counts as progress [m]
MAX_RECOVERIES = 2  # look-around turns after getting stuck, per step
# Commanded body motion (forward travel plus yaw at the body's turning radius) since the last progress, of which
# under HELD_FOLLOWED happened: a leg or the body is held against something the depth guard does not see. Recover at
# once rather than after STUCK_S: in 7 of the 9 falls in the legged traces, it had stood nearly still for 3-5 s [m].
HELD_COMMANDED_M = 0.6
HELD_FOLLOWED = 0.25
# Stuck within goal_tolerance_m minus this of an object: count it as reached. Mapped boxes are off by up to about
# 0.15 m: house 1004 stopped 0.90 m from a mapped chair, which was 1.04 m from the true one. A door or pose goal is
# reached within goal_tolerance_m minus this (room for localisation error on a real robot) [m].
STOP_SHORT_MARGIN_M = 0.25
# A floor-plan doorway's opening, this far either side of its wall line, is taken as open whatever the map shows
# there until the robot is held in it: stereo depth smears the jambs into the gap (house 2410: a doorway closed by a
# few such cells sent "go to the office" 12.6 m round the house for 1.7 m) [m].
DOORWAY_DEPTH_M = 0.15
SPECK_CELLS = 3  # occupied clusters smaller than this are depth speckle on a live map, not obstacles [cells]
NARROW_MARGIN_M = 0.02  # no path at robot_radius: plan again with this much over the body's half width [m]
APPROACH_MIN_M = 0.3  # an approach path shorter than this makes no progress: it counts as a planning failure [m]
APPROACH_FRESH_M = 1.0  # an approach ends at least this far from where the robot has walked (and stands) [m]
SCAN_RATE = 0.6  # yaw rate of the look-around turn [rad/s]
SCAN_ANGLE = 2 * math.pi - 0.2  # a look-around turn is complete after this much rotation [rad]
SCAN_STALL_S = 2.0  # a look-around turn whose net rotation gains under SCAN_STALL_RAD in this long is blocked [s]
SCAN_STALL_RAD = 0.15  # (a body held against furniture shakes by 0.2-0.5 rad/s in all, with no net gain) [rad]
BACKUP_M = 0.3  # stuck with an obstacle at the body: first back up this far straight back (where the map has room) [m]
RETREAT_M = 0.5  # ... or rather, where the walked trail leads back, this far along it (known free) [m]
RETREAT_ANGLE = math.radians(45)  # ... when it leaves within this of straight behind (no turning in place) [rad]
BACKUP_SPEED = 0.15  # reverse speed of the back-up [m/s]
BACKUP_SPARE_S = 2.0  # a back-up ends this long after it would at BACKUP_SPEED even if short of its end [s]
SIDE_STEP_M = 0.25  # stuck with no way back: step this far, heading kept, where the body has the most room [m]
SIDE_STEP_VIEW_M = 1.5  # ... judged on depth obstacles and map obstacles this near [m]
SIDE_STEP_TRIES = 3  # ... trying the next roomiest direction when a step is held (what holds it may be off the map)
SIDE_STEP_PROBE_S, SIDE_STEP_PROBE_M = 1.5, 0.08  # a step is held when it moved under this far in this long [s, m]
SIDE_STEP_GIVE_M = 0.1  # after the steps that touch nothing, those coming at most this much nearer to something [m]
STEP_NAMES = ('forward', 'forward-left', 'left', 'back-left', 'back', 'back-right', 'right', 'forward-right')
SHORTCUT_M = 0.5  # on a map update, a fresh path this much shorter than the rest of the current one replaces it [m]
SCAN_SPACING_M = 1.5  # entering a room to search within this of the last look-around does not turn again [m]
SEEN_DEPTH_AGE_S = 0.5  # the live-depth stop uses only depth this fresh [s]
SEEN_MIN_POINTS = 5  # ... and takes the distance to the this-th nearest depth point on the object [points]
SEEN_INSIDE_M = 0.05  # a depth point this close outside the mapped footprint still counts as on the object [m]
TURN_SWEEP_M = local.BODY_SWEEP_M + 0.03  # the map has room to turn in place this far from obstacles [m]
CRAMPED_YAW_RATE = 0.4  # in-place turns where the body would sweep into an obstacle: at most this fast [rad/s]
REVERSE_ANGLE = math.radians(120)  # the path leads this far behind and there is no room to turn: reverse along it
REVERSE_CHECK_M = 0.6  # ... when this much of the path ahead runs along the walked trail or seen free space [m]


def _run_on(way: np.ndarray, extra: float = 1.0) -> np.ndarray:
    """The way (n, 2) [m] with its last leg extended straight by extra [m]."""
    step = way[-1] - way[-2]
    return np.vstack([way, way[-1] + extra * step / max(float(np.linalg.norm(step)), 1e-9)])


@dataclass
class Status:
    """What the navigator reports: phase, sub-goal, distance left along the path [m] (-1 unknown), reasoning."""

    phase: str = PHASE_PARSING
    subgoal: str = ''
    subgoal_xy: tuple[float, float] | None = None
    distance_remaining: float = -1.0
    reasoning: str = ''
    done: bool = False
    success: bool = False
    message: str = ''


class FeedbackLog:
    """The Navigate feedback as text lines: each change of '[phase] sub-goal (d m left)', and each new reasoning
    text indented by four spaces."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._line = self._reasoning = ''

    def add(self, phase: str, subgoal: str, distance_remaining: float, reasoning: str) -> str:
        """Record one feedback; returns its status line when that changed, else ''."""
        line = f'[{phase}] {subgoal} ({distance_remaining:.2f} m left)'
        if reasoning and reasoning != self._reasoning:
            self._reasoning = reasoning
            self.lines.append(f'    {reasoning}')
        if line == self._line:
            return ''
        self._line = line
        self.lines.append(line)
        return line


def goal_mask(target: Target, grid: Grid, cfg: NavigationConfig) -> np.ndarray:
    """Boolean (h, w) of cells the fast system may stop in for this target."""
    if target.kind in ('room', 'search'):
        (x0, y0), (x1, y1) = target.polygon.min(axis=0), target.polygon.max(axis=0)
        return box_mask(grid, (x0, y0, x1, y1), min(ROOM_INSET_M, 0.25 * (x1 - x0), 0.25 * (y1 - y0)))
    radius = {'object': cfg.stop_distance_m, 'near': cfg.stop_distance_m, 'frontier': 0.5}.get(target.kind,
                                                                                            POINT_GOAL_M)
    if target.kind in ('object', 'near'):
        return cells_beside(grid, target.polygon, radius)
    return cells_within(grid, target.polygon, radius)


@dataclass
class SideStep:
    """A side step in progress (Navigator._side_step_tick)."""

    way: np.ndarray  # (2, 2) [m]: where it began, where it ends
    moving_since: float | None = None  # when the commands before it had ramped down and it set off [s]
    last_tick: float = -math.inf  # the last servo tick it ran [s]


class Navigator:
    """One Navigate goal: sub-goals from the slow system, paths and commands from the fast system."""

    def __init__(self, cfg: NavigationConfig, goals: list[SubGoal], start_pose, backend=None,
                 max_speed: float = 0.0, trail: Trail | None = None) -> None:
        self.cfg = cfg
        self.trail = trail if trail is not None else Trail(cfg.trail_memory_s)  # shared across goals by the node
        self.slow = SlowSystem(goals, backend, cfg.replan_distance_m)
        self.start = (float(start_pose[0]), float(start_pose[1]))
        self.limiter = local.VelocityLimiter(cfg.max_speed, cfg.max_yaw_rate, cfg.max_accel, cfg.max_yaw_accel,
                                             max_reverse=BACKUP_SPEED)  # only a back-up ever asks for reverse
        self.max_speed = max_speed if max_speed > 0 else cfg.max_speed
        self.guard = local.DepthGuard(cfg.stop_clearance_m, cfg.slow_clearance_m)
        self.grid: Grid | None = None
        self.scene = SceneGraph()
        self.status = Status()
        self.decision: Decision | None = None
        self.path: np.ndarray | None = None
        self.chunk: list[str] = []  # pending discrete actions
        self._lock = threading.Lock()
        self._next_chunk = -math.inf
        self._plan_failures = 0
        self._planned_for: Decision | None = None
        self._planned_grid: Grid | None = None
        self._costmap: Costmap | None = None
        self._not_worth: set[int] = set()  # anchor ids whose unseen floor is too far round to look at
        self.plans = 0
        self._blocked_since: float | None = None
        self._blocks: list[tuple[np.ndarray, float]] = []  # (points (n, 2) [m], time [s]) where the robot was held
        self._overlay: tuple | None = None  # (map, (marks, oldest mark's time), the map with the marks stamped in)
        self._want_slow = True
        self.slow_updates = 0
        self.chunks = 0
        self._covered: tuple[Grid, Grid] | None = None  # (map as received, the same padded to cover the sub-goal)
        self._approach = False  # the current path only approaches a goal that the map shows cut off
        self._scan: list[float] | None = None  # look-around turn in progress: [last yaw, turned so far] [rad]
        self._scan_whole = False  # ... that the slow system may not cut short when it sees the target (a recovery)
        self._scan_gain: tuple[float, float] | None = None  # (turned [rad], time [s]) when the turn last gained
        self.scans = 0  # look-around turns done
        self._scan_xy: tuple[float, float] | None = None  # where the last look-around turn started
        self._looked_in: set[str] = set()  # rooms a look-around turn was made in
        self._backup: tuple[np.ndarray, float, float] | None = None  # back-up in progress: (way (n, 2) [m] from
        #                                                   where it began, distance to back off [m], start time [s])
        self.backups = 0  # back-ups done
        self._aside: SideStep | None = None  # side step in progress
        self.side_steps = 0  # side steps begun (each direction tried counts)
        self._step_options: list[float] = []  # body-frame directions [rad] still to try if the side step is held
        self._frontiers_reset = False  # the visited-frontier list was cleared once for a second pass
        self._progress: list[float] | None = None  # [x, y, time, yaw, net turn, commanded motion] since progress
        self._last_tick = -math.inf
        self.recoveries = 0  # look-around turns after getting stuck, this step

    # --- inputs ---------------------------------------------------------------------------------------------------
    def set_map(self, grid: Grid) -> None:
        """The latest occupancy grid."""
        with self._lock:
            self.grid = grid

    def set_scene(self, scene: SceneGraph) -> None:
        """The latest scene graph."""
        with self._lock:
            self.scene = scene

    def set_depth_obstacles(self, obstacles_xy: np.ndarray, stamp: float) -> None:
        """Obstacle points (n, 2) [m, map frame] from the latest depth image taken at stamp [s]."""
        self.guard.update(obstacles_xy, stamp)

    @property
    def wants_slow_update(self) -> bool:
        """True when the slow system should run now (start, step reached, path failed), not at its next tick."""
        return self._want_slow

    # --- slow system ----------------------------------------------------------------------------------------------
    def slow_update(self, pose, now: float) -> Decision | None:
        """Run the slow system once on the latest scene, map and pose; returns its decision (None when done, or when the
        fast system reached the step while the slow system was deciding)."""
        if self.status.done or self.slow.done:
            return None
        with self._lock:
            grid, scene = self.grid, self.scene
        frontiers, coverage, walk, unseen = [], None, None, None
        if grid is not None:
            grid = self._walled(grid, scene)
            costs = self._path_costs(grid, pose)
            frontiers = find_frontiers(grid, self.cfg.min_frontier_cells, costs)
            coverage = {room.name: known_fraction(grid, room.bounds) for room in scene.rooms}
            walk = {room.name: room_path_cost(grid, costs, room.bounds) for room in scene.rooms}
            goal = self.slow.goals[min(self.slow.step, len(self.slow.goals) - 1)]
            if goal.anchor is not None and goal.anchor.kind == 'object':  # relational: both ends may be searched
                rooms = {room.name: room.bounds for room in scene.rooms}
                unseen = {o.id: self._unseen_beside(grid, o, costs, rooms.get(scene.room_of(o)), pose)
                          for o in scene.objects if o.label in (goal.anchor.label, goal.target.label)}
        with self._lock:
            looked = tuple(sorted(self._looked_in))
        obs = Observation(tuple(pose), self.start, frontiers, room_coverage=coverage, room_path_costs=walk,
                          looked_around=looked, unseen_beside=unseen, stamp=now)
        decision = self.slow.decide(scene, obs)
        self.slow_updates += 1
        with self._lock:
            if decision is None or decision.step_index != self.slow.step:  # the fast system reached that step
                self._want_slow = not self.slow.done  # meanwhile: decide again for the next one
                return None
            self._want_slow = False
            scanning = self._scan is not None
            if scanning and (decision.target is None or decision.exploring or self._scan_whole):
                self.status.reasoning = decision.think + ' Still looking around first.'
                return decision  # finish the turn: it shows the whole surroundings before a frontier is chosen
            self._scan = None
            # Look-around turns wait for a spot with room to turn: a doorway or a gap between furniture tips the dog
            # over (legs catch on a jamb); it walks on towards the sub-goal and turns at a later update.
            roomy = self._room_to_turn(pose)
            note = ''
            if decision.exploring and self.cfg.look_around_first and self.scans == 0 and not scanning:
                if roomy:
                    return self._start_scan(decision, pose, ' The target is not in view: first turn in place once to '
                                                             'map the surroundings, then explore.')
                note = ' No room to turn in place here: look around further on.'
            room = scene.room_at(pose[:2]) if decision.exploring and self.cfg.look_around_each_room else None
            entered = room is not None and room.name != getattr(scene.room_at(self.start), 'name', None)
            if entered and room.name not in self._looked_in and not scanning:
                if roomy:
                    return self._start_scan(decision, pose, f' Just entered {room.name}: turn in place once to look '
                                                            'around it, then explore.')
                note = f' Just entered {room.name}, with no room to turn here: look around it further in.'
            self.decision = decision
            self.status.reasoning = decision.think + note
            if decision.target is None:
                if self.scans == 0 and not scanning:  # nothing to go to and nothing left to explore: look around once
                    decision.think = decision.think.replace('; stop.', '.')
                    return self._start_scan(decision, pose, ' Before giving up, turn in place once to map the '
                                                            'surroundings.')
                if not self._frontiers_reset and self.slow.visited_frontiers:  # the map has grown since: once more
                    self._frontiers_reset = True
                    self.slow.visited_frontiers.clear()
                    self._want_slow = True
                    self.decision = None
                    self.status.reasoning = decision.think.replace('; stop.', '.') + \
                        ' The map has grown since: look at every frontier again once.'
                    return decision
                self._finish(False, f'gave up on step {decision.step_index + 1}: {decision.think}')
                return decision
            self.status.phase = PHASE_EXPLORING if decision.exploring else PHASE_NAVIGATING
            self.status.subgoal = decision.target.name
            self.status.subgoal_xy = decision.target.center
            if decision.replan:
                self._next_chunk = -math.inf  # re-plan at the next fast tick
        return decision

    def _unseen_beside(self, grid: Grid, obj, costs: np.ndarray, room, pose) -> tuple[float, float] | None:
        """planner.unseen_beside for an object at either end of a relation, worth the walk from pose; one whose unseen
        floor was once too far round to be worth it stays searched for this goal (else the choice flips as the robot
        moves)."""
        if obj.id in self._not_worth:
            return None
        point = unseen_beside(grid, obj.footprint(), NEAR_M, costs, room, robot_xy=pose[:2])
        if point is None and unseen_beside(grid, obj.footprint(), NEAR_M, costs, room) is not None:
            self._not_worth.add(obj.id)
        return point

    def _path_costs(self, grid: Grid, pose) -> np.ndarray:
        """Float (h, w): cost [m] of the cheapest path from the robot to every cell of grid (inf: unreachable)."""
        costmap = self._costmap
        if costmap is None or costmap.grid is not grid:
            costmap = self._costmap_on(grid, self.cfg.robot_radius)
        return path_costs(costmap, pose[:2])

    def _costmap_on(self, grid: Grid, radius: float) -> Costmap:
        """The costmap of grid inflated by radius [m], with the walked trail passable (except where the robot was
        stuck: those marks stay obstacles)."""
        walked = trail_mask(grid, self.trail.points())
        if walked.any() and self._blocks:
            rows, cols, ok = grid.cells_of(np.concatenate([points for points, _ in self._blocks]))
            walked[rows[ok], cols[ok]] = False
        return build_costmap(grid, radius, self.cfg.clearance_weight, self.cfg.unknown_is_free, walked)

    def _start_scan(self, decision: Decision, pose, why: str, whole: bool = False) -> Decision:
        """Begin a look-around turn in place (caller holds the lock); the slow system is asked again after it. A
        turn that is not whole ends early once the slow system has a target to go to."""
        self._scan, self._scan_gain, self._scan_whole = [float(pose[2]), 0.0], None, whole
        self._scan_xy = (float(pose[0]), float(pose[1]))
        room = self.scene.room_at(pose[:2])
        if room is not None:
            self._looked_in.add(room.name)
        self.scans += 1
        self.status.phase, self.status.subgoal, self.status.subgoal_xy = PHASE_EXPLORING, 'scan', None
        self.status.reasoning = decision.think + why
        self.decision = None
        return decision

    # --- fast system ----------------------------------------------------------------------------------------------
    def fast_tick(self, pose, now: float, dt: float, busy: bool = False) -> local.Command:
        """One servo tick at pose (x, y, yaw); in discrete mode `busy` says the last action is still running."""
        with self._lock:
            decision, grid = self.decision, self.grid
        if self.status.done:
            self.limiter.reset()
            return local.Command(discrete=local.STOP if self._discrete else '', note='done')
        self.trail.add(pose[:2], now)
        if self._backup is not None:
            return self._backup_tick(pose, now, dt)
        if self._aside is not None:
            return self._side_step_tick(pose, now, dt)
        if self._scan is not None:
            return self._scan_tick(pose, now, dt, busy)
        if decision is None or decision.target is None or grid is None:
            return self._stop('waiting for the slow system' if grid is not None else 'waiting for a map', dt)
        xy = (pose[0], pose[1])
        if self._arrived(decision.target, xy):
            return self._on_arrival(decision, pose, dt)
        surface = self._surface_distance(decision.target, xy, now) if decision.target.kind == 'object' else math.inf
        if surface <= self.cfg.seen_stop_distance_m:  # the object itself is in view within reach
            return self._on_arrival(decision, pose, dt, f' (its surface in view {surface:.2f} m away)')
        if now >= self._next_chunk or self._planned_for is not decision:
            self._next_chunk = now + self.cfg.chunk_period_s
            if not self._plan_chunk(decision, grid, pose, now):
                return self._stop('no path', dt)
        if self.path is None:  # the last plan failed: try again at the next chunk, not at every tick
            return self._stop('no path; re-planning at the next chunk', dt)
        if math.dist(self.path[-1], xy) <= PATH_END_M and not busy:  # the end of a path into the goal region
            if self._approach:  # only as near as the map allows: look again from here
                self.path, self._approach, self._next_chunk = None, False, -math.inf
                if self._plan_failures >= MAX_PLAN_FAILURES and not self._look_again(decision, pose, 'Still cut off'):
                    self._finish(False, f'no path to {decision.target.name}: the map shows it cut off')
                return self._stop('approach reached; re-planning', dt)
            return self._on_arrival(decision, pose, dt)
        command = self._follow(pose, dt, busy)
        self._watch_blockage(command, now)
        return self._watch_progress(decision, pose, now, dt, command) or command

    def _watch_progress(self, decision: Decision, pose, now: float, dt: float,
                        command: local.Command) -> local.Command | None:
        """Recovery when the robot makes no progress for STUCK_S (the depth guard keeps holding it, e.g. on stereo
        noise), or sooner when it is held (it does not follow what it is commanded, HELD_COMMANDED_M): stop short when
        the stop point is within the success margin, else back up (or, held or wedged with no way back, step aside)
        or turn in place once to refresh the map and the depth view and ask the slow system again, else give up. None
        when there is nothing to do."""
        paused = now - self._last_tick > 1.0  # a safety hold skipped the servo: that time is not being stuck
        self._last_tick = now
        if self._progress is None or paused or math.dist(self._progress[:2], pose[:2]) >= PROGRESS_M:
            self._progress = [float(pose[0]), float(pose[1]), now, float(pose[2]), 0.0, 0.0]
            return None
        x0, y0, since, last_yaw, turned, commanded = self._progress
        turned += local.wrap_angle(pose[2] - last_yaw)
        commanded += (abs(command.v) + abs(command.w) * local.BODY_SWEEP_M) * dt
        self._progress[3:] = [float(pose[2]), turned, commanded]
        followed = math.dist((x0, y0), pose[:2]) + abs(turned) * local.BODY_SWEEP_M
        held = commanded >= HELD_COMMANDED_M and followed < HELD_FOLLOWED * commanded
        if now - since < STUCK_S and not held:
            return None
        self._progress = None
        if held:
            self.status.reasoning += (f' The body is held: {followed:.2f} m of {commanded:.2f} m commanded motion '
                                      'happened (a leg against something out of view).')
        if (short := self._short_of(decision, pose)) is not None:
            return self._on_arrival(decision, pose, dt, short)
        if decision.exploring:
            self.slow.mark_failed(decision.target)
        if self.recoveries >= MAX_RECOVERIES:
            self._finish(False, f'stuck on the way to {decision.target.name}: no progress after '
                                f'{MAX_RECOVERIES} look-around turns')
            return self._stop('stuck', dt)
        self.recoveries += 1
        self._mark_path_ahead(pose, now)
        wedged = not self._room_to_turn(pose)
        with self._lock:
            self._scan, self._scan_gain, self._scan_whole = [float(pose[2]), 0.0], None, False
            self.decision, self.path = None, None
            back = self._way_back(pose) if (wedged or held) and not self._discrete else None
            if back is not None:
                way, distance, how = back
                self._backup = (way, distance, now)
                self.backups += 1
                self.status.reasoning += (f' No progress and an obstacle at the body: back up {distance:g} m {how}, '
                                          'turn in place to look again, then re-plan.')
                return self._stop('stuck: backing up', dt)
            self._step_options = self._side_steps(pose) if (wedged or held) and not self._discrete else []
            if self._step_options:
                how = self._begin_side_step(pose, now)
                self.status.reasoning += (f' No progress, an obstacle at the body and no way back: step '
                                          f'{SIDE_STEP_M:g} m {how}, where the body has the most room, turn in place '
                                          'to look again, then re-plan.')
                return self._stop('stuck: stepping aside', dt)
            self.status.reasoning += ' No progress: turn in place to look again, then re-plan.'
        return self._stop('stuck: looking around', dt)

    def _look_again(self, decision: Decision, pose, why: str) -> bool:
        """Before a goal the map shows cut off is given up: turn in place (a recovery, counted with the stuck ones)
        so that fresh views can clear stereo noise from the map, then plan again. False when the step has had its
        turns or the robot already looked around from here."""
        if self.recoveries >= MAX_RECOVERIES or (self._scan_xy is not None
                                                 and math.dist(self._scan_xy, pose[:2]) <= SCAN_SPACING_M):
            return False
        self.recoveries += 1
        self._plan_failures = 0
        with self._lock:
            self.path, self._approach = None, False
            self._start_scan(decision, pose, f' {why}: turn in place to look again, then re-plan.', whole=True)
        return True

    def _short_of(self, decision: Decision, pose) -> str | None:
        """The arrival note when the robot, with no way on, stands short of the stop point of an object target but
        within the success margin (goal_tolerance_m less STOP_SHORT_MARGIN_M); None otherwise."""
        gap = decision.target.distance(pose[:2])
        if decision.target.kind != 'object' or gap > self.cfg.goal_tolerance_m - STOP_SHORT_MARGIN_M:
            return None
        return f' (stopped {gap:.2f} m from it, short of {self.cfg.stop_distance_m:g} m: the way ahead is blocked)'

    def _room_to_turn(self, pose) -> bool:
        """True when neither the latest depth nor the planning costmap shows an obstacle inside the circle the body
        sweeps turning in place (the map also holds what is below the camera's view: a door frame at a leg)."""
        if not local.turn_is_clear(pose, self.guard.obstacles):
            return False
        costmap = self._costmap
        if costmap is None:
            return True
        row, col = costmap.grid.cell_of(pose[:2])
        return not costmap.grid.inside((row, col)) or costmap.distance[row, col] >= TURN_SWEEP_M

    def _way_back(self, pose) -> tuple[np.ndarray, float, str] | None:
        """Where to back up to when stuck with an obstacle at the body: (way (n, 2) [m] from pose, distance to back
        off [m], how). RETREAT_M back along the walked trail, which is free whatever the map shows, when it leaves
        within RETREAT_ANGLE of straight behind; else BACKUP_M straight back when the map shows room there; else
        None. The way runs on straight past that distance, so the pursuit does not slow down for its end."""
        way = self.trail.way_back(pose[:2], RETREAT_M)
        if way is not None:
            behind, _ = local.lookahead_point(way, pose[:2], BACKUP_M)
            away = math.atan2(behind[1] - pose[1], behind[0] - pose[0])
            if abs(local.wrap_angle(away - pose[2] - math.pi)) <= RETREAT_ANGLE:
                return _run_on(way), RETREAT_M, 'along the way it came'
        if not self._rear_is_clear(self._planned_grid or self.grid, pose):
            return None
        behind = (pose[0] - BACKUP_M * math.cos(pose[2]), pose[1] - BACKUP_M * math.sin(pose[2]))
        return _run_on(np.array([pose[:2], behind], float)), BACKUP_M, 'straight back'

    def _rear_is_clear(self, grid: Grid | None, pose) -> bool:
        """True when the map shows no obstacle in the strip the body sweeps backing up BACKUP_M (unknown is clear:
        the robot came that way)."""
        if grid is None:
            return False
        c, s = math.cos(pose[2]), math.sin(pose[2])
        back = np.linspace(-local.BODY_LENGTH_M / 2 - BACKUP_M, -local.BODY_LENGTH_M / 2, 8)
        side = np.linspace(-local.BODY_WIDTH_M / 2, local.BODY_WIDTH_M / 2, 5)
        lx, ly = (a.ravel() for a in np.meshgrid(back, side))
        xy = np.stack([pose[0] + lx * c - ly * s, pose[1] + lx * s + ly * c], 1)
        rows, cols, ok = grid.cells_of(xy)
        return not (grid.data[rows[ok], cols[ok]] == OCCUPIED).any()

    def _backup_tick(self, pose, now: float, dt: float) -> local.Command:
        """One tick of the back-up: backwards along its way at up to BACKUP_SPEED (pure pursuit on the reversed
        heading, never turning in place) until the robot is its distance from where it began, or BACKUP_SPARE_S
        after it should have been; then the look-around turn."""
        way, distance, since = self._backup
        gone = math.dist(way[0], pose[:2])
        if gone >= distance or now - since >= distance / BACKUP_SPEED + BACKUP_SPARE_S:
            self._backup, self._progress = None, None
            return self._stop('backed up; looking around', dt)
        v, w = local.pure_pursuit((pose[0], pose[1], pose[2] + math.pi), way, BACKUP_M, BACKUP_SPEED, CRAMPED_YAW_RATE,
                                  turn_in_place_rad=math.pi)
        v, w = self.limiter(-v, w, dt)
        return local.Command(v, w, note=f'backing up ({gone:.2f} m)')

    def _side_steps(self, pose) -> list[float]:
        """Directions to step when stuck with no way back, best first (local.side_steps on the latest depth
        obstacles and the obstacles of the map as received, within SIDE_STEP_VIEW_M; not the stuck marks, which stand
        where the body could not go, not where something is): those touching nothing, then those coming at most
        SIDE_STEP_GIVE_M nearer to something (the twentieth session's runs never stepped: the map left no direction
        that touches nothing; a held step is simply tried next); at most SIDE_STEP_TRIES."""
        sources = [self.guard.obstacles]
        reach = SIDE_STEP_VIEW_M
        cells = None if self.grid is None else box_cells(self.grid, (pose[0] - reach, pose[1] - reach,
                                                                      pose[0] + reach, pose[1] + reach), 0.0)
        if cells is not None:
            rows, cols = cells
            sources.append(self.grid.center_of(np.argwhere(self.grid.occupied()[cells]) + (rows.start, cols.start)))
        points = np.concatenate(sources)
        points = points[np.hypot(points[:, 0] - pose[0], points[:, 1] - pose[1]) <= reach]
        clear = local.side_steps(pose, points, SIDE_STEP_M)
        with_give = [a for a in local.side_steps(pose, points, SIDE_STEP_M, give=SIDE_STEP_GIVE_M) if a not in clear]
        return (clear + with_give)[:SIDE_STEP_TRIES]

    def _begin_side_step(self, pose, now: float) -> str:
        """Start a side step from pose in the next direction of _step_options; returns which way, in words."""
        angle = self._step_options.pop(0)
        heading = pose[2] + angle
        end = (pose[0] + SIDE_STEP_M * math.cos(heading), pose[1] + SIDE_STEP_M * math.sin(heading))
        self._aside = SideStep(np.array([pose[:2], end], float), last_tick=now)
        self.side_steps += 1
        return STEP_NAMES[round(angle / (2 * math.pi) * len(STEP_NAMES)) % len(STEP_NAMES)]

    def _side_step_tick(self, pose, now: float, dt: float) -> local.Command:
        """One tick of a side step: once the commands before it have ramped down, straight along its way at up to
        BACKUP_SPEED with the heading kept (v ahead, vy to the left), slowing over about its last 0.1 m. It is held
        when it moved under SIDE_STEP_PROBE_M in SIDE_STEP_PROBE_S of moving (a safety hold's pause not counted).
        Once the speed is down to zero after it ended: the next direction if it was held and one is left, else the
        look-around."""
        step = self._aside
        if step.moving_since is not None and now - step.last_tick > 1.0:  # a safety hold skipped the servo
            step.moving_since += now - step.last_tick
        step.last_tick = now
        if step.moving_since is None and self.limiter.v == 0.0 and self.limiter.w == 0.0:
            step.moving_since = now
        gone = math.dist(step.way[0], pose[:2])
        moving = now - step.moving_since if step.moving_since is not None else 0.0
        held = moving >= SIDE_STEP_PROBE_S and gone < SIDE_STEP_PROBE_M
        done = gone >= SIDE_STEP_M or held or moving >= SIDE_STEP_M / BACKUP_SPEED + BACKUP_SPARE_S
        left = SIDE_STEP_M - gone
        heading = math.atan2(step.way[1][1] - step.way[0][1], step.way[1][0] - step.way[0][0]) - pose[2]
        speed = 0.0 if done or step.moving_since is None else BACKUP_SPEED * min(1.0, left / 0.1 + 0.2)
        v, w = self.limiter(speed * math.cos(heading), 0.0, dt)
        vy = self.limiter.sideways(speed * math.sin(heading), dt, BACKUP_SPEED)
        if not (done and v == 0.0 and vy == 0.0):
            return local.Command(v, w, vy=vy, note=f'stepping aside ({left:.2f} m to go)')
        self._aside = None
        if held and self._step_options:
            how = self._begin_side_step(pose, now)
            self.status.reasoning += f' That step is held too: step {how} instead.'
            return self._stop(f'side step held; stepping {how}', dt)
        self._progress, self._step_options = None, []
        return self._stop('side step held; looking around' if held else 'stepped aside; looking around', dt)

    def _scan_tick(self, pose, now: float, dt: float, busy: bool) -> local.Command:
        """One tick of the look-around turn (counter-clockwise, in place); asks the slow system again when done, or
        when the turn is blocked (a body corner against furniture): it gained under SCAN_STALL_RAD in SCAN_STALL_S."""
        last, turned = self._scan
        turned += local.wrap_angle(pose[2] - last)  # net counter-clockwise rotation: shaking in place gains nothing
        self._scan = [float(pose[2]), turned]
        if self._scan_gain is None or turned - self._scan_gain[0] >= SCAN_STALL_RAD:
            self._scan_gain = (turned, now)
        blocked = now - self._scan_gain[1] >= SCAN_STALL_S
        if turned >= SCAN_ANGLE or blocked:
            with self._lock:
                self._scan, self._progress, self._scan_gain = None, None, None
                self._want_slow = True
                if blocked:
                    self.status.reasoning += (f' The turn is blocked after {math.degrees(max(turned, 0.0)):.0f} deg: '
                                              'go on.')
            return self._stop('look-around turn blocked' if blocked else 'look-around turn done', dt)
        if self._discrete:
            return local.Command(note='executing') if busy else local.Command(discrete=local.TURN_LEFT, note='scan')
        rate = min(SCAN_RATE, self.cfg.max_yaw_rate, math.inf if self._room_to_turn(pose) else CRAMPED_YAW_RATE)
        v, w = self.limiter(0.0, rate, dt)
        return local.Command(v, w, note=f'looking around ({math.degrees(turned):.0f} deg)')

    def _cover(self, grid: Grid, pose, target) -> Grid:
        """The map padded (once per map and as needed) so the robot and the sub-goal lie inside it."""
        if self._covered is not None and self._covered[0] is grid:
            base = self._covered[1]  # specks dropped and walls stamped already
        else:
            base = self._walled(drop_specks(grid, SPECK_CELLS), self.scene)
        covered = grow_to_cover(base, np.vstack([np.asarray(pose[:2], float)[None], target.polygon]), COVER_MARGIN_M)
        if covered is not base:  # padded with unknown cells: the walls reach into them too
            covered = self._walled(covered, self.scene)
        self._covered = (grid, covered)
        return covered

    def _walled(self, grid: Grid, scene: SceneGraph | None) -> Grid:
        """The grid with the floor plan's walls stamped on its unknown cells and its doorways' openings cleared of
        occupied cells (NavigationConfig.floor_plan_walls); as it is without doorways (a floor plan file of rooms only),
        which would wall every room off. Where the robot was held stays marked (_marked comes after this)."""
        if not self.cfg.floor_plan_walls or scene is None or len(scene.rooms) < 2 or not scene.doors:
            return grid
        return floor_plan_walls(grid, [room.bounds for room in scene.rooms],
                                [(*door.center, door.width) for door in scene.doors], doorway_depth=DOORWAY_DEPTH_M)

    def _path_still_clear(self, costmap: Costmap, pose) -> bool:
        """True when the rest of the current path (beyond the robot's own inflated disk) is off lethal cells of
        costmap: a grown or updated map only forces a re-plan when it blocks the path."""
        path = self.path[local.closest_index(self.path, pose[:2]):]
        path = path[np.linalg.norm(path - np.asarray(pose[:2]), axis=1) > self.cfg.robot_radius + 0.1]
        if not len(path):
            return True
        rows, cols, inside = costmap.grid.cells_of(path)
        if not inside.all():
            return False
        return not costmap.lethal[rows, cols].any()

    def _watch_blockage(self, command: local.Command, now: float) -> None:
        """Local avoidance: when the depth guard holds the robot, mark the depth obstacles on the map and re-plan."""
        if not command.note.startswith('depth: blocked') and not command.note.startswith('depth: no room'):
            self._blocked_since = None
            return
        if self._blocked_since is None:
            self._blocked_since = now
        elif now - self._blocked_since >= BLOCKED_REPLAN_S and len(self.guard.obstacles):
            self._blocks.append((np.array(self.guard.obstacles, float).reshape(-1, 2), now))
            self._next_chunk = -math.inf
            self._blocked_since = None
            self.path = None

    def _mark_path_ahead(self, pose, now: float) -> None:
        """Stuck (held by the depth guard, or with nothing in view: a leg caught on a corner, an obstacle below the
        camera's view): mark the stretch of path the body could not enter, so the next plan takes another way."""
        if self.path is None or len(self.path) < 2:
            return
        ahead = densify(self.path[local.closest_index(self.path, pose[:2]):], 0.05)
        reach = np.linalg.norm(ahead - np.asarray(pose[:2]), axis=1)
        front = local.BODY_LENGTH_M / 2
        marked = ahead[(reach > front) & (reach <= front + STUCK_MARK_M)]
        if len(marked):
            self._blocks.append((marked, now))

    def _marked(self, grid: Grid, now: float) -> Grid:
        """The map with the places the robot was held or stuck in the last BLOCK_MEMORY_S stamped as obstacles (a
        new map from mapping does not wipe them, so a re-plan does not lead back into the same spot)."""
        self._blocks = [(points, t) for points, t in self._blocks if now - t <= BLOCK_MEMORY_S]
        if not self._blocks:
            return grid
        marks = (len(self._blocks), self._blocks[0][1])
        if self._overlay is None or self._overlay[0] is not grid or self._overlay[1] != marks:
            data = grid.data.copy()
            rows, cols, ok = grid.cells_of(np.concatenate([points for points, _ in self._blocks]))
            data[rows[ok], cols[ok]] = OCCUPIED
            self._overlay = (grid, marks, Grid(data, grid.origin, grid.resolution, grid.stamp))
        return self._overlay[2]

    @property
    def _discrete(self) -> bool:
        return self.cfg.action_space == 'discrete'

    def _plan_chunk(self, decision: Decision, grid: Grid, pose, now: float) -> bool:
        """One action chunk: global A* re-plan to the sub-goal when the map, the sub-goal or the robot's place on the
        path changed (else keep the path), then cut the next discrete chunk. False if there is no path."""
        self.chunks += 1
        grid = self._marked(self._cover(grid, pose, decision.target), now)
        if self._costmap is None or self._costmap.grid is not grid:
            self._costmap = self._costmap_on(grid, self.cfg.robot_radius)
        same_target = self._planned_for is not None and self._planned_for.target is decision.target
        map_changed = self._planned_grid is not grid
        stale_path = (self.path is None or not same_target
                      or float(np.min(np.linalg.norm(self.path - np.asarray(pose[:2]), axis=1))) > DEVIATION_M
                      or (map_changed and not self._path_still_clear(self._costmap, pose)))
        self._planned_for, self._planned_grid = decision, grid
        if not stale_path and map_changed and not self._approach:
            self._take_shortcut(decision, grid, pose)
        if stale_path:
            self.plans += 1
            result = self._plan_to(decision, grid, pose)
            self._approach = False
            if result.path is None:
                mask = goal_mask(decision.target, grid, self.cfg)
                if decision.exploring:
                    narrow = self._narrow_plan(grid, pose, mask)[0]
                    result = result if narrow.path is None else narrow
                else:
                    result = self._fallback_plan(grid, pose, mask, result)
            if result.path is None:
                self.path = None
                self._plan_failures += 1
                if decision.exploring:
                    self.slow.mark_failed(decision.target)
                    self._want_slow = True
                elif self._plan_failures >= MAX_PLAN_FAILURES:
                    if (short := self._short_of(decision, pose)) is not None:
                        self._plan_failures = 0  # the next step gets its own tries
                        self._on_arrival(decision, pose, 0.0, short)
                    elif not self._look_again(decision, pose, 'The map shows the goal cut off'):
                        self._finish(False, f'no path to {decision.target.name}: {result.reason}')
                return False
            if not self._approach:
                self._plan_failures = 0
            self.path = result.path
            self.status.distance_remaining = result.length
        if self._discrete:
            self.chunk = local.discrete_chunk(pose, self.path, self.cfg.fast_per_slow, self.cfg.lookahead_m,
                                              PATH_END_M, self.guard.obstacles)
        return True

    def _plan_to(self, decision: Decision, grid: Grid, pose) -> PlanResult:
        """Global search on the current costmap to the sub-goal's cells, preferring cells in the object's own room (a
        wall the map has not seen yet must not make the far side of it look like a way to the object), then cells with
        room for the body."""
        mask = goal_mask(decision.target, grid, self.cfg)
        roomy = mask & (self._costmap.distance >= GOAL_CLEARANCE_M)
        choices = [roomy, mask]
        room = self._room_of_target(decision.target)
        if room is not None:
            inside = box_mask(grid, room.bounds, self.cfg.robot_radius)  # the body clear of the room's walls
            choices = [roomy & inside, mask & inside] + choices
        goal = next((c for c in choices if c.any()), mask)
        return plan_on(self._costmap, pose[:2], goal, self.cfg.robot_radius)

    def _room_of_target(self, target: Target):
        """The scene graph's room (RoomNode) of an object target, or None."""
        scene = self.scene
        if target.kind not in ('object', 'near') or scene is None or not target.ref.isdigit():
            return None
        obj = scene.object(int(target.ref))
        return scene.room(scene.room_of(obj)) if obj is not None else None

    def _take_shortcut(self, decision: Decision, grid: Grid, pose) -> None:
        """The map changed but the path is still clear: switch to a fresh path when it is SHORTCUT_M shorter (a
        detour taken around noise that later views cleared is left as soon as the direct way opens)."""
        remaining = self._remaining(pose)
        result = self._plan_to(decision, grid, pose)
        if result.path is not None and result.length < remaining - SHORTCUT_M:
            self.plans += 1
            self.path = result.path
            self.status.distance_remaining = result.length
            self.status.reasoning += f' A way {remaining - result.length:.1f} m shorter opened: take it.'

    def _narrow_plan(self, grid: Grid, pose, mask: np.ndarray) -> tuple[PlanResult, Costmap, float]:
        """No path on the inflated map. A live map can narrow a doorway or a gap between furniture with a few noisy
        cells: plan again with the inflation cut to the body's half width (NARROW_MARGIN_M to spare). Frontiers and
        goals alike: a pocket walled in by furniture is otherwise never left. Returns the result, costmap and radius."""
        radius = min(self.cfg.robot_radius, local.BODY_WIDTH_M / 2 + NARROW_MARGIN_M)
        costmap = self._costmap_on(grid, radius)
        return plan_on(costmap, pose[:2], mask, radius), costmap, radius

    def _fallback_plan(self, grid: Grid, pose, mask: np.ndarray, failed: PlanResult) -> PlanResult:
        """No path to a goal on the inflated map: _narrow_plan. If the goal is still cut off, head for the reachable
        cell nearest to it (an approach: reaching it is not reaching the goal), so that closer views can correct the
        map. Nearest by the way through the floor plan when there is one (by straight line the nearest cell is often
        behind a wall with no door), and only among cells APPROACH_FRESH_M from where the robot has walked: a way in
        that it has looked at from close and found shut stays shut, so the next approach tries another."""
        result, costmap, radius = self._narrow_plan(grid, pose, mask)
        if result.path is not None:
            return result
        reach = np.isfinite(path_costs(costmap, pose[:2])) & ~costmap.lethal  # the search's own graph (corner rule)
        walked = trail_mask(grid, np.vstack([self.trail.points().reshape(-1, 2), np.asarray(pose[:2])[None]]))
        reach &= ndimage.distance_transform_edt(~walked) * grid.resolution > APPROACH_FRESH_M
        if not reach.any() or not mask.any():
            return failed
        to_goal = self._floor_plan_costs(grid, mask)
        if to_goal is None or not np.isfinite(to_goal[reach]).any():
            to_goal = ndimage.distance_transform_edt(~mask) * grid.resolution
        approach = reach & (to_goal <= to_goal[reach].min() + 0.1)
        result = plan_on(costmap, pose[:2], approach, radius)
        if result.path is None or result.length < APPROACH_MIN_M:
            return failed
        self._approach = True
        self._plan_failures += 1
        return result

    def _floor_plan_costs(self, grid: Grid, mask: np.ndarray) -> np.ndarray | None:
        """Float (h, w) [m]: the walk from each cell to the goal cells through the floor plan alone (its walls block,
        its doorways are open, whatever the map shows inside the rooms is ignored); None without a floor plan."""
        blank = Grid(np.full(grid.shape, UNKNOWN, np.int8), grid.origin, grid.resolution)
        walls = self._walled(blank, self.scene)
        if walls is blank:
            return None
        plan = Grid(np.where(walls.occupied(), OCCUPIED, FREE).astype(np.int8), grid.origin, grid.resolution)
        return costs_from(build_costmap(plan, local.BODY_WIDTH_M / 2, clearance_weight=0.0), mask)

    def _remaining(self, pose) -> float:
        """Length [m] of the current path from its point nearest the robot, plus the gap to it."""
        i = local.closest_index(self.path, pose[:2])
        return float(np.linalg.norm(self.path[i] - np.asarray(pose[:2]))
                     + np.linalg.norm(np.diff(self.path[i:], axis=0), axis=1).sum())

    def _follow(self, pose, dt: float, busy: bool) -> local.Command:
        path = self.path
        self.status.distance_remaining = self._remaining(pose)
        if self._discrete:
            if busy:
                return local.Command(note='executing')
            if not self.chunk:
                self.chunk = local.discrete_chunk(pose, path, self.cfg.fast_per_slow, self.cfg.lookahead_m,
                                                  PATH_END_M, self.guard.obstacles)
            action = self.chunk.pop(0)
            if action == local.FORWARD and local.body_clearance(pose, self.guard.obstacles, 0.25, 0.0, 1.0, 10) \
                    <= local.FORWARD_STEP_M:
                self.chunk = []
                return local.Command(discrete=local.STOP, note='depth: forward blocked')
            return local.Command(discrete=action, note=f'chunk {action}')
        if self._must_reverse(pose, path):  # no room to turn, the way back is the trail: drive it backwards
            v, w = local.pure_pursuit((pose[0], pose[1], pose[2] + math.pi), path, self.cfg.lookahead_m, BACKUP_SPEED,
                                      self.cfg.max_yaw_rate)
            v, w = self.limiter(-v, w, dt)
            return local.Command(v, w, note='reversing along the trail')
        v, w = local.pure_pursuit(pose, path, self.cfg.lookahead_m, self.max_speed, self.cfg.max_yaw_rate)
        v, w, note = self.guard.filter(pose, v, w)
        if v == 0.0 and abs(w) > CRAMPED_YAW_RATE and not self._room_to_turn(pose):  # a leg or a corner may catch
            w, note = math.copysign(CRAMPED_YAW_RATE, w), note or 'no room to turn fast: turning slowly'
        v, w = self.limiter(v, w, dt, self.max_speed)
        return local.Command(v, w, note=note or 'following')

    def _must_reverse(self, pose, path: np.ndarray) -> bool:
        """True when the path leads behind the robot (over REVERSE_ANGLE off its heading), the map or the latest depth
        leaves no room to turn in place, and the next REVERSE_CHECK_M of the path runs along the walked trail or cells
        mapped free with room for the body: the camera does not look backwards, so the robot backs only where it has
        been or seen."""
        costmap = self._costmap
        if costmap is None or costmap.grid is not self._planned_grid:
            return False
        target, _ = local.lookahead_point(path, pose[:2], self.cfg.lookahead_m)
        heading = math.atan2(target[1] - pose[1], target[0] - pose[0])
        if abs(local.wrap_angle(heading - pose[2])) <= REVERSE_ANGLE:
            return False
        if self._room_to_turn(pose):
            return False
        ahead = densify(path[local.closest_index(path, pose[:2]):], 0.05)
        ahead = ahead[np.linalg.norm(ahead - np.asarray(pose[:2]), axis=1) <= REVERSE_CHECK_M]
        rows, cols, inside = costmap.grid.cells_of(ahead)
        if not len(ahead) or not inside.all():
            return False
        ok = (costmap.grid.data[rows, cols] == FREE) & ~costmap.lethal[rows, cols]  # seen free, room for the body
        if costmap.passable is not None:
            ok |= costmap.passable[rows, cols]  # or walked (the planning costmap carries the trail)
        return bool(ok.all())

    def _stop(self, note: str, dt: float) -> local.Command:
        if self._discrete:
            return local.Command(discrete=local.STOP, note=note)
        v, w = self.limiter(0.0, 0.0, dt)
        return local.Command(v, w, note=note, vy=self.limiter.sideways(0.0, dt, BACKUP_SPEED))

    def _arrived(self, target: Target, xy) -> bool:
        if target.kind in ('room', 'search'):
            x0, y0 = target.polygon.min(axis=0)
            x1, y1 = target.polygon.max(axis=0)
            inset = min(ROOM_INSET_M, 0.25 * (x1 - x0), 0.25 * (y1 - y0))
            inset = min(ROOM_ARRIVED_M, inset) if target.kind == 'room' else 0.6 * inset  # a search looks further in
            return x0 + inset <= xy[0] <= x1 - inset and y0 + inset <= xy[1] <= y1 - inset
        # A door or pose is where it is said to be (no mapped box around it): reached at the success radius less the
        # margin, not at the point the path aims for (each "then come back" walked 0.4 m more than it needed).
        point_reached = max(POINT_GOAL_M + 0.05, self.cfg.goal_tolerance_m - STOP_SHORT_MARGIN_M)
        radius = {'object': self.cfg.stop_distance_m + 0.05, 'near': self.cfg.stop_distance_m + 0.05,
                  'frontier': FRONTIER_REACHED_M}.get(target.kind, point_reached)
        return target.distance(xy) <= radius

    def _surface_distance(self, target: Target, xy, now: float) -> float:
        """Distance [m] from the robot to the target's surface in the latest depth: to the SEEN_MIN_POINTS-th nearest
        obstacle point inside its mapped footprint and outside every other mapped object's (inf when the depth is
        stale or shows fewer). A mapped box can stick out towards the robot by a few decimetres; a depth point on the
        object cannot, so this can stop nearer the edge of the success radius than stop_distance_m. Points a
        neighbour's box claims too (a desk beside a chair whose box is too big) are left out: they may be on it."""
        if self.cfg.seen_stop_distance_m <= 0.0 or self.guard.age(now) > SEEN_DEPTH_AGE_S:
            return math.inf
        points = self.guard.obstacles
        reach = np.hypot(points[:, 0] - xy[0], points[:, 1] - xy[1])
        near = reach <= 2.0 * self.cfg.seen_stop_distance_m
        on_target = polygon_distance(points[near], target.polygon) <= SEEN_INSIDE_M
        lo, hi = target.polygon.min(axis=0) - SEEN_INSIDE_M, target.polygon.max(axis=0) + SEEN_INSIDE_M
        for other in self.scene.objects if self.scene is not None else ():
            box = other.footprint()
            if str(other.id) == target.ref or (box.max(axis=0) < lo).any() or (box.min(axis=0) > hi).any():
                continue  # the target itself, or a box that cannot share its points
            on_target &= polygon_distance(points[near], box) > SEEN_INSIDE_M
        hits = np.sort(reach[near][on_target])
        return float(hits[SEEN_MIN_POINTS - 1]) if len(hits) >= SEEN_MIN_POINTS else math.inf

    def _on_arrival(self, decision: Decision, pose, dt: float, note: str = '') -> local.Command:
        self.path, self.chunk = None, []
        self._progress, self.recoveries = None, 0
        if decision.exploring:
            self.slow.mark_frontier_visited(decision.target.center)
            with self._lock:
                self.decision = None
                self._want_slow = True
                rescan = self._scan_xy is None or math.dist(self._scan_xy, pose[:2]) > SCAN_SPACING_M
                if decision.target.kind in ('search', 'near') and rescan:  # where the target should be: look around
                    where = f'In {decision.target.ref}' if decision.target.kind == 'search' else \
                        f'Beside {decision.target.name.removeprefix("near: ")}'
                    self._start_scan(decision, pose, f' {where}: look around.')
                    self._want_slow = False
            return self._stop('frontier reached; looking again', dt)
        self.slow.advance()
        with self._lock:
            self.decision = None
            self._want_slow = True
            if self.slow.done:
                self.status.phase = PHASE_ARRIVED
                self.status.distance_remaining = 0.0
                self._finish(True, f'reached {decision.target.name}{note}')
        return self._stop(f'reached step {decision.step_index + 1}', dt)

    def _finish(self, success: bool, message: str) -> None:
        self.status.done, self.status.success, self.status.message = True, success, message

    def fail(self, message: str) -> None:
        """End the goal unsuccessfully (timeout, stale inputs, cancel) with a reason."""
        self._finish(False, message)
