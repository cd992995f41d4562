"""The control node and the sim node as real processes over DDS: cmd_vel walks, the watchdog stands, bad input is
ignored, moves and waypoints are followed, joint_command flows at >= 100 Hz of sim time."""

import json
import math
import os
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, Twist, Vector3
from nav_msgs.msg import Odometry, Path
from proc_utils import NodeProcess, RosClient, next_domain_id, wait_until
from std_msgs.msg import String

from groundfm.ros import qos
from groundfm.ros.convert import seconds_from_stamp
from groundfm_interfaces.msg import JointCommand, Move


@pytest.fixture(scope='module')
def stack():
    """Sim (flat world, cameras nearly off) + control node on a private domain, and a recording client."""
    domain = next_domain_id()
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    os.environ.setdefault('MUJOCO_GL', 'egl')
    sim = NodeProcess.python_module('groundfm.sim.node', '--ros-args', '-p', 'world:=flat', '-p',
                                    'camera_rate_hz:=0.1', '-p', 'oracle_semantics:=false', '-p',
                                    'publish_depth_gt:=false')
    control = NodeProcess.python_module('groundfm.control.node', '--ros-args', '-p', 'use_sim_time:=true')
    client = RosClient('control_checker', domain_id=domain)
    client.record('odom', Odometry, qos.STATE)
    client.record('joint_command', JointCommand, qos.COMMAND)
    client.record('control/state', String, 10)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(client).get('mode') != 'stand':
            time.sleep(0.1)
        assert _state(client).get('mode') == 'stand', f'never stood:\n{control.output()}\n{sim.output()}'
        yield sim, control, client
    finally:
        client.close()
        codes = control.stop(), sim.stop()
        assert codes == (0, 0), f'exit codes {codes}:\n{control.output()}'


def _state(client) -> dict:
    msgs = client.messages['control/state']
    return json.loads(msgs[-1].data) if msgs else {}


def _odom(client) -> tuple[float, float, float, float]:
    """Latest (sim time, x, y, yaw)."""
    o = client.messages['odom'][-1]
    q = o.pose.pose.orientation
    return (seconds_from_stamp(o.header.stamp), o.pose.pose.position.x, o.pose.pose.position.y,
            math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z)))


def _publish_for(client, pub, msg, sim_seconds: float, period: float = 0.05) -> None:
    start = _odom(client)[0]
    while _odom(client)[0] - start < sim_seconds:
        pub.publish(msg)
        time.sleep(period)


def test_joint_command_flows_at_the_control_rate_in_sim_time(stack):
    _, _, client = stack
    n0, first = len(client.messages['joint_command']), _state(client)
    time.sleep(2.5)

    msgs, last = client.messages['joint_command'][n0:], _state(client)
    stamps = np.array([seconds_from_stamp(m.header.stamp) for m in msgs])
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate >= 100.0, f'{rate:.1f} Hz of sim time received'
    assert len(msgs[-1].name) == 12 and all(np.isfinite(msgs[-1].q))
    ticks_rate = (last['ticks'] - first['ticks']) / (last['stamp'] - first['stamp'])
    # The sim runs in lockstep with the controller, so even a starved control process misses no tick of sim time.
    assert ticks_rate >= 115.0, f'{ticks_rate:.1f} ticks per sim second reported'
    assert 0.0 < last['tick_ms'] < 8.0, 'CPU per tick is reported and fits in the 8 ms period'


def test_cmd_vel_walks_and_the_watchdog_stands(stack):
    _, control, client = stack
    pub = client.node.create_publisher(Twist, 'cmd_vel', qos.COMMAND)
    t0, x0, y0, _ = _odom(client)

    _publish_for(client, pub, Twist(linear=Vector3(x=0.4)), 3.0)

    t1, x1, y1, _ = _odom(client)
    advance = math.hypot(x1 - x0, y1 - y0)
    assert 0.4 * (t1 - t0) * 0.8 <= advance <= 0.4 * (t1 - t0) * 1.1, f'{advance:.2f} m in {t1 - t0:.2f} s'
    assert _state(client)['mode'] == 'walk'
    # No more cmd_vel: after 0.5 s the watchdog stops the robot, which comes to a stand.
    control.wait_for_line(r'no cmd_vel for 0.5 s: standing', timeout=10)
    assert wait_until(lambda: _state(client).get('mode') == 'stand', timeout=10)
    time.sleep(1.0)
    recent = client.messages['odom'][-50:]  # the last 0.5 s of sim time
    drift = math.hypot(recent[-1].pose.pose.position.x - recent[0].pose.pose.position.x,
                       recent[-1].pose.pose.position.y - recent[0].pose.pose.position.y)
    assert drift < 0.02, f'still moving: {drift:.3f} m in 0.5 s'


def test_nan_and_out_of_limit_commands_are_logged_and_ignored(stack):
    _, control, client = stack
    pub = client.node.create_publisher(Twist, 'cmd_vel', qos.COMMAND)
    _, x0, y0, _ = _odom(client)

    _publish_for(client, pub, Twist(linear=Vector3(x=float('nan'))), 0.5)
    _publish_for(client, pub, Twist(linear=Vector3(x=5.0)), 0.5)

    control.wait_for_line(r'rejected cmd_vel: velocity command .* must be finite', timeout=5)
    control.wait_for_line(r'rejected cmd_vel: vx = 5 is beyond its limit', timeout=5)
    assert control.proc.poll() is None
    _, x1, y1, _ = _odom(client)
    assert math.hypot(x1 - x0, y1 - y0) < 0.05 and _state(client)['mode'] == 'stand'


def test_discrete_moves_and_waypoints(stack):
    _, control, client = stack
    moves = client.node.create_publisher(Move, 'move', 10)
    t0, x0, y0, yaw0 = _odom(client)

    moves.publish(Move(type=Move.FORWARD, amount=0.0))
    control.wait_for_line(r'move done', timeout=20)
    assert wait_until(lambda: _state(client).get('mode') == 'stand', timeout=10)

    _, x1, y1, yaw1 = _odom(client)
    assert math.hypot(x1 - x0, y1 - y0) == pytest.approx(0.25, abs=0.06)
    moves.publish(Move(type=Move.TURN_LEFT, amount=0.0))
    assert wait_until(lambda: sum('move done' in line for line in control.lines) >= 2, timeout=20)
    assert wait_until(lambda: _state(client).get('mode') == 'stand', timeout=10)
    _, x2, y2, yaw2 = _odom(client)
    turned = (yaw2 - yaw1 + math.pi) % (2 * math.pi) - math.pi
    assert turned == pytest.approx(math.radians(30), abs=0.1)

    path = Path()
    path.header.frame_id = 'odom'
    for dx, dy in ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5)):
        pose = PoseStamped()
        pose.pose.position.x = x2 + math.cos(yaw2) * dx - math.sin(yaw2) * dy
        pose.pose.position.y = y2 + math.sin(yaw2) * dx + math.cos(yaw2) * dy
        path.poses.append(pose)
    client.node.create_publisher(Path, 'waypoints', qos.COMMAND).publish(path)
    control.wait_for_line(r'waypoints done', timeout=30)
    _, x3, y3, _ = _odom(client)
    goal = path.poses[-1].pose.position
    assert math.hypot(x3 - goal.x, y3 - goal.y) < 0.15


def test_behaviors_sit_and_stand_and_unknown_ones_are_rejected(stack):
    _, control, client = stack
    behavior = client.node.create_publisher(String, 'behavior', 10)

    behavior.publish(String(data='dance'))
    behavior.publish(String(data='sit'))

    control.wait_for_line(r"rejected behavior: 'dance' is not one of stand, sit, stop, recover", timeout=5)
    assert wait_until(lambda: _state(client).get('mode') == 'sit', timeout=10)
    assert wait_until(lambda: client.messages['odom'][-1].pose.pose.position.z < 0.2, timeout=15)
    behavior.publish(String(data='stand'))
    assert wait_until(lambda: client.messages['odom'][-1].pose.pose.position.z > 0.27, timeout=15)
    assert wait_until(lambda: _state(client).get('mode') == 'stand', timeout=10)
