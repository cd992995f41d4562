"""ROS adapter for locomotion control; the maths lives in controller.py, gait.py, kinematics.py and pursuit.py.

Topics (relative, so a namespace per robot works):
  in:  cmd_vel (geometry_msgs/Twist, base_link), move (groundfm_interfaces/Move), waypoints (nav_msgs/Path, odom),
       behavior (std_msgs/String: stand | sit | stop | recover), odom (nav_msgs/Odometry), joint_states
  out: joint_command (groundfm_interfaces/JointCommand) at control_rate_hz on the node clock (sim time in sim),
       control/state (std_msgs/String, JSON: mode, source, command, falls, tick_ms (CPU), rate_hz) at state_rate_hz
The newest of cmd_vel / move / waypoints wins. Watchdog: with no cmd_vel for command_timeout_s the robot stands.
Commands that are NaN or beyond the limits are logged and ignored; the last good one stays in force.
"""

import dataclasses
import json
import math
import sys
import time

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry, Path
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from groundfm.control.config import CONTROL_PARAMETERS, ControlConfig
from groundfm.control.controller import LocomotionController, Mode, RobotState, roll_pitch_yaw
from groundfm.control.pursuit import DiscreteMove, PurePursuit
from groundfm.ros import qos
from groundfm.ros.entry import run_node
from groundfm.ros.params import declare_parameters
from groundfm.sim import go2
from groundfm_interfaces.msg import JointCommand, Move

MOVE_KINDS = {Move.FORWARD: 'forward', Move.TURN_LEFT: 'turn_left', Move.TURN_RIGHT: 'turn_right', Move.STOP: 'stop'}
STATE_TIMEOUT_S = 0.5  # odom or joint_states older than this (node clock) stop the control loop [s]
BEHAVIORS = ('stand', 'sit', 'stop', 'recover')


class ControlNode(Node):
    """Turn velocity commands, discrete moves and waypoint paths into joint commands for the Go2."""

    def __init__(self) -> None:
        super().__init__('control')
        self.cfg = ControlConfig(**declare_parameters(self, CONTROL_PARAMETERS))
        self.add_post_set_parameters_callback(self._on_params_set)
        self.controller = LocomotionController(self.cfg)
        self._odom: Odometry | None = None
        self._odom_time = self._joints_time = -math.inf
        self._q, self._dq = np.zeros(12), np.zeros(12)
        self._joint_index: tuple[tuple[str, ...], np.ndarray] | None = None
        self._source = 'idle'  # 'cmd_vel' | 'move' | 'waypoints' | 'idle'
        self._follower: PurePursuit | DiscreteMove | None = None
        self._cmd_vel_time = -math.inf
        self._watchdog_tripped = False
        self._last_tick: float | None = None
        self._last_mode = self.controller.mode
        self._window = {'ticks': 0, 'cpu_s': 0.0, 'start': None, 'last': None}
        self._stats = {'tick_ms': 0.0, 'rate_hz': 0.0}
        self._ticks = 0
        self._rejections: dict[str, float] = {}  # kind of rejected input -> monotonic time last logged

        self._pub_cmd = self.create_publisher(JointCommand, 'joint_command', qos.COMMAND)
        self._pub_state = self.create_publisher(String, 'control/state', 10)
        self.create_subscription(Twist, 'cmd_vel', self._on_cmd_vel, qos.COMMAND)
        self.create_subscription(Move, 'move', self._on_move, 10)
        self.create_subscription(Path, 'waypoints', self._on_waypoints, qos.COMMAND)
        self.create_subscription(String, 'behavior', self._on_behavior, 10)
        self.create_subscription(Odometry, 'odom', self._on_odom, qos.STATE)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, qos.STATE)
        self.create_timer(1.0 / self.cfg.control_rate_hz, self._tick)
        self.create_timer(1.0 / self.cfg.state_rate_hz, self._publish_state)
        self.get_logger().info(f'control at {self.cfg.control_rate_hz:g} Hz, body height {self.cfg.body_height_m} m, '
                               f'limits vx [-{self.cfg.max_vx_back_mps}, {self.cfg.max_vx_mps}] m/s, '
                               f'vy {self.cfg.max_vy_mps} m/s, wz {self.cfg.max_wz_radps} rad/s')

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_params_set(self, params: list) -> None:
        changes = {p.name: p.value for p in params if p.name in {f.name for f in dataclasses.fields(ControlConfig)}}
        if changes:
            try:
                self.cfg = dataclasses.replace(self.cfg, **changes)
            except ValueError as err:  # a combination the per-parameter check cannot see
                self.get_logger().error(f'parameter change not applied: {err}')
                return
            self.controller.update_config(self.cfg)

    # --- inputs ---------------------------------------------------------------------------------------------------
    def _reject(self, what: str, reason: str) -> None:
        """Log each kind of bad input at once, then at most once per second (a flood must not flood the log)."""
        kind = f'{what}:{reason.split(" ")[0]}'
        now = time.monotonic()
        if now - self._rejections.get(kind, -math.inf) >= 1.0:
            self._rejections[kind] = now
            self.get_logger().error(f'rejected {what}: {reason}; keeping the last good command')

    def _on_cmd_vel(self, msg: Twist) -> None:
        vx, vy, wz = msg.linear.x, msg.linear.y, msg.angular.z
        ignored = (msg.linear.z, msg.angular.x, msg.angular.y)
        if not all(math.isfinite(v) for v in ignored):
            self._reject('cmd_vel', f'non-finite value in linear.z / angular.x / angular.y {ignored}')
            return
        problem = self.controller.limit_violation(vx, vy, wz)
        if problem:
            self._reject('cmd_vel', problem)
            return
        self.controller.set_velocity(vx, vy, wz)
        self._follower, self._source = None, 'cmd_vel'
        self._cmd_vel_time = self._now()
        if self._watchdog_tripped:
            self.get_logger().info('cmd_vel back: walking')
            self._watchdog_tripped = False

    def _pose(self) -> tuple[float, float, float] | None:
        if self._odom is None:
            return None
        p, o = self._odom.pose.pose.position, self._odom.pose.pose.orientation
        return p.x, p.y, roll_pitch_yaw(np.array([o.x, o.y, o.z, o.w]))[2]

    def _on_move(self, msg: Move) -> None:
        kind = MOVE_KINDS.get(msg.type)
        pose = self._pose()
        if kind is None:
            self._reject('move', f'type {msg.type} is not FORWARD (0), TURN_LEFT (1), TURN_RIGHT (2) or STOP (3)')
            return
        if pose is None:
            self._reject('move', 'no odom yet')
            return
        try:
            move = DiscreteMove(self.cfg, kind, float(msg.amount), pose)
        except ValueError as err:
            self._reject('move', str(err))
            return
        self.get_logger().info(f'move {kind} {move.amount:.3g}')
        if move.done:  # STOP
            self._follower, self._source = None, 'idle'
            self.controller.stop()
            return
        self._follower, self._source = move, 'move'

    def _on_waypoints(self, msg: Path) -> None:
        frame = msg.header.frame_id
        if frame not in ('', 'odom'):
            self._reject('waypoints', f"frame_id {frame!r}: waypoints must be in 'odom'")
            return
        if not msg.poses:  # an empty path cancels following
            if self._source == 'waypoints':
                self._follower, self._source = None, 'idle'
                self.controller.stop()
            return
        points = [(p.pose.position.x, p.pose.position.y) for p in msg.poses]
        try:
            self._follower = PurePursuit(self.cfg, points)
        except ValueError as err:
            self._reject('waypoints', str(err))
            return
        self._source = 'waypoints'
        self.get_logger().info(f'following {len(points)} waypoints to ({points[-1][0]:.2f}, {points[-1][1]:.2f})')

    def _on_behavior(self, msg: String) -> None:
        name = msg.data.strip().lower()
        if name not in BEHAVIORS:
            self._reject('behavior', f'{msg.data!r} is not one of {", ".join(BEHAVIORS)}')
            return
        self._follower, self._source = None, 'idle'
        if name == 'recover':
            if self.controller.mode is Mode.FALLEN:
                self.controller.recover()
        else:
            getattr(self.controller, name)()

    def _on_odom(self, msg: Odometry) -> None:
        self._odom, self._odom_time = msg, self._now()

    def _on_joint_states(self, msg: JointState) -> None:
        names = tuple(msg.name)
        if self._joint_index is None or self._joint_index[0] != names:
            try:
                self._joint_index = (names, np.array([names.index(n) for n in go2.JOINT_NAMES]))
            except ValueError:
                self.get_logger().error(f'joint_states lacks Go2 joints: {list(names)}', throttle_duration_sec=5.0)
                return
        index = self._joint_index[1]
        q, dq = np.asarray(msg.position, dtype=float), np.asarray(msg.velocity, dtype=float)
        if len(q) != len(names) or len(dq) != len(names) or not (np.all(np.isfinite(q)) and np.all(np.isfinite(dq))):
            self.get_logger().error('joint_states: bad position/velocity arrays', throttle_duration_sec=5.0)
            return
        self._q, self._dq, self._joints_time = q[index], dq[index], self._now()

    # --- the control tick -----------------------------------------------------------------------------------------
    def _tick(self) -> None:
        cpu_start = time.thread_time()
        now = self._now()
        if self._odom is None or now - min(self._odom_time, self._joints_time) > STATE_TIMEOUT_S:
            self.get_logger().warning('waiting for odom and joint_states', throttle_duration_sec=5.0)
            self._last_tick = None
            return
        dt = 1.0 / self.cfg.control_rate_hz if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        if self._follower is not None:
            self.controller.set_velocity(*self._follower.command(self._pose()))
            if self._follower.done:
                self.get_logger().info(f'{self._source} done')
                self._follower, self._source = None, 'idle'
                self.controller.stop()
        elif self._source == 'cmd_vel' and now - self._cmd_vel_time > self.cfg.command_timeout_s:
            self.controller.stop()
            self._source, self._watchdog_tripped = 'idle', True
            self.get_logger().warning(f'no cmd_vel for {self.cfg.command_timeout_s} s: standing')

        o = self._odom
        state = RobotState(
            np.array([o.pose.pose.orientation.x, o.pose.pose.orientation.y, o.pose.pose.orientation.z,
                      o.pose.pose.orientation.w]),
            np.array([o.twist.twist.angular.x, o.twist.twist.angular.y, o.twist.twist.angular.z]),
            np.array([o.twist.twist.linear.x, o.twist.twist.linear.y, o.twist.twist.linear.z]),
            self._q, self._dq)
        try:
            targets = self.controller.step(state, dt)
        except ValueError as err:  # a non-finite state: send nothing, the motors fall back to damping
            self.get_logger().error(f'control step skipped: {err}', throttle_duration_sec=1.0)
            return
        if self.controller.mode is not self._last_mode:
            if self.controller.mode is Mode.FALLEN:
                self.get_logger().error(f'fall detected ({self.controller.fall_reason}): safe stop, joints damped')
                self._follower, self._source = None, 'idle'
            else:
                self.get_logger().info(f'mode {self._last_mode.value} -> {self.controller.mode.value}')
            self._last_mode = self.controller.mode

        msg = JointCommand(name=list(go2.JOINT_NAMES), q=targets.q.tolist(), dq=targets.dq.tolist(),
                           kp=targets.kp.tolist(), kd=targets.kd.tolist(), tau=targets.tau.tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_cmd.publish(msg)
        window = self._window
        window['ticks'] += 1
        window['cpu_s'] += time.thread_time() - cpu_start
        if window['start'] is None:
            window['start'] = now
        window['last'] = now
        self._ticks += 1

    def _publish_state(self) -> None:
        now, window = self._now(), self._window
        if window['ticks'] > 1 and window['last'] > window['start']:
            # tick intervals over their node-clock span: the achieved rate (sim time in sim)
            self._stats = {'tick_ms': 1e3 * window['cpu_s'] / window['ticks'],
                           'rate_hz': (window['ticks'] - 1) / (window['last'] - window['start'])}
        self._window = {'ticks': 0, 'cpu_s': 0.0, 'start': None, 'last': None}
        status = self.controller.status()
        status.update(source=self._source, ticks=self._ticks, stamp=round(now, 4),
                      **{k: round(v, 4) for k, v in self._stats.items()})
        self._pub_state.publish(String(data=json.dumps(status)))


def main(args: list[str] | None = None) -> int:
    """Entry point of `control_node`."""
    return run_node('control', ControlNode, args)


if __name__ == '__main__':
    sys.exit(main())
