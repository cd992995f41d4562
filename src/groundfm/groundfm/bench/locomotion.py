"""Locomotion over the full ROS path: velocity tracking, falls under random commands, control CPU time and rate.

World: the sim node's 'flat' world (world:=flat, an obstacle-free floor; no house, so random commands cannot walk
into furniture), cameras at 0.1 Hz and no oracle images, real_time_factor --rtf (default 1: sim time runs with the wall
clock, as on the robot). The sim node and the control node (use_sim_time) run as separate processes on a private
ROS_DOMAIN_ID; this process publishes cmd_vel (geometry_msgs/Twist) at 20 Hz and measures everything from odom and
control/state. --seeds N seeds the random commands (the flat world has no house seed).

Datasets (method groundfm):
  track_vx_0.2, track_vx_0.5, track_vx_0.8, track_wz_0.5, track_wz_1.0, track_mixed (vx 0.5 m/s + wz 0.5 rad/s):
    tracking_error_pct = 100 |measured - commanded| / |commanded|, worst component, each command held --hold s of sim
    time from a stand, the first --settle s dropped; measured linear velocity = mean odom twist (base_link), measured
    yaw rate = unwrapped odom yaw change / sim time.
  random_commands: --minutes of sim time of random (vx, vy, wz) commands held 2-5 s, with stops; falls = times the
    base tilted beyond 1 rad or dropped below 0.12 m (the sim's own fall test, from odom); the control node recovers
    by itself (auto_recover) so that later falls are counted too. commands_beyond_limits = scheduled commands that the
    control node's default limits do not accept (it would reject them; 0 means the run walked what it asked for).
    control_hz = joint_command ticks per second of sim
    time (the node's tick counter over the run); ms_per_tick = the node's CPU time per tick (thread time: controller
    + message building + publish).
  core_inprocess: ms_per_tick = CPU time of one LocomotionController.step while trotting in-process (no ROS).
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from groundfm.bench.results import THIS_PROJECT, Results
from groundfm.ros.domain import BENCH_DOMAIN_IDS, lease_domain_id

TRACKING = {  # dataset -> (vx [m/s], vy [m/s], wz [rad/s])
    'track_vx_0.2': (0.2, 0.0, 0.0),
    'track_vx_0.5': (0.5, 0.0, 0.0),
    'track_vx_0.8': (0.8, 0.0, 0.0),
    'track_wz_0.5': (0.0, 0.0, 0.5),
    'track_wz_1.0': (0.0, 0.0, 1.0),
    'track_mixed': (0.5, 0.0, 0.5),
}
CMD_PERIOD_S = 0.05  # cmd_vel publication period [s wall]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark-specific options."""
    parser.add_argument('--minutes', type=float, default=10.0, help='sim minutes of random commands (falls)')
    parser.add_argument('--hold', type=float, default=6.0, help='sim seconds each tracking command is held')
    parser.add_argument('--settle', type=float, default=2.0, help='sim seconds dropped at the start of each hold')
    parser.add_argument('--rtf', type=float, default=1.0, help='sim real_time_factor (sim seconds per wall second)')
    parser.add_argument('--core-ticks', type=int, default=2000, help='in-process controller ticks to time')


def run(args: argparse.Namespace) -> Results:
    """Start sim + control, measure tracking, then random commands; time the core in-process."""
    if args.minutes < 0 or args.hold <= args.settle or args.settle < 0 or args.rtf <= 0:
        raise ValueError('need --minutes >= 0, --hold > --settle >= 0 and --rtf > 0')
    results: Results = {}
    signal.signal(signal.SIGTERM, _terminate)  # so that the node processes are stopped on SIGTERM too
    with RosStack(seed=args.seeds[0], rtf=args.rtf) as stack:
        for name, cmd in TRACKING.items():
            error = stack.tracking_error_pct(cmd, args.hold, args.settle)
            print(f'{name}: cmd {cmd} -> tracking error {error:.2f} %', flush=True)
            results[name] = {THIS_PROJECT: {'tracking_error_pct': error}}
        if args.minutes > 0:
            random_metrics = stack.random_commands(args.minutes * 60.0, args.seeds[0])
            print(f'random commands: {random_metrics}', flush=True)
            results['random_commands'] = {THIS_PROJECT: random_metrics}
    results['core_inprocess'] = {THIS_PROJECT: {'ms_per_tick': core_ms_per_tick(args.core_ticks)}}
    return results


def _terminate(signum: int, _frame) -> None:
    raise KeyboardInterrupt(f'signal {signum}')


def random_schedule(seed: int, sim_seconds: float) -> list[tuple[tuple[float, float, float], float]]:
    """Seeded random (vx, vy, wz) commands [m/s, m/s, rad/s] and their hold times [s], summing to sim_seconds.

    15 % are stops; otherwise vx in [-0.4, 0.9], wz in [-1, 1], and in 30 % a lateral vy in [-0.2, 0.2].
    """
    rng = np.random.default_rng(seed)
    schedule, total = [], 0.0
    while total < sim_seconds - 1e-9:
        if rng.random() < 0.15:
            cmd = (0.0, 0.0, 0.0)
        else:
            vx = float(rng.uniform(-0.4, 0.9))
            vy = float(rng.uniform(-0.2, 0.2)) if rng.random() < 0.3 else 0.0
            cmd = (vx, vy, float(rng.uniform(-1.0, 1.0)))
        hold = min(float(rng.uniform(2.0, 5.0)), sim_seconds - total)
        schedule.append((cmd, hold))
        total += hold
    return schedule


def core_ms_per_tick(ticks: int) -> float:
    """Mean CPU time [ms] of LocomotionController.step while trotting at 0.5 m/s on the in-process MuJoCo Go2."""
    from groundfm.control.controller import LocomotionController, RobotState
    from groundfm.sim.config import SimConfig
    from groundfm.sim.house import flat_house
    from groundfm.sim.world import MotorCommand, SimWorld

    world = SimWorld(flat_house(), SimConfig(world='flat'))
    ctl = LocomotionController()
    steps = round(1.0 / ctl.cfg.control_rate_hz / world.physics_dt)
    cpu = 0.0
    for i in range(ticks + 500):
        if i == 250:
            ctl.set_velocity(0.5, 0.0, 0.2)
        base = world.base_state()
        q, dq, _ = world.joint_state()
        state = RobotState(base.orientation_xyzw, base.angular_velocity, base.linear_velocity, q, dq)
        start = time.thread_time()
        t = ctl.step(state, steps * world.physics_dt)
        if i >= 500:
            cpu += time.thread_time() - start
        world.set_motor_command(MotorCommand(t.q, t.dq, t.kp, t.kd, t.tau))
        world.step(steps)
    if world.fallen():
        raise RuntimeError('the robot fell during the in-process timing run')
    return 1e3 * cpu / ticks


def _yaw(q) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def _tilt(q) -> float:
    """max(|roll|, |pitch|) [rad] of a geometry_msgs/Quaternion, as SimWorld.fallen() computes them."""
    r20, r21, r22 = 2 * (q.x * q.z - q.w * q.y), 2 * (q.y * q.z + q.w * q.x), 1 - 2 * (q.x * q.x + q.y * q.y)
    return max(abs(math.atan2(r21, r22)), abs(math.asin(max(-1.0, min(1.0, -r20)))))


class RosStack:
    """Sim + control node processes on a private domain, and a client that commands cmd_vel and records odom."""

    def __init__(self, seed: int, rtf: float) -> None:
        self.seed, self.rtf = seed, rtf
        self.domain = lease_domain_id(BENCH_DOMAIN_IDS)  # no other run on this machine shares it
        self._odom: list[tuple[float, ...]] = []  # (t, x, y, z, yaw, vx, vy, tilt) [s, m, rad, m/s]
        self._states: list[dict] = []
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._logs = Path(tempfile.mkdtemp(prefix='groundfm_bench_locomotion_'))

    def __enter__(self) -> 'RosStack':
        import rclpy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        from std_msgs.msg import String

        from groundfm.ros import qos
        from groundfm.ros.convert import seconds_from_stamp

        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                   PYTHONUNBUFFERED='1')
        sim_params = {'world': 'flat', 'camera_rate_hz': 0.1, 'oracle_semantics': False, 'publish_depth_gt': False,
                      'real_time_factor': float(self.rtf)}
        control_params = {'use_sim_time': True, 'auto_recover': True}
        for name, module, params in (('sim', 'groundfm.sim.node', sim_params),
                                     ('control', 'groundfm.control.node', control_params)):
            cmd = [sys.executable, '-m', module, '--ros-args']
            for key, value in params.items():
                cmd += ['-p', f'{key}:={str(value).lower() if isinstance(value, bool) else value}']
            with open(self._logs / f'{name}.log', 'w') as log:  # the child keeps its own descriptor
                self._procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True))
        self._context = Context()
        # No rclpy signal handlers: Ctrl-C must raise KeyboardInterrupt here so that __exit__ stops the nodes.
        rclpy.init(context=self._context, domain_id=self.domain, signal_handler_options=SignalHandlerOptions.NO)
        self._node = rclpy.create_node('groundfm_bench_locomotion', context=self._context)

        def on_odom(m: Odometry) -> None:
            p, t = m.pose.pose, m.twist.twist
            row = (seconds_from_stamp(m.header.stamp), p.position.x, p.position.y, p.position.z,
                   _yaw(p.orientation), t.linear.x, t.linear.y, _tilt(p.orientation))
            with self._lock:
                self._odom.append(row)

        def on_state(m: String) -> None:
            with self._lock:
                self._states.append(json.loads(m.data))

        self._node.create_subscription(Odometry, 'odom', on_odom, qos.STATE)
        self._node.create_subscription(String, 'control/state', on_state, 10)
        self._pub = self._node.create_publisher(Twist, 'cmd_vel', qos.COMMAND)
        self._twist = Twist
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()
        try:
            self._wait(lambda: self._state().get('mode') == 'stand', 120.0, 'the robot to stand')
        except BaseException:
            self.__exit__()
            raise
        return self

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # shutdown while spinning
            pass

    def __exit__(self, *_exc: object) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
        self._context.try_shutdown()
        self._spinner.join(timeout=5.0)

    # --- helpers --------------------------------------------------------------------------------------------------
    def _state(self) -> dict:
        with self._lock:
            return dict(self._states[-1]) if self._states else {}

    def _sim_now(self) -> float:
        with self._lock:
            return self._odom[-1][0] if self._odom else 0.0

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f'a node exited ({proc.returncode}) while waiting for {what}: {self._tails()}')
            if condition():
                return
            time.sleep(0.05)
        raise RuntimeError(f'timed out after {timeout} s waiting for {what}: {self._tails()}')

    def _tails(self) -> str:
        return ' | '.join(f'{p.name}: ' + ' / '.join(p.read_text().splitlines()[-5:])
                          for p in sorted(self._logs.glob('*.log')))

    def _command_for(self, cmd: tuple[float, float, float], sim_seconds: float) -> None:
        """Publish cmd every CMD_PERIOD_S wall seconds until sim_seconds of sim time have passed."""
        from geometry_msgs.msg import Vector3

        msg = self._twist(linear=Vector3(x=float(cmd[0]), y=float(cmd[1])), angular=Vector3(z=float(cmd[2])))
        end = self._sim_now() + sim_seconds
        wall_limit = time.monotonic() + sim_seconds / self.rtf * 5 + 30
        while self._sim_now() < end:
            if time.monotonic() > wall_limit or any(p.poll() is not None for p in self._procs):
                raise RuntimeError(f'sim time stalled or a node exited: {self._tails()}')
            self._pub.publish(msg)
            time.sleep(CMD_PERIOD_S)

    def _rows(self, t0: float, t1: float) -> np.ndarray:
        with self._lock:
            return np.array([r for r in self._odom if t0 <= r[0] <= t1])

    # --- measurements ---------------------------------------------------------------------------------------------
    def tracking_error_pct(self, cmd: tuple[float, float, float], hold: float, settle: float) -> float:
        """Worst-component tracking error [%] of cmd held for hold s from a stand, after settle s."""
        self._command_for((0.0, 0.0, 0.0), 1.5)
        self._wait(lambda: self._state().get('mode') == 'stand', 30.0, 'a stand before the next command')
        start = self._sim_now()
        self._command_for(cmd, hold)
        rows = self._rows(start + settle, start + hold)
        if len(rows) < 10:
            raise RuntimeError(f'only {len(rows)} odom messages in the measurement window')
        duration = rows[-1, 0] - rows[0, 0]
        measured = (rows[:, 5].mean(), rows[:, 6].mean(), (np.unwrap(rows[:, 4])[-1] - rows[0, 4]) / duration)
        errors = [abs(m - c) / abs(c) * 100 for m, c in zip(measured, cmd, strict=True) if abs(c) > 1e-9]
        return float(max(errors))

    def random_commands(self, sim_seconds: float, seed: int) -> dict[str, float]:
        """Random commands for sim_seconds; falls from odom, control rate and CPU per tick from control/state."""
        with self._lock:
            first_state, n_odom = dict(self._states[-1]), len(self._odom)
        from groundfm.control.controller import LocomotionController

        schedule = random_schedule(seed, sim_seconds)
        limits = LocomotionController()
        beyond = sum(limits.limit_violation(*cmd) is not None for cmd, _ in schedule)
        if beyond:
            print(f'{beyond} of {len(schedule)} random commands are beyond the control limits', flush=True)
        start = self._sim_now()
        falls, down, segments = 0, False, 0
        for cmd, hold in schedule:
            self._command_for(cmd, hold)
            segments += 1
            with self._lock:
                rows, n_odom = self._odom[n_odom:], len(self._odom)
            for row in rows:
                fallen = row[7] > 1.0 or row[3] < 0.12  # SimWorld.fallen(): roll or pitch beyond 1 rad, or too low
                if fallen and not down:
                    falls += 1
                    print(f'fall at sim t = {row[0]:.1f} s (command {cmd})', flush=True)
                down = fallen
        last_state = self._state()
        span = last_state['stamp'] - first_state['stamp']
        with self._lock:
            windows = [s for s in self._states if s['stamp'] > first_state['stamp']]
        return {
            'falls': falls,
            'sim_minutes': (self._sim_now() - start) / 60.0,
            'segments': segments,
            'commands_beyond_limits': beyond,
            'control_hz': (last_state['ticks'] - first_state['ticks']) / span,
            'control_hz_min_window': min(s['rate_hz'] for s in windows),
            'ms_per_tick': float(np.mean([s['tick_ms'] for s in windows])),
            'controller_falls': last_state['falls'] - first_state['falls'],
        }
