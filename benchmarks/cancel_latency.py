"""How soon after a cancel does the navigation node command the robot to stand still? The node as a real process.

For each house seed, the navigation node runs with the ground-truth map stand-in (as in
tests/navigation/test_navigation_node.py) beside a kinematic base in this process (`groundfm.bench.nav.KinematicBase`:
cmd_vel in, odom out at 50 Hz, collisions with walls and furniture). Each trial sends "go to the <object>" for an
object with a unique label at least 3 m away, waits until the robot moves, then a random 0.2-2.0 s more, and cancels.
The stop latency runs from the cancel request to the zero cmd_vel from which on every command is zero (up to 0.3 s
after the result), both on this process's clock, so it includes DDS both ways and this process's own delays. It is the
command's latency, not the body's: how fast a legged robot then comes to rest is the controller's (issue #3). A trial
counts only if the last command before the cancel moved the robot (a zero then may be the navigator's own pause) and
its goal ended "cancelled" (not reached just then). `--executor rclpy` runs the node on rclpy's own
MultiThreadedExecutor instead of groundfm's (the before-measurement of groundfm/ros/executors.py).

    python benchmarks/cancel_latency.py --seeds 100 101 102 --cancels 10 --json OUT [--executor rclpy]

writes {"datasets": {"cancel_latency": {METHOD: {"cancels", "stop_p50_s", "stop_p95_s", "stop_max_s", "over_0_5_s",
"never_stopped", "not_cancelled", "not_measured"}}}}, METHOD being "groundfm" or "rclpy_executor", plus every trial.
over_0_5_s counts the cancels that never stopped the robot too.
"""

import argparse
import bisect
import math
import os
import random
import subprocess
import sys
import threading
import time
from functools import partial

import numpy as np
from tqdm import tqdm

NODE = '''
import sys
if sys.argv[1] == 'rclpy':  # the before-measurement: rclpy's own multi-threaded executor
    import rclpy.executors
    import groundfm.ros.executors
    groundfm.ros.executors.MultiThreadedExecutor = rclpy.executors.MultiThreadedExecutor
sys.argv = sys.argv[:1] + sys.argv[2:]
from groundfm.navigation.node import main
sys.exit(main())
'''
NODE_PARAMETERS = {'use_depth': 'false', 'use_ground_truth_scene': 'true', 'map_source': 'ground_truth',
                   'max_speed': '1.0', 'inputs_wait_s': '1.5'}
STEP_S = 0.02  # the kinematic base's step and odom period [s]
MOVING = 0.05  # |v| [m/s] or |w| [rad/s] that counts as moving
STOP_LIMIT_S = 0.5  # issue #7: cancel stops the robot within this [s]


class Robot:
    """A kinematic base on the ROS graph: integrates the latest cmd_vel, publishes odom and the house on sim/scene;
    keeps every cmd_vel with its arrival time (monotonic)."""

    def __init__(self, node, house) -> None:
        import json

        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from std_msgs.msg import String

        from groundfm.bench.nav import KinematicBase
        from groundfm.ros import qos

        self.base = KinematicBase(house, house.spawn, render_depth=False)
        self.commands: list[tuple[float, float, float]] = []  # (monotonic arrival time [s], v, w)
        self._times: list[float] = []
        self._twist = (0.0, 0.0)
        self._lock = threading.Lock()
        self._odom = node.create_publisher(Odometry, 'odom', qos.STATE)
        self._scene = node.create_publisher(String, 'sim/scene', qos.LATCHED)
        self._scene.publish(String(data=json.dumps(house.to_json())))
        node.create_subscription(Twist, 'cmd_vel', self._on_cmd, qos.COMMAND)
        node.create_timer(STEP_S, self._step)

    def _on_cmd(self, msg) -> None:
        with self._lock:
            self._twist = (msg.linear.x, msg.angular.z)
            now = time.monotonic()
            self.commands.append((now, msg.linear.x, msg.angular.z))
            self._times.append(now)

    def _step(self) -> None:
        from groundfm.ros.convert import planar_odometry

        with self._lock:
            self.base.step(*self._twist, STEP_S)
            x, y, yaw = self.base.pose
        self._odom.publish(planar_odometry(x, y, yaw, time.time()))

    def commands_since(self, t: float) -> list[tuple[float, float, float]]:
        """The cmd_vel messages (time, v, w) that arrived at or after monotonic time t."""
        with self._lock:
            return self.commands[bisect.bisect_left(self._times, t):]

    def moving_before(self, t: float) -> bool:
        """True when the last cmd_vel before t asked for motion."""
        with self._lock:
            i = bisect.bisect_left(self._times, t)
            return i > 0 and _moves(*self.commands[i - 1][1:])

    def moved_since(self, t: float) -> bool:
        """True when a cmd_vel since t asked for motion."""
        return any(_moves(v, w) for _, v, w in self.commands_since(t))


def _moves(v: float, w: float) -> bool:
    return abs(v) > MOVING or abs(w) > MOVING


def standstill_from(commands: list[tuple[float, float, float]]) -> float | None:
    """Arrival time of the zero command from which on every command of `commands` is zero (None: the last one
    moves, or there is none)."""
    start = None
    for t, v, w in commands:
        if v != 0.0 or w != 0.0:
            start = None
        elif start is None:
            start = t
    return start


def _cancel_now(handle) -> tuple[float, object]:
    """On the client's spin thread: the time [s, monotonic] just before the cancel request, and its future."""
    return time.monotonic(), handle.cancel_goal_async()


def far_unique_label(house, xy, min_distance: float = 3.0) -> str | None:
    """The label of an object that is the only one with its label, at least min_distance [m] from xy."""
    labels = [o.label for o in house.objects]
    far = [o for o in house.objects if labels.count(o.label) == 1 and math.dist(o.center[:2], xy) >= min_distance]
    return max(far, key=lambda o: math.dist(o.center[:2], xy)).label if far else None


def wait_for(condition, timeout: float):
    """Poll condition() every 5 ms until it returns something true or timeout [s] passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    return condition()


def run_seed(seed: int, args, rng: random.Random, bar) -> list[dict]:
    """All cancel trials on one house: a fresh node process and robot; one dict per trial."""
    from rclpy.action import ActionClient

    from groundfm.ros.background import BackgroundNode
    from groundfm.ros.domain import BENCH_DOMAIN_IDS, lease_domain_id, release_domain_id
    from groundfm.sim.house import generate_house
    from groundfm_interfaces.action import Navigate

    domain = lease_domain_id(BENCH_DOMAIN_IDS)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    params = [arg for name, value in NODE_PARAMETERS.items() for arg in ('-p', f'{name}:={value}')]
    house = generate_house(seed)
    proc, client, trials = None, None, []
    try:
        proc = subprocess.Popen([sys.executable, '-c', NODE, args.executor, '--ros-args', *params], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log: list[str] = []
        threading.Thread(target=lambda: log.extend(line.rstrip() for line in proc.stdout), daemon=True).start()
        client = BackgroundNode('cancel_bench', domain_id=domain)
        robot = client.run_on_spin_thread(Robot, client.node, house)
        action = ActionClient(client.node, Navigate, 'navigate')
        if not wait_for(lambda: any('navigate ready' in line for line in log), 60) or \
                not action.wait_for_server(timeout_sec=30):
            raise RuntimeError('the navigation node did not come up:\n' + '\n'.join(log[-20:]))
        for _ in range(args.cancels):
            trials.append(run_trial(seed, house, robot, client, action, rng))
            bar.update(1)
            bar.set_postfix(last=f'{trials[-1].get("stop_s") or math.nan:.3f} s')
            time.sleep(0.5)
    finally:
        if client is not None:
            client.close()
        if proc is not None:
            proc.send_signal(2)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        release_domain_id(domain)
    return trials


def run_trial(seed: int, house, robot: Robot, client, action, rng: random.Random) -> dict:
    """One goal, cancelled while the robot moves: the stop latency, or why the trial measured nothing ('error')."""
    from groundfm_interfaces.action import Navigate

    label = far_unique_label(house, robot.base.pose[:2])
    trial = {'seed': seed, 'label': label}
    if label is None:
        return dict(trial, error='no object with a unique label 3 m away')
    sent = time.monotonic()
    handle = client.send_goal(action, Navigate.Goal(instruction=f'go to the {label}'))
    if not handle.accepted:
        return dict(trial, error='goal rejected')
    result = client.run_on_spin_thread(handle.get_result_async)
    moved = wait_for(partial(robot.moved_since, sent), 15)
    time.sleep(rng.uniform(0.2, 2.0))
    if result.done():
        return dict(trial, error='the goal ended before the cancel')
    cancel_time, response = client.run_on_spin_thread(_cancel_now, handle)
    moving = robot.moving_before(cancel_time)
    wait_for(result.done, 5)
    time.sleep(0.3)  # commands that come after the result still count against the stop
    stop = standstill_from(robot.commands_since(cancel_time))
    trial.update(message=result.result().result.message if result.done() else 'no result',
                 cancel_return_code=response.result().return_code if response.done() else None,
                 stop_s=round(stop - cancel_time, 4) if stop is not None else None)
    if not moved or not moving:  # a zero command then may be the navigator's own pause, not the cancel
        trial['error'] = 'never moved' if not moved else 'standing still at the cancel'
    return trial


def summarize(trials: list[dict]) -> dict:
    """The benchmark's metrics over the trials cancelled while the robot moved; a trial whose goal ended otherwise
    (reached just then) counts in not_cancelled only."""
    measured = [t for t in trials if 'error' not in t]
    cancelled = [t for t in measured if t['message'] == 'cancelled']
    stops = np.array([t['stop_s'] for t in cancelled if t['stop_s'] is not None])
    never = sum(t['stop_s'] is None for t in cancelled)
    quantile = (lambda q: round(float(np.percentile(stops, q)), 4)) if stops.size else (lambda q: math.nan)
    return {'cancels': len(cancelled), 'stop_p50_s': quantile(50), 'stop_p95_s': quantile(95),
            'stop_max_s': quantile(100), 'over_0_5_s': int((stops > STOP_LIMIT_S).sum()) + never,
            'never_stopped': never, 'not_cancelled': len(measured) - len(cancelled),
            'not_measured': len(trials) - len(measured)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', type=int, nargs='+', default=[100, 101, 102], help='house seeds')
    parser.add_argument('--cancels', type=int, default=10, help='cancel trials per house')
    parser.add_argument('--executor', choices=('groundfm', 'rclpy'), default='groundfm',
                        help="the navigation node's executor: groundfm's (default) or rclpy's own")
    parser.add_argument('--seed', type=int, default=0, help='seed of the random delays before each cancel')
    parser.add_argument('--json', help='write the results here (benchmark schema)')
    args = parser.parse_args()

    from groundfm.bench.results import document
    from groundfm.io import atomic_write_json

    rng = random.Random(args.seed)
    trials = []
    with tqdm(total=len(args.seeds) * args.cancels, desc=f'cancels ({args.executor} executor)') as bar:
        for seed in args.seeds:
            trials += run_seed(seed, args, rng, bar)
    method = 'groundfm' if args.executor == 'groundfm' else 'rclpy_executor'
    for trial in trials:
        print(trial)
    metrics = summarize(trials)
    print(f'{method}: ' + ', '.join(f'{k} {v}' for k, v in metrics.items()))
    if args.json:
        doc = document({'cancel_latency': {method: metrics}}, 'python ' + ' '.join(sys.argv))
        atomic_write_json(args.json, dict(doc, trials=trials))
    return 0


if __name__ == '__main__':
    sys.exit(main())
