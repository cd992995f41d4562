"""The navigation node as a real process; a test client drives the `navigate` action over real DDS.

The client also plays the robot: a kinematic base that integrates cmd_vel into odom at 50 Hz (a stand-in for the sim +
control, so these tests take seconds), and it latches a generated house on sim/scene (the node's ground-truth stand-in).
"""

import json
import math
import os
import threading
import time

import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from proc_utils import DiskBody, NodeProcess, RosClient, next_domain_id, wait_until
from rclpy.action import ActionClient
from std_msgs.msg import String

from groundfm.ros import qos
from groundfm.ros.convert import planar_odometry
from groundfm.sim.house import generate_house
from groundfm_interfaces.action import Navigate

SEED = 100
NODE_ARGS = ('--ros-args', '-p', 'use_depth:=false', '-p', 'use_ground_truth_scene:=true', '-p',
             'map_source:=ground_truth', '-p', 'max_speed:=1.0', '-p', 'inputs_wait_s:=1.5')


class FakeRobot:
    """Integrates the latest cmd_vel (unicycle; the body a disk that cannot enter walls or furniture) and publishes
    odom; records every cmd_vel with its wall time. Without collisions, a late cmd_vel on a loaded machine once drove it
    into furniture, and the module's later tests, which share the robot, found no path out."""

    def __init__(self, client: RosClient, house, drive: bool = True) -> None:
        self.pose = list(house.spawn)
        self.body = DiskBody(house)
        self.twist = Twist()
        self.commands: list[tuple[float, float, float]] = []  # (wall time, v, w)
        self.lock = threading.Lock()
        node = client.node
        self._odom = node.create_publisher(Odometry, 'odom', qos.STATE)
        scene = node.create_publisher(String, 'sim/scene', qos.LATCHED)
        scene.publish(String(data=json.dumps(house.to_json())))
        if drive:
            node.create_subscription(Twist, 'cmd_vel', self._on_cmd, qos.COMMAND)
        node.create_timer(0.02, self._step)

    def _on_cmd(self, msg: Twist) -> None:
        with self.lock:
            self.twist = msg
            self.commands.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def _step(self) -> None:
        with self.lock:
            self.pose = self.body.step(self.pose, self.twist.linear.x, self.twist.angular.z, 0.02)
            x, y, yaw = self.pose
        self._odom.publish(planar_odometry(x, y, yaw, time.time()))


def _unique_far_object(house, min_distance: float):
    """A (label, object) whose label is unique in the house and at least min_distance [m] from the spawn."""
    labels = [o.label for o in house.objects]
    for obj in sorted(house.objects, key=lambda o: -math.dist(o.center[:2], house.spawn[:2])):
        if labels.count(obj.label) == 1 and math.dist(obj.center[:2], house.spawn[:2]) >= min_distance:
            return obj
    raise AssertionError('no unique object in the house')


def _send(client: RosClient, action: ActionClient, instruction: str, feedback: list | None = None,
          timeout: float = 10.0):
    return client.send_goal(action, Navigate.Goal(instruction=instruction),
                            (lambda fb: feedback.append(fb.feedback)) if feedback is not None else None, timeout)


def _result(handle, timeout: float):
    future = handle.get_result_async()
    assert wait_until(future.done, timeout), 'no result in time'
    return future.result().result


@pytest.fixture(scope='module')
def stack():
    """The navigation node process and a client that is both the robot and the action client."""
    domain = next_domain_id()
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    house = generate_house(SEED)
    proc = NodeProcess.python_module('groundfm.navigation.node', *NODE_ARGS)
    client = RosClient('nav_tester', domain_id=domain)
    robot = FakeRobot(client, house)
    action = ActionClient(client.node, Navigate, 'navigate')
    try:
        proc.wait_for_line('navigate ready', timeout=30)
        assert action.wait_for_server(timeout_sec=20)
        yield proc, client, robot, action, house
    finally:
        action.destroy()
        client.close()
        code = proc.stop()
        assert code == 0, f'navigation exited with {code}:\n{proc.output()}'


def test_goal_streams_feedback_and_succeeds(stack):
    proc, client, robot, action, house = stack
    target = min(house.objects, key=lambda o: math.dist(o.center[:2], house.spawn[:2]))
    feedback: list = []

    handle = _send(client, action, f'go to the {target.color_name} {target.label}', feedback)
    result = _result(handle, timeout=40)

    assert handle.accepted
    assert result.success, result.message
    assert feedback and any(fb.phase == Navigate.Feedback.PHASE_NAVIGATING for fb in feedback)
    assert any('<' not in fb.reasoning and fb.reasoning.startswith('Step 1/1') for fb in feedback)
    assert any(fb.current_subgoal.startswith('object:') for fb in feedback)
    final = result.final_pose.pose.position
    from groundfm.sim.house import point_polygon_distance
    assert point_polygon_distance((final.x, final.y), target.footprint()) <= 1.0
    assert result.path_length > 0.0
    assert 'reached' in result.message
    # Velocity limits held on the wire.
    assert max(abs(v) for _, v, _ in robot.commands) <= 1.0 + 1e-6


def test_empty_and_unparseable_goals_are_rejected_with_a_reason(stack):
    proc, client, _robot, action, _house = stack

    empty = _send(client, action, '   ')
    nonsense = _send(client, action, 'go to the moon')

    assert not empty.accepted and not nonsense.accepted
    proc.wait_for_line(r'rejected navigate goal .*the instruction is empty', timeout=5)
    proc.wait_for_line(r"rejected navigate goal .*I do not know where 'moon' is", timeout=5)


def test_cancel_stops_cmd_vel_within_half_a_second(stack):
    proc, client, robot, action, house = stack
    far = _unique_far_object(house, 3.0)
    sent = time.monotonic()
    handle = _send(client, action, f'go to the {far.label}')
    assert handle.accepted
    assert wait_until(lambda: any(t > sent and abs(v) > 0.05 for t, v, _ in robot.commands[-5:]), 10), 'never moved'

    cancel_time, cancel_wall = time.monotonic(), time.time()
    cancel = handle.cancel_goal_async()
    assert wait_until(cancel.done, 5)
    result = _result(handle, timeout=5)

    assert result.message == 'cancelled' and not result.success
    with robot.lock:
        after = [(t, v, w) for t, v, w in robot.commands if t >= cancel_time]
    stopped = [t for t, v, w in after if v == 0.0 and w == 0.0]
    # On failure, the node's own log line (wall-clock stamp) tells a late cancel from a late cmd_vel.
    accepted = [line for line in proc.output().splitlines() if 'cancel accepted' in line]
    assert stopped and stopped[0] - cancel_time <= 0.5, \
        f'first zero cmd_vel {stopped[0] - cancel_time if stopped else None} s after the cancel sent at wall ' \
        f'{cancel_wall:.3f}; node: {accepted}'
    time.sleep(0.3)
    with robot.lock:
        later = [(v, w) for t, v, w in robot.commands if t >= stopped[0]]
    assert all(v == 0.0 and w == 0.0 for v, w in later), f'motion after the stop: {later[:5]}'


def test_new_goal_preempts_the_old_one(stack):
    _proc, client, _robot, action, house = stack
    far = _unique_far_object(house, 3.0)
    first = _send(client, action, f'go to the {far.label}')
    assert first.accepted
    time.sleep(1.0)

    near = min(house.objects, key=lambda o: math.dist(o.center[:2], house.spawn[:2]))
    second = _send(client, action, f'go to the {near.color_name} {near.label}')
    first_result = _result(first, timeout=5)
    second_result = _result(second, timeout=40)

    assert second.accepted
    assert not first_result.success and 'preempted' in first_result.message
    assert second_result.success, second_result.message


def test_a_fall_reported_by_control_ends_the_goal_and_no_new_one_starts_until_it_stands(stack):
    _proc, client, robot, action, house = stack
    state = client.node.create_publisher(String, 'control/state', 10)

    def report(mode: str, reason: str = '') -> None:
        state.publish(String(data=json.dumps({'mode': mode, 'falls': 1, 'fall_reason': reason})))

    try:
        report('walk')
        far = _unique_far_object(house, 3.0)
        moving = _send(client, action, f'go to the {far.label}')
        assert moving.accepted
        assert wait_until(lambda: any(abs(v) > 0.05 for _t, v, _w in robot.commands[-5:]), 10), 'never moved'
        fell = time.monotonic()
        report('fallen', 'tilt: roll -0.83 rad beyond 0.8 rad')
        result = _result(moving, timeout=5)
        assert not result.success and 'the robot fell (tilt: roll -0.83 rad' in result.message, result.message
        assert time.monotonic() - fell < 2.0
        with robot.lock:
            assert robot.twist.linear.x == 0.0 and robot.twist.angular.z == 0.0

        while_down = _result(_send(client, action, 'go to the kitchen'), timeout=10)
        assert not while_down.success and 'the robot is down' in while_down.message, while_down.message
        assert while_down.path_length == 0.0

        report('stand')
        time.sleep(0.3)
        up_again = _send(client, action, f'go to the {far.label}')
        time.sleep(1.0)
        assert not up_again.get_result_async().done(), 'a goal after standing up runs'
        up_again.cancel_goal_async()
        assert not _result(up_again, timeout=5).success
    finally:
        report('stand')
        client.node.destroy_publisher(state)


def test_no_controller_means_no_motion_and_a_clear_result():
    domain = next_domain_id()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    import sys

    proc = NodeProcess([sys.executable, '-m', 'groundfm.navigation.node', *NODE_ARGS], env=env)
    client = RosClient('nav_tester_nc', domain_id=domain)
    FakeRobot(client, generate_house(SEED), drive=False)  # odom and scene, but nobody listens to cmd_vel
    action = ActionClient(client.node, Navigate, 'navigate')
    try:
        proc.wait_for_line('navigate ready', timeout=30)
        assert action.wait_for_server(timeout_sec=20)

        handle = _send(client, action, 'go to the kitchen')
        result = _result(handle, timeout=15)

        assert handle.accepted
        assert not result.success
        assert 'no controller subscribed to cmd_vel' in result.message
        assert result.path_length == 0.0
    finally:
        action.destroy()
        client.close()
        proc.stop()
