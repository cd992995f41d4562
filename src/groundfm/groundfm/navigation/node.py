"""ROS adapter for Nav-R1 fast-in-slow navigation: the `navigate` action server. The logic lives in navigator.py.

Topics (relative, so a namespace per robot works):
  in:  odom (nav_msgs/Odometry; odom == map until localisation exists, else TF map <- odom), map/occupancy
       (nav_msgs/OccupancyGrid, transient local; the mapping node's live map, which grows as the robot sees more),
       map/objects (Object3DArray, from mapping), depth_topic (32FC1 [m], default depth/image from the depth node)
       with stereo/left/camera_info and TF map <- camera, sim/scene (String JSON): the room layout and doorways with
       room_source 'sim_scene' (STAND-IN: nothing in the stack names rooms from perception; a robot uses a labelled
       floor plan, room_source 'file'), and STAND-IN objects / occupancy with use_ground_truth_scene /
       map_source:=ground_truth. Every stand-in in use is named in the start-up log line. control/state (String JSON
       from the control node): a goal ends, and no new one starts, while it reports mode 'fallen'.
  out: cmd_vel (geometry_msgs/Twist: linear.x, angular.z; linear.y only in a side step out of a place where the body
       is held) in continuous mode, move (groundfm_interfaces/Move) in discrete mode,
       navigation/path (nav_msgs/Path, map frame)
  action: navigate (groundfm_interfaces/action/Navigate)
Callback groups: the action server and sensor inputs are reentrant; the fast servo and the slow reasoner each have
their own mutually exclusive group, so the slow system runs asynchronously and never blocks the 20 Hz servo
(groundfm.ros.executors.MultiThreadedExecutor: rclpy 9.1.2's own one starves the node's threads, see there).
Safety: speed/acceleration limits, zero velocity on stale odom, map or depth, and no motion (with a result saying
why) when no odometry arrives or no controller subscribes to the command topic.
"""

import json
import math
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Twist, Vector3
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String

from groundfm.geometry.rotations import quat_from_euler, yaw_of
from groundfm.geometry.transform_buffer import TransformBuffer, TransformError
from groundfm.navigation import local
from groundfm.navigation.config import NAVIGATION_PARAMETERS, NavigationConfig
from groundfm.navigation.instructions import InstructionError, parse_instruction
from groundfm.navigation.navigator import FELL_MESSAGE, Navigator
from groundfm.navigation.planner import Grid, grid_from_house
from groundfm.navigation.reasoner import ObjectNode, RoomNode, SceneGraph
from groundfm.navigation.trail import Trail
from groundfm.ros import qos
from groundfm.ros.convert import image_to_numpy, occupancy_grid_to_numpy, seconds_from_stamp, stamp_from_seconds
from groundfm.ros.entry import run_node
from groundfm.ros.executors import MultiThreadedExecutor
from groundfm.ros.params import declare_parameters
from groundfm.ros.tf import TransformListener
from groundfm.scene.graph import RoomLayout
from groundfm_interfaces.action import Navigate
from groundfm_interfaces.msg import Move, Object3DArray

MOVE_TYPES = {local.FORWARD: Move.FORWARD, local.TURN_LEFT: Move.TURN_LEFT, local.TURN_RIGHT: Move.TURN_RIGHT,
              local.STOP: Move.STOP}
SIM_GONE_WALL_S = 5.0  # no odometry for this long on the wall clock: the sim or robot bridge is gone [s]
FEEDBACK_PERIOD_S = 0.2  # feedback rate limit (wall) [s]
LOOP_PERIOD_S = 0.02  # execute-loop poll period (wall): bounds the cancel-to-stop latency [s]


@dataclass
class Session:
    """The goal being executed: its navigator and bookkeeping."""

    navigator: Navigator
    goal_handle: object
    start_time: float  # node clock [s]
    timeout_s: float
    path_length: float = 0.0
    preempted: bool = False
    cancelled: bool = False  # set by the cancel callback: no more motion commands
    safety: str = ''  # why the servo is holding still ('' = moving allowed)
    safety_since: float | None = None
    move_sent: tuple[float, float, float] | None = None  # pose when the last discrete move was sent
    move_kind: str = ''
    move_time: float = 0.0
    last_slow: float = -math.inf
    last_path_id: int = 0
    notes: list[str] = field(default_factory=list)


class NavigationNode(Node):
    """Serve `navigate`: parse the instruction, run the slow and fast systems, stream feedback, stop safely."""

    def __init__(self) -> None:
        super().__init__('navigation')
        values = declare_parameters(self, NAVIGATION_PARAMETERS)
        values.pop('use_sim_time', None)
        self.cfg = NavigationConfig(**values)
        self._backend = self._make_backend()
        self._lock = threading.RLock()
        self._session: Session | None = None
        self._pose: tuple[float, float, float] | None = None
        self._pose_time = -math.inf  # node clock
        self._pose_wall = -math.inf  # monotonic
        self._grid: Grid | None = None
        self._trail = Trail(self.cfg.trail_memory_s)  # where the robot walked, kept across goals
        self._scene = SceneGraph()
        if self.cfg.room_source == 'file':  # a bad floor plan file stops start-up with the reason
            self._scene = SceneGraph(rooms=rooms_from_layout(RoomLayout.load(self.cfg.rooms_path)), source='file')
        self._camera_k: np.ndarray | None = None
        self._camera_size: tuple[int, int] | None = None
        self._depth_time = -math.inf
        self._fallen = ''  # why the controller reports the robot down ('' while it is up, or without control/state)
        self._tf = TransformBuffer()

        inputs = ReentrantCallbackGroup()
        self._pub_cmd = self.create_publisher(Twist, 'cmd_vel', qos.COMMAND)
        self._pub_move = self.create_publisher(Move, 'move', 10)
        self._pub_path = self.create_publisher(Path, 'navigation/path', qos.LATCHED)
        self.create_subscription(Odometry, 'odom', self._on_odom, qos.STATE, callback_group=inputs)
        self.create_subscription(String, 'control/state', self._on_control_state, 10, callback_group=inputs)
        if self.cfg.map_source == 'mapping':
            self.create_subscription(OccupancyGrid, 'map/occupancy', self._on_map, qos.LATCHED, callback_group=inputs)
        if not self.cfg.use_ground_truth_scene:
            self.create_subscription(Object3DArray, 'map/objects', self._on_objects, qos.LATCHED,
                                     callback_group=inputs)
        if self.cfg.use_ground_truth_scene or self.cfg.map_source == 'ground_truth' or \
                self.cfg.room_source == 'sim_scene':
            self.create_subscription(String, 'sim/scene', self._on_scene_json, qos.LATCHED, callback_group=inputs)
        TransformListener(self, self._tf)
        if self.cfg.use_depth:
            self.create_subscription(CameraInfo, 'stereo/left/camera_info', self._on_camera_info, qos.SENSOR,
                                     callback_group=inputs)
            self.create_subscription(Image, self.cfg.depth_topic, self._on_depth, qos.SENSOR, callback_group=inputs)
        self._server = ActionServer(self, Navigate, 'navigate', execute_callback=self._execute,
                                    goal_callback=self._on_goal, handle_accepted_callback=self._on_accepted,
                                    cancel_callback=self._on_cancel,
                                    callback_group=ReentrantCallbackGroup())
        self.create_timer(1.0 / self.cfg.fast_rate_hz, self._fast_tick, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(0.1, self._slow_tick, callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(
            f'navigate ready: slow {self.cfg.slow_rate_hz:g} Hz ({self._backend.name}), fast {self.cfg.fast_rate_hz:g} '
            f'Hz, 1:{self.cfg.fast_per_slow}, {self.cfg.action_space} actions, max {self.cfg.max_speed} m/s; '
            + input_sources(self.cfg))

    def _make_backend(self):
        if self.cfg.backend == 'vlm':
            from groundfm.navigation.reasoner import VlmReasoner

            return VlmReasoner(self.cfg.vlm_path, self.cfg.vlm_max_new_tokens)
        from groundfm.navigation.reasoner import RuleReasoner

        return RuleReasoner()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs ---------------------------------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        yaw = yaw_of(np.array([q.x, q.y, q.z, q.w]))
        x, y = p.x, p.y
        try:  # map <- odom when a localiser publishes it (the sim's is the identity)
            t = self._tf.lookup('map', msg.header.frame_id or 'odom')
            x, y = (t.apply(np.array([[p.x, p.y, p.z]]))[0, :2])
            yaw += yaw_of(t.rotation)
        except (TransformError, KeyError, AttributeError):
            pass
        with self._lock:
            if self._pose is not None and self._session is not None:
                self._session.path_length += math.hypot(x - self._pose[0], y - self._pose[1])
            self._pose = (float(x), float(y), float(local.wrap_angle(yaw)))
            self._pose_time = self._now()
            self._pose_wall = time.monotonic()

    def _on_map(self, msg: OccupancyGrid) -> None:
        data, origin, resolution = occupancy_grid_to_numpy(msg)
        stamp = seconds_from_stamp(msg.header.stamp) if msg.header.stamp.sec else self._now()
        with self._lock:
            same = self._grid
            if (same is not None and same.origin == origin and same.resolution == resolution
                    and same.data.shape == data.shape and np.array_equal(same.data, data)):
                # Mapping re-stamps an unchanged map while no keyframe arrives: keep the same Grid object, so the
                # navigator's costmap and path caches stay valid, and only move its time forward.
                same.stamp = stamp
                return
        self._set_grid(Grid(data, origin, resolution, stamp))

    def _set_grid(self, grid: Grid) -> None:
        with self._lock:
            self._grid = grid
            if self._session is not None:
                self._session.navigator.set_map(grid)

    def _on_objects(self, msg: Object3DArray) -> None:
        objects = [ObjectNode(int(o.id), o.label, o.color_name, (o.center.position.x, o.center.position.y,
                                                                 o.center.position.z), (o.size.x, o.size.y, o.size.z),
                              yaw_of(np.array([o.center.orientation.x, o.center.orientation.y,
                                               o.center.orientation.z, o.center.orientation.w])), o.room,
                              (o.color.r, o.color.g, o.color.b) if o.color.a > 0 else None)
                   for o in msg.objects]
        with self._lock:
            rooms, doors = self._scene.rooms, self._scene.doors
        self._set_scene(SceneGraph(objects, rooms, doors, 'mapping'))

    def _on_scene_json(self, msg: String) -> None:
        try:
            house = json.loads(msg.data)
            if self.cfg.use_ground_truth_scene:
                self._set_scene(SceneGraph.from_house_json(house))
            elif self.cfg.room_source == 'sim_scene':  # the floor plan only; objects stay mapping's
                layout = SceneGraph.from_house_json(house)
                with self._lock:
                    objects = self._scene.objects
                self._set_scene(SceneGraph(objects, layout.rooms, layout.doors, 'mapping'))
                self.get_logger().info(f'STAND-IN room layout: {len(layout.rooms)} rooms and {len(layout.doors)} '
                                       'doorways from the sim floor plan (sim/scene)')
            if self.cfg.map_source == 'ground_truth':
                grid = grid_from_house(house, self.cfg.map_resolution)
                grid.stamp = math.inf  # a static map never goes stale
                self._set_grid(grid)
        except (ValueError, KeyError, TypeError) as err:
            self.get_logger().error(f'bad sim/scene JSON: {err}', throttle_duration_sec=5.0)

    def _set_scene(self, scene: SceneGraph) -> None:
        with self._lock:
            self._scene = scene
            if self._session is not None:
                self._session.navigator.set_scene(scene)

    def _on_control_state(self, msg: String) -> None:
        try:
            state = json.loads(msg.data)
            mode = state['mode']
        except (ValueError, TypeError, KeyError) as err:
            self.get_logger().warning(f'bad control/state JSON: {err!r}', throttle_duration_sec=5.0)
            return
        fallen = (state.get('fall_reason') or 'fall detected') if mode == 'fallen' else ''
        if fallen and not self._fallen:
            self.get_logger().error(f'control reports the robot down: {fallen}')
        self._fallen = fallen

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_k = np.asarray(msg.k, float).reshape(3, 3)
        self._camera_size = (msg.width, msg.height)

    def _on_depth(self, msg: Image) -> None:
        if self._camera_k is None:
            return
        try:
            depth = image_to_numpy(msg).astype(np.float32)
            stamp = seconds_from_stamp(msg.header.stamp)
            cam = self._tf.lookup('map', msg.header.frame_id, stamp, tolerance_s=0.5)  # TF may trail images
        except (ValueError, TransformError, KeyError) as err:
            self.get_logger().warning(f'depth skipped: {err}', throttle_duration_sec=5.0)
            return
        k = self._camera_k.copy()
        if self._camera_size and self._camera_size[0] != depth.shape[1]:
            k[:2] *= depth.shape[1] / self._camera_size[0]
        points = local.depth_to_points(depth, k, cam.matrix())
        self._depth_time = self._now()
        with self._lock:
            if self._session is not None:
                self._session.navigator.set_depth_obstacles(local.obstacle_points(points), self._depth_time)

    # --- goals ----------------------------------------------------------------------------------------------------
    def _on_goal(self, request: Navigate.Goal) -> GoalResponse:
        try:
            parse_instruction(request.instruction)
        except InstructionError as err:
            self.get_logger().warning(f'rejected navigate goal {request.instruction!r}: {err}')
            return GoalResponse.REJECT
        if not (math.isfinite(request.max_speed) and request.max_speed >= 0 and math.isfinite(request.timeout_s)
                and request.timeout_s >= 0):
            self.get_logger().warning(f'rejected navigate goal: max_speed {request.max_speed} and timeout_s '
                                      f'{request.timeout_s} must be finite and >= 0')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_accepted(self, goal_handle) -> None:
        with self._lock:
            if self._session is not None:
                self._session.preempted = True
                self._stop_robot()
        goal_handle.execute()

    def _on_cancel(self, goal_handle) -> CancelResponse:
        """Accept a cancel and stop the robot at once; the execute loop then ends the goal as cancelled."""
        with self._lock:
            if self._session is not None and self._session.goal_handle is goal_handle:
                self._session.cancelled = True
                self._stop_robot()
                self.get_logger().info('cancel accepted: zero velocity sent')
        return CancelResponse.ACCEPT

    def _execute(self, goal_handle) -> Navigate.Result:
        request = goal_handle.request
        goals = parse_instruction(request.instruction)
        wall_deadline = time.monotonic() + self.cfg.inputs_wait_s
        missing = self._missing_inputs()
        while missing and time.monotonic() < wall_deadline:
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return self._result(False, 'cancelled before start', 0.0, 0.0)
            time.sleep(LOOP_PERIOD_S)
            missing = self._missing_inputs()
        if missing:
            self.get_logger().error(f'navigate aborted without moving: {missing}')
            goal_handle.abort()
            return self._result(False, f'not moving: {missing}', 0.0, 0.0)
        with self._lock:
            old = self._session
        if old is not None:  # preempted goal: give its loop a moment to stop
            deadline = time.monotonic() + 1.0
            while self._session is old and time.monotonic() < deadline:
                time.sleep(LOOP_PERIOD_S)
        with self._lock:
            nav = Navigator(self.cfg, goals, self._pose, self._backend, request.max_speed, self._trail)
            nav.set_map(self._grid)
            nav.set_scene(self._scene)
            session = Session(nav, goal_handle, self._now(), request.timeout_s or self.cfg.timeout_s)
            self._session = session
        self.get_logger().info(f'navigate {request.instruction!r}: {len(goals)} step(s): '
                               f'{"; ".join(g.describe() for g in goals)}')
        self._publish_feedback(session, force=True)
        last_feedback = time.monotonic()
        try:
            while rclpy.ok(context=self.context):
                if goal_handle.is_cancel_requested:
                    with self._lock:
                        self._session = None
                        self._stop_robot()
                    nav.fail('cancelled')
                    goal_handle.canceled()
                    return self._finish(session, False, 'cancelled')
                if session.preempted:
                    nav.fail('preempted')
                    goal_handle.abort()
                    return self._finish(session, False, 'preempted by a newer goal')
                elapsed = self._now() - session.start_time
                if elapsed > session.timeout_s:
                    self._stop_robot()
                    goal_handle.abort()
                    return self._finish(session, False, f'timed out after {elapsed:.1f} s')
                if session.safety and session.safety_since is not None and \
                        self._now() - session.safety_since > self.cfg.stale_abort_s:
                    goal_handle.abort()
                    return self._finish(session, False, f'stopped for safety: {session.safety}')
                if self._fallen:  # the controller has damped the joints: commands move nothing now
                    self._stop_robot()
                    goal_handle.abort()
                    return self._finish(session, False, f'{FELL_MESSAGE} ({self._fallen}); stand it up before the '
                                                        'next goal')
                if time.monotonic() - self._pose_wall > SIM_GONE_WALL_S:
                    self._stop_robot()
                    goal_handle.abort()
                    return self._finish(session, False, 'odometry stopped: the sim or robot bridge is gone')
                if nav.status.done:
                    self._stop_robot()
                    if nav.status.success:
                        self._publish_feedback(session, force=True)
                        goal_handle.succeed()
                    else:
                        goal_handle.abort()
                    return self._finish(session, nav.status.success, nav.status.message)
                if time.monotonic() - last_feedback >= FEEDBACK_PERIOD_S:
                    self._publish_feedback(session)
                    last_feedback = time.monotonic()
                time.sleep(LOOP_PERIOD_S)
        finally:
            with self._lock:
                if self._session is session:
                    self._session = None
        goal_handle.abort()
        return self._finish(session, False, 'shutting down')

    def _missing_inputs(self) -> str:
        """Why the robot must not move now ('' if it may)."""
        problems = []
        if self._pose is None or time.monotonic() - self._pose_wall > SIM_GONE_WALL_S:
            problems.append('no odometry on odom (is the sim or the robot bridge running?)')
        if self._grid is None:
            source = 'sim/scene (ground-truth stand-in)' if self.cfg.map_source == 'ground_truth' else 'map/occupancy'
            problems.append(f'no occupancy map on {source} (is mapping running?)')
        if self._fallen:
            problems.append(f'the robot is down ({self._fallen}); stand it up first')
        topic = 'move' if self.cfg.action_space == 'discrete' else 'cmd_vel'
        if self.count_subscribers(topic) == 0:
            problems.append(f'no controller subscribed to {topic} (start control:=true)')
        return '; '.join(problems)

    def _finish(self, session: Session, success: bool, message: str) -> Navigate.Result:
        with self._lock:
            if self._session is session:
                self._session = None
        self._stop_robot()
        elapsed = self._now() - session.start_time
        self.get_logger().info(f'navigate {"succeeded" if success else "ended"}: {message} '
                               f'({session.path_length:.2f} m, {elapsed:.1f} s)')
        return self._result(success, message, session.path_length, elapsed)

    def _result(self, success: bool, message: str, length: float, elapsed: float) -> Navigate.Result:
        return Navigate.Result(success=success, message=message, final_pose=self._pose_msg(self._pose),
                               path_length=float(length), elapsed_s=float(max(elapsed, 0.0)))

    def _pose_msg(self, pose) -> PoseStamped:
        msg = PoseStamped(header=Header(stamp=self.get_clock().now().to_msg(), frame_id='map'))
        if pose is not None:
            q = quat_from_euler(0.0, 0.0, pose[2])
            msg.pose = Pose(position=Point(x=float(pose[0]), y=float(pose[1]), z=0.0),
                            orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))
        return msg

    def _publish_feedback(self, session: Session, force: bool = False) -> None:
        status = session.navigator.status
        fb = Navigate.Feedback(phase=status.phase, current_subgoal=status.subgoal,
                               distance_remaining=float(status.distance_remaining),
                               reasoning=status.reasoning + (f' [holding: {session.safety}]' if session.safety else ''))
        if status.subgoal_xy is not None:
            fb.subgoal_pose = self._pose_msg((*status.subgoal_xy, 0.0))
        session.goal_handle.publish_feedback(fb)

    # --- the two systems ------------------------------------------------------------------------------------------
    def _slow_tick(self) -> None:
        with self._lock:
            session, pose = self._session, self._pose
        if session is None or pose is None or session.navigator.status.done:
            return
        now = self._now()
        if session.navigator.wants_slow_update or now - session.last_slow >= 1.0 / self.cfg.slow_rate_hz:
            session.last_slow = now
            try:
                session.navigator.slow_update(pose, now)
            except Exception as err:  # a backend failure must not kill the node: end the goal with the reason
                self.get_logger().error(f'slow system failed: {err}')
                session.navigator.fail(f'slow system failed: {type(err).__name__}: {err}')

    def _fast_tick(self) -> None:
        with self._lock:
            session, pose = self._session, self._pose
        if session is None or pose is None or session.preempted or session.cancelled:
            return
        now = self._now()
        reason = self._safety_reason(now)
        if reason:
            if not session.safety:
                self.get_logger().warning(f'holding still: {reason}')
                session.safety_since = now
            session.safety = reason
            session.navigator.limiter.reset()
            self._stop_robot()
            return
        session.safety, session.safety_since = '', None
        nav = session.navigator
        busy = self._move_busy(session, pose, now)
        cmd = nav.fast_tick(pose, now, 1.0 / self.cfg.fast_rate_hz, busy)
        if nav.path is not None and id(nav.path) != session.last_path_id:
            session.last_path_id = id(nav.path)
            self._publish_path(nav.path)
        with self._lock:  # a cancel or preemption that cleared the session in the meantime wins
            if self._session is not session or session.preempted or session.cancelled:
                return
            if self.cfg.action_space == 'discrete':
                if cmd.discrete:
                    self._pub_move.publish(Move(type=MOVE_TYPES[cmd.discrete], amount=0.0))
                    session.move_sent, session.move_kind, session.move_time = pose, cmd.discrete, now
            else:
                self._pub_cmd.publish(Twist(linear=_vec(cmd.v, cmd.vy), angular=_vec(0.0, 0.0, cmd.w)))

    def _move_busy(self, session: Session, pose, now: float) -> bool:
        """Discrete mode: True while the last move has not visibly finished (2 s timeout)."""
        if session.move_sent is None or session.move_kind == local.STOP:
            return False
        sx, sy, syaw = session.move_sent
        if session.move_kind == local.FORWARD:
            done = math.hypot(pose[0] - sx, pose[1] - sy) >= local.FORWARD_STEP_M - 0.03
        else:
            done = abs(local.wrap_angle(pose[2] - syaw)) >= local.TURN_STEP_RAD - 0.06
        if done or now - session.move_time > 2.5:
            session.move_sent = None
            return False
        return True

    def _safety_reason(self, now: float) -> str:
        """Why the robot must hold still now ('' if it may move)."""
        if now - self._pose_time > self.cfg.stale_odom_s:
            return f'odometry is {now - self._pose_time:.1f} s old'
        grid = self._grid
        if grid is not None and self.cfg.stale_map_s > 0 and math.isfinite(grid.stamp) and \
                now - grid.stamp > self.cfg.stale_map_s:
            return f'the map is {now - grid.stamp:.1f} s old'
        if self.cfg.use_depth and now - self._depth_time > self.cfg.stale_depth_s:
            age = now - self._depth_time
            return f'depth on {self.cfg.depth_topic} is {age:.1f} s old' if math.isfinite(age) else \
                f'no depth on {self.cfg.depth_topic}'
        topic = 'move' if self.cfg.action_space == 'discrete' else 'cmd_vel'
        if self.count_subscribers(topic) == 0:
            return f'no controller subscribed to {topic}'
        return ''

    def _stop_robot(self) -> None:
        """Command zero velocity (and a STOP move in discrete mode) at once."""
        self._pub_cmd.publish(Twist())
        if self.cfg.action_space == 'discrete':
            self._pub_move.publish(Move(type=Move.STOP, amount=0.0))

    def _publish_path(self, path: np.ndarray) -> None:
        header = Header(stamp=stamp_from_seconds(self._now()), frame_id='map')
        msg = Path(header=header)
        msg.poses = [PoseStamped(header=header, pose=Pose(position=Point(x=float(x), y=float(y)),
                                                          orientation=Quaternion(w=1.0))) for x, y in path]
        self._pub_path.publish(msg)


def input_sources(cfg: NavigationConfig) -> str:
    """One line naming where the map, objects, rooms and depth come from, with every ground-truth stand-in flagged."""
    parts = ['map: STAND-IN sim/scene ground truth' if cfg.map_source == 'ground_truth' else 'map: map/occupancy']
    if cfg.use_ground_truth_scene:
        parts.append('objects and rooms: STAND-IN sim/scene ground truth')
    else:
        parts.append('objects: map/objects')
        parts.append({'sim_scene': 'rooms: STAND-IN sim/scene floor plan', 'file': f'rooms: {cfg.rooms_path}',
                      'none': "rooms: only map/objects' room fields"}[cfg.room_source])
    if cfg.use_depth:
        oracle = cfg.depth_topic.rstrip('/').endswith('depth_gt')
        parts.append(f'depth: {"STAND-IN oracle " if oracle else ""}{cfg.depth_topic}')
    else:
        parts.append('depth: off')
    return '; '.join(parts)


def rooms_from_layout(layout: RoomLayout) -> list[RoomNode]:
    """A labelled floor plan's rooms as axis-aligned RoomNodes (the bounding box of each polygon)."""
    out = []
    for room in layout.rooms:
        poly = np.asarray(room.polygon, float)
        x0, y0 = poly.min(axis=0)
        x1, y1 = poly.max(axis=0)
        out.append(RoomNode(room.name, room.kind, (float(x0), float(y0), float(x1), float(y1))))
    return out


def _vec(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Vector3:
    return Vector3(x=float(x), y=float(y), z=float(z))


def main(args: list[str] | None = None) -> int:
    """Entry point of `navigation_node`: a multi-threaded executor, as the action server waits on the fast loop.

    The goal's execute loop holds one thread for the whole goal and each timer one more; the pool is sized so that a
    burst of input callbacks cannot starve a cancel request."""
    return run_node('navigation', NavigationNode, args, executor=lambda: MultiThreadedExecutor(num_threads=8),
                    before_destroy=lambda node: node._stop_robot())  # leave the robot standing


if __name__ == '__main__':
    sys.exit(main())
