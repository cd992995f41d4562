"""ROS adapter for the MuJoCo Go2 house sim: publishes sensors and state at sim time, applies JointCommand.

Physics, rendering and the house live in world.py / house.py; this node only schedules them on sim time, converts
to messages and validates commands. Topics (relative, so a namespace per robot works):
  out: /clock, stereo/{left,right}/image_rect (rgb8) + camera_info, odom, joint_states, /tf, /tf_static,
       sim/depth_gt (32FC1), sim/labels (32SC1) + sim/label_table (oracle, latched), sim/scene (ground truth JSON)
  in:  joint_command (groundfm_interfaces/JointCommand)
Time: sim time runs at real_time_factor x the wall clock; a sim that falls behind slows down instead of racing to
catch up. Once joint commands flow, lockstep holds sim time at most lockstep_lead_s (or 1.25 command intervals, if
longer) past the sim time stamped on the last one, so a starved controller process sees the same physics as a prompt
one and misses no tick. Once no node publishes joint_command (or none arrives for 5 s of wall time) the sim runs free,
and the motors go to damping.
"""

import json
import sys
import threading
import time
from collections import deque

import numpy as np
import rclpy
from geometry_msgs.msg import Point, Pose, Twist, Vector3
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header, String

from groundfm.geometry.rotations import quat_from_euler
from groundfm.io import atomic_write_text
from groundfm.ros import qos
from groundfm.ros.convert import (
    numpy_to_image,
    quaternion_msg,
    seconds_from_stamp,
    stamp_from_seconds,
    stereo_camera_infos,
    transform_stamped,
)
from groundfm.ros.entry import run_node
from groundfm.ros.params import declare_parameters
from groundfm.ros.tf import StaticTransformBroadcaster, TransformBroadcaster
from groundfm.sim import go2
from groundfm.sim.config import SIM_PARAMETERS, SimConfig
from groundfm.sim.house import flat_house, generate_house
from groundfm.sim.motors import MotorLimits, validate_motor_command
from groundfm_interfaces.msg import JointCommand, LabelTable

# REP-103 optical frame (x right, y down, z forward) expressed in camera_link (x forward, y left, z up).
OPTICAL_IN_LINK = quat_from_euler(-np.pi / 2, 0.0, -np.pi / 2)
LOCKSTEP_TIMEOUT_S = 5.0  # a lockstep wait longer than this [s wall] means the controller is hung: run free
LOCKSTEP_POLL_S = 0.1  # while waiting, check this often [s wall] whether any joint_command publisher is left
LOCKSTEP_PERIODS = 1.25  # the lockstep lead is at least this many of the controller's (median) command intervals
LOCKSTEP_INTERVALS = 16  # command intervals the median is taken over
STAMP_WINDOW_S = 0.1  # a JointCommand stamp this recent (sim time) [s] is the tick it was computed for
MAX_CATCH_UP_S = 0.05  # a sim further behind the wall clock than this [s] gives up the difference instead of racing
FRAMES = {'map': 'map', 'odom': 'odom', 'base': 'base_link', 'camera': 'camera_link',
          'left': 'stereo_left_optical_frame', 'right': 'stereo_right_optical_frame'}


class SimNode(Node):
    """Run the house sim on its own thread and publish everything at sim time."""

    def __init__(self) -> None:
        super().__init__('sim')
        values = declare_parameters(self, SIM_PARAMETERS)
        values.pop('use_sim_time', None)
        self.cfg = SimConfig(**values)
        if self.get_parameter('use_sim_time').value:
            self.get_logger().warning('use_sim_time is true for the sim, which publishes /clock itself; ignoring it')
            self.set_parameters([rclpy.parameter.Parameter('use_sim_time', value=False)])
        self.house = (flat_house() if self.cfg.world == 'flat'
                      else generate_house(self.cfg.scene_seed, self.cfg.num_rooms))
        self._limits = MotorLimits(go2.JOINT_NAMES, go2.EFFORT_LIMITS, go2.POSITION_LIMITS[:, 0],
                                   go2.POSITION_LIMITS[:, 1])

        self._pub_clock = self.create_publisher(Clock, '/clock', qos.CLOCK)
        self._pub_left = self.create_publisher(Image, 'stereo/left/image_rect', qos.SENSOR)
        self._pub_right = self.create_publisher(Image, 'stereo/right/image_rect', qos.SENSOR)
        self._pub_left_info = self.create_publisher(CameraInfo, 'stereo/left/camera_info', qos.SENSOR)
        self._pub_right_info = self.create_publisher(CameraInfo, 'stereo/right/camera_info', qos.SENSOR)
        self._pub_depth = self.create_publisher(Image, 'sim/depth_gt', qos.SENSOR)
        self._pub_labels = self.create_publisher(Image, 'sim/labels', qos.SENSOR)
        self._pub_label_table = self.create_publisher(LabelTable, 'sim/label_table', qos.LATCHED)
        self._pub_scene = self.create_publisher(String, 'sim/scene', qos.LATCHED)
        self._pub_odom = self.create_publisher(Odometry, 'odom', qos.STATE)
        self._pub_joints = self.create_publisher(JointState, 'joint_states', qos.STATE)
        self._tf = TransformBroadcaster(self)
        self._tf_static = StaticTransformBroadcaster(self)
        self._sub_command = self.create_subscription(JointCommand, 'joint_command', self._on_joint_command,
                                                     qos.COMMAND)

        self._command_time: float | None = None  # sim time of the last good command
        self._pending_command = None
        self._command_arrived = threading.Event()
        self._rejections: dict[str, float] = {}  # kind of rejection -> monotonic time last logged
        self._lock = threading.Lock()
        self._running = True
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name='sim-loop', daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f'sim failed to start: {self._error}') from self._error

    # --- commands -------------------------------------------------------------------------------------------------
    def _on_joint_command(self, msg: JointCommand) -> None:
        try:
            cmd = validate_motor_command(self._limits, msg.name, msg.q, msg.dq, msg.kp, msg.kd, msg.tau)
        except ValueError as err:
            self._log_rejection(str(err))
            return
        with self._lock:
            self._pending_command = (cmd, seconds_from_stamp(msg.header.stamp))
            self._command_arrived.set()

    def _log_rejection(self, reason: str) -> None:
        """Log each kind of bad command at once, then at most once per second (a flood must not flood the log)."""
        kind = reason.split(':')[0][:40]
        now = time.monotonic()
        if now - self._rejections.get(kind, -1e9) >= 1.0:
            self._rejections[kind] = now
            self.get_logger().error(f'rejected joint_command, keeping the last good one: {reason}')

    # --- the sim thread -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        from groundfm.sim.world import MotorCommand, SimWorld  # imports mujoco (EGL) on the thread that renders

        try:
            start = time.perf_counter()
            self.world = SimWorld(self.house, self.cfg)
            self.get_logger().info(
                f'house seed {self.cfg.scene_seed}: {len(self.house.rooms)} rooms, {len(self.house.objects)} objects; '
                f'stereo {self.cfg.image_width}x{self.cfg.image_height} at {self.cfg.camera_rate_hz:g} Hz, '
                f'loaded in {time.perf_counter() - start:.1f} s')
            self._publish_latched()
        except BaseException as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()

        world, cfg = self.world, self.cfg
        periods = {'clock': 1.0 / cfg.clock_rate_hz, 'state': 1.0 / cfg.state_rate_hz,
                   'camera': 1.0 / cfg.camera_rate_hz}
        due = dict.fromkeys(periods, world.time)
        wall_start, sim_start = time.perf_counter(), world.time
        damping, free_running = True, False
        last_clock = -1.0  # sim time last published on /clock [s]
        tick_time, tick_period = -1.0, 0.0  # sim time the last command was computed for; the median interval [s]
        intervals: deque[float] = deque(maxlen=LOCKSTEP_INTERVALS)  # between recent command stamps [s]
        while self._running and rclpy.ok(context=self.context):
            with self._lock:
                pending, self._pending_command = self._pending_command, None
                self._command_arrived.clear()
            if pending is not None:
                cmd, stamp = pending
                world.set_motor_command(MotorCommand(cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau))
                self._command_time, damping, free_running = world.time, False, False
                # Lockstep counts from the sim time the command was computed for (its stamp, from a controller on
                # /clock); a stamp that is not a recent sim time (wall clock, unset) counts as 'now'.
                if world.time - STAMP_WINDOW_S <= stamp <= world.time + 1e-9:
                    if 0.0 < stamp - tick_time <= STAMP_WINDOW_S:
                        intervals.append(stamp - tick_time)
                        tick_period = float(np.median(intervals))
                else:
                    stamp = world.time
                tick_time = max(tick_time, stamp)
            elif not damping and world.time - self._command_time > cfg.command_timeout_s:
                world.set_motor_command(None)
                damping = True
                self.get_logger().warning(f'no joint_command for {cfg.command_timeout_s} s: motors in damping mode')
            elif (not damping and not free_running and cfg.lockstep_lead_s > 0
                  and world.time - tick_time >= max(cfg.lockstep_lead_s, LOCKSTEP_PERIODS * tick_period)):
                # Lockstep: hold sim time until the controller catches up, as a starved controller process would
                # otherwise see the physics run on without it (PX4 SITL and ros2_control in Gazebo do the same).
                # /clock first shows the held time, so a controller timer on sim time is due by now: the lead is
                # at least 1.25 of the controller's observed periods, and lockstep_lead_s covers the first one.
                if last_clock < world.time:
                    try:
                        last_clock = self._publish_clock(world.time)
                    except Exception:  # shutting down
                        if not rclpy.ok(context=self.context):
                            break
                        raise
                if not self._wait_for_command():
                    free_running = True
                    self.get_logger().warning('lockstep: the joint_command publisher is gone or silent; running free '
                                              'until the next command')
                wall_start, sim_start = time.perf_counter(), world.time  # the wait is not lag to catch up
                continue

            next_event = min(due.values())
            steps = max(1, int(round((next_event - world.time) / world.physics_dt)))
            world.step(steps)
            now = world.time
            stamp = stamp_from_seconds(now)
            try:
                if now >= due['clock'] - 1e-9:
                    last_clock = self._publish_clock(now)
                    due['clock'] += periods['clock']
                if now >= due['state'] - 1e-9:
                    self._publish_state(stamp)
                    due['state'] += periods['state']
                if now >= due['camera'] - 1e-9:
                    self._publish_cameras(stamp)
                    due['camera'] += periods['camera']
            except Exception as err:
                if not rclpy.ok(context=self.context):
                    break
                self.get_logger().warning(f'publish failed: {err}', throttle_duration_sec=5.0)
            if cfg.real_time_factor > 0:
                lag = (now - sim_start) / cfg.real_time_factor - (time.perf_counter() - wall_start)
                if lag > 0:
                    time.sleep(lag)
                elif lag < -MAX_CATCH_UP_S:  # behind: slow down rather than race the nodes to catch up
                    wall_start, sim_start = time.perf_counter() - MAX_CATCH_UP_S, now
        world.close()

    def _wait_for_command(self) -> bool:
        """Wait for the next JointCommand (True), or give up (False) once no node publishes joint_command any more
        (the controller exited) or after LOCKSTEP_TIMEOUT_S of wall time (it hangs); a starved one is waited for."""
        deadline = time.monotonic() + LOCKSTEP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._command_arrived.wait(LOCKSTEP_POLL_S):
                return True
            if not self._running or self.count_publishers(self._sub_command.topic_name) == 0:
                return False
        return self._command_arrived.is_set()

    def _publish_clock(self, now: float) -> float:
        """Publish sim time now [s] on /clock; returns it."""
        self._pub_clock.publish(Clock(clock=stamp_from_seconds(now)))
        return now

    def _publish_latched(self) -> None:
        """Static transforms, the label table and the scene ground truth, once (transient local)."""
        stamp = stamp_from_seconds(0.0)
        mount_t, mount_q = self.world.camera_mount()
        half_b = self.cfg.stereo_baseline_m / 2
        self._tf_static.send([
            transform_stamped(FRAMES['map'], FRAMES['odom'], np.zeros(3), np.array([0, 0, 0, 1.0]), stamp),
            transform_stamped(FRAMES['base'], FRAMES['camera'], mount_t, mount_q, stamp),
            transform_stamped(FRAMES['camera'], FRAMES['left'], np.array([0, half_b, 0]), OPTICAL_IN_LINK, stamp),
            transform_stamped(FRAMES['camera'], FRAMES['right'], np.array([0, -half_b, 0]), OPTICAL_IN_LINK, stamp),
        ])
        if self.cfg.oracle_semantics:
            ids = [0] + [o.id for o in self.house.objects]
            labels = ['structure'] + [o.label for o in self.house.objects]
            self._pub_label_table.publish(LabelTable(header=Header(stamp=stamp, frame_id=FRAMES['left']),
                                                     source='oracle', ids=ids, labels=labels))
        scene_json = json.dumps(self.house.to_json())
        self._pub_scene.publish(String(data=scene_json))
        if self.cfg.scene_export_path:
            atomic_write_text(self.cfg.scene_export_path, scene_json)

    def _publish_state(self, stamp) -> None:
        base = self.world.base_state()
        q, dq, tau = self.world.joint_state()
        self._tf.send([transform_stamped(FRAMES['odom'], FRAMES['base'], base.position, base.orientation_xyzw, stamp)])
        odom = Odometry(header=Header(stamp=stamp, frame_id=FRAMES['odom']), child_frame_id=FRAMES['base'])
        odom.pose.pose = Pose(position=Point(x=float(base.position[0]), y=float(base.position[1]),
                                             z=float(base.position[2])),
                              orientation=quaternion_msg(base.orientation_xyzw))
        odom.twist.twist = Twist(linear=Vector3(x=float(base.linear_velocity[0]), y=float(base.linear_velocity[1]),
                                                z=float(base.linear_velocity[2])),
                                 angular=Vector3(x=float(base.angular_velocity[0]),
                                                 y=float(base.angular_velocity[1]),
                                                 z=float(base.angular_velocity[2])))
        self._pub_odom.publish(odom)
        self._pub_joints.publish(JointState(header=Header(stamp=stamp), name=list(self.world.joint_names),
                                            position=q.tolist(), velocity=dq.tolist(), effort=tau.tolist()))

    def _publish_cameras(self, stamp) -> None:
        frame = self.world.render_stereo()
        cam = self.world.camera_model
        left_header = Header(stamp=stamp, frame_id=FRAMES['left'])
        right_header = Header(stamp=stamp, frame_id=FRAMES['right'])
        left_info, right_info = stereo_camera_infos(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy,
                                                    cam.baseline, left_header, right_header)
        self._pub_left.publish(numpy_to_image(frame.left, 'rgb8', left_header))
        self._pub_right.publish(numpy_to_image(frame.right, 'rgb8', right_header))
        self._pub_left_info.publish(left_info)
        self._pub_right_info.publish(right_info)
        if self.cfg.publish_depth_gt:
            self._pub_depth.publish(numpy_to_image(frame.depth.astype(np.float32), '32FC1', left_header))
        if self.cfg.oracle_semantics:
            self._pub_labels.publish(numpy_to_image(frame.instances.astype(np.int32), '32SC1', left_header))

    def destroy_node(self) -> None:
        """Stop the sim thread before the node goes away."""
        self._running = False
        if hasattr(self, '_command_arrived'):
            self._command_arrived.set()  # a lockstep wait ends at once
        thread = getattr(self, '_thread', None)  # absent if the constructor failed early
        if thread is not None and thread.is_alive():
            thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of `sim_node`."""
    return run_node('sim', SimNode, args)


if __name__ == '__main__':
    sys.exit(main())
