"""The sim node as a real process, checked from a separate rclpy client over real DDS."""

import os
import re
import time

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from proc_utils import NodeProcess, RosClient, next_domain_id
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String

from groundfm.geometry.transform_buffer import TransformBuffer
from groundfm.ros import qos
from groundfm.ros.convert import image_to_numpy, seconds_from_stamp
from groundfm.ros.tf import TransformListener
from groundfm.sim import go2
from groundfm_interfaces.msg import JointCommand, LabelTable

BASELINE = 0.1



@pytest.fixture(scope='module')
def sim(tmp_path_factory):
    """One sim process for the module, on its own domain, and a client recording its topics."""
    domain = next_domain_id()
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    os.environ.setdefault('MUJOCO_GL', 'egl')
    scene_path = tmp_path_factory.mktemp('sim') / 'scene.json'
    proc = NodeProcess.python_module(
        'groundfm.sim.node', '--ros-args', '-p', f'stereo_baseline_m:={BASELINE}', '-p', 'scene_seed:=3',
        '-p', f'scene_export_path:={scene_path}', '-p', 'command_timeout_s:=0.5')
    client = RosClient('sim_checker', domain_id=domain)
    tf = TransformListener(client.node, TransformBuffer())
    for topic, msg_type, profile in (
        ('stereo/left/image_rect', Image, qos.SENSOR), ('stereo/right/image_rect', Image, qos.SENSOR),
        ('stereo/left/camera_info', CameraInfo, qos.SENSOR), ('stereo/right/camera_info', CameraInfo, qos.SENSOR),
        ('sim/depth_gt', Image, qos.SENSOR), ('sim/labels', Image, qos.SENSOR),
        ('sim/label_table', LabelTable, qos.LATCHED), ('sim/scene', String, qos.LATCHED),
        ('odom', Odometry, qos.STATE), ('joint_states', JointState, qos.STATE), ('/clock', Clock, qos.CLOCK),
    ):
        client.record(topic, msg_type, profile)
    try:
        proc.wait_for_line(r'house seed 3', timeout=60)
        client.wait_for('stereo/left/camera_info', 20, timeout=30)
        yield proc, client, tf, scene_path
    finally:
        client.close()
        code = proc.stop()
        assert code == 0, f'sim exited with {code} after SIGINT:\n{proc.output()}'


def _sim_period(msgs) -> float:
    stamps = np.array([seconds_from_stamp(m.header.stamp) for m in msgs])
    return float(np.median(np.diff(stamps)))


def test_topic_rates_in_sim_time(sim):
    _, client, _, _ = sim
    assert _sim_period(client.messages['stereo/left/camera_info']) == pytest.approx(0.1, abs=0.005)
    assert _sim_period(client.messages['odom']) == pytest.approx(0.01, abs=0.001)
    assert _sim_period(client.messages['joint_states']) == pytest.approx(0.01, abs=0.001)
    clock = [seconds_from_stamp(m.clock) for m in client.messages['/clock']]
    assert np.median(np.diff(clock)) == pytest.approx(0.004, abs=0.001)
    # Images are best effort but must arrive: the Fast DDS profile's large SHM segment lets them through.
    infos, images = len(client.messages['stereo/left/camera_info']), len(client.messages['stereo/left/image_rect'])
    assert images >= 0.8 * infos


def test_camera_infos_describe_a_rectified_pair(sim):
    _, client, _, _ = sim
    left, right = client.messages['stereo/left/camera_info'][-1], client.messages['stereo/right/camera_info'][-1]
    image = client.messages['stereo/left/image_rect'][-1]

    assert (left.width, left.height) == (image.width, image.height) == (320, 240)
    assert list(left.k) == list(right.k)
    fx = left.p[0]
    assert right.p[3] == pytest.approx(-fx * BASELINE)
    assert left.header.frame_id == image.header.frame_id == 'stereo_left_optical_frame'
    assert right.header.frame_id == 'stereo_right_optical_frame'
    assert image.encoding == 'rgb8'
    pixels = image_to_numpy(image)
    assert pixels.std() > 10, 'the left image is flat: is the scene textured and lit?'


def test_depth_and_labels_are_oracle_images_of_the_left_camera(sim):
    _, client, _, scene_path = sim
    # Both are best effort, so the newest of each can come from different frames on a loaded machine: pair by stamp.
    labels_at = {seconds_from_stamp(m.header.stamp): m for m in client.messages['sim/labels']}
    depth_msg = next(m for m in reversed(client.messages['sim/depth_gt'])
                     if seconds_from_stamp(m.header.stamp) in labels_at)
    label_msg = labels_at[seconds_from_stamp(depth_msg.header.stamp)]
    depth, labels = image_to_numpy(depth_msg), image_to_numpy(label_msg)

    assert depth_msg.encoding == '32FC1' and label_msg.encoding == '32SC1'
    assert depth.shape == labels.shape == (240, 320)
    finite = depth[np.isfinite(depth)]
    assert finite.size > 0.5 * depth.size and finite.min() > 0.05 and finite.max() < 30
    assert np.all(labels[~np.isfinite(depth)] == -1), 'no return must have no label'
    table = client.messages['sim/label_table'][-1]
    assert table.source == 'oracle' and len(table.ids) == len(table.labels) >= 16
    assert set(np.unique(labels)) - {-1} <= set(table.ids)
    assert scene_path.exists() and '"objects"' in scene_path.read_text()


def test_tf_tree_follows_rep105(sim):
    _, _, tf, _ = sim
    buf = tf.buffer
    deadline = time.monotonic() + 5
    while 'base_link' not in buf.frames() and time.monotonic() < deadline:
        time.sleep(0.05)
    frames = buf.frames()

    assert frames['odom'] == 'map' and frames['base_link'] == 'odom' and frames['camera_link'] == 'base_link'
    assert frames['stereo_left_optical_frame'] == frames['stereo_right_optical_frame'] == 'camera_link'
    left = buf.lookup('base_link', 'stereo_left_optical_frame')
    right = buf.lookup('base_link', 'stereo_right_optical_frame')
    assert np.linalg.norm(left.translation - right.translation) == pytest.approx(BASELINE, abs=1e-6)
    assert left.translation[1] > right.translation[1], 'left camera must be on +y (left) of base_link'
    forward = left.apply(np.array([0, 0, 1.0])) - left.translation  # optical +z in base_link
    assert forward[0] > 0.9 and forward[2] < 0, 'optical z must look forward and slightly down'
    buf.lookup('map', 'stereo_left_optical_frame')  # the whole chain resolves


def _stand_command(client, q=None) -> JointCommand:
    cmd = JointCommand(name=list(go2.JOINT_NAMES))
    cmd.header.stamp = client.node.get_clock().now().to_msg()
    cmd.q = list(go2.stand_joint_positions(0.30) if q is None else q)
    cmd.dq, cmd.tau = [0.0] * 12, [0.0] * 12
    cmd.kp, cmd.kd = [go2.STAND_KP] * 12, [go2.STAND_KD] * 12
    return cmd


def _sim_now(client) -> float:
    return seconds_from_stamp(client.messages['/clock'][-1].clock)


def test_standing_command_stands_and_bad_commands_are_rejected(sim):
    proc, client, _, _ = sim
    pub = client.node.create_publisher(JointCommand, 'joint_command', qos.COMMAND)
    start = _sim_now(client)
    while _sim_now(client) - start < 2.0:
        pub.publish(_stand_command(client))
        time.sleep(0.02)
    height = client.messages['odom'][-1].pose.pose.position.z
    assert 0.27 <= height <= 0.33, f'base at {height:.3f} m after 2 s of standing'

    bad = [
        _stand_command(client, q=[float('nan')] + [0.0] * 11),
        JointCommand(name=['FL_hip_joint'], q=[0.0], kp=[10.0], kd=[1.0]),
        _stand_command(client),
    ]
    bad[2].kp = [1e5] * 12
    bad.append(_stand_command(client))
    bad[3].name[0] = 'front_left_hip'
    bad.append(_stand_command(client))
    bad[4].tau = [0.0] * 11  # length mismatch
    fragments = ('NaN', 'missing joint', 'kp out of limits', 'unknown joint', 'tau has 11 entries')
    start, deadline = _sim_now(client), time.monotonic() + 20
    # The command topic keeps only the newest message (depth 1), so a bad one sent right before a good one can be
    # overtaken under load: repeat (for at least 1 s of sim time) until the sim has logged every rejection.
    while _sim_now(client) - start < 1.0 or (
            time.monotonic() < deadline and not all(
                any(re.search(rf'rejected joint_command.*{f}', line) for line in proc.lines) for f in fragments)):
        for msg in bad:  # interleaved with good ones, so the watchdog stays fed
            pub.publish(msg)
            time.sleep(0.005)
            pub.publish(_stand_command(client))
            time.sleep(0.005)

    for fragment in fragments:
        proc.wait_for_line(rf'rejected joint_command.*{fragment}', timeout=5)
    assert proc.proc.poll() is None, 'the sim must survive malformed commands'
    height = client.messages['odom'][-1].pose.pose.position.z
    assert 0.27 <= height <= 0.33, f'bad commands moved the robot: base at {height:.3f} m'
    client.node.destroy_publisher(pub)


def _wait_for_new_line(proc, pattern: str, after: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(re.search(pattern, line) for line in proc.lines[after:]):
            return
        time.sleep(0.05)
    raise AssertionError(f'no new line matching {pattern!r} within {timeout} s:\n{proc.output()}')


def test_lockstep_holds_sim_time_for_a_late_controller_then_runs_free(sim):
    proc, client, _, _ = sim
    pub = client.node.create_publisher(JointCommand, 'joint_command', qos.COMMAND)
    start = _sim_now(client)
    while _sim_now(client) - start < 0.5:  # commands flowing: lockstep engaged
        pub.publish(_stand_command(client))
        time.sleep(0.02)
    last_sent = _sim_now(client)
    n_lines = len(proc.lines)

    time.sleep(0.4)  # a starved controller: its publisher is still there, but silent for 1.6 s of wall time
    held = _sim_now(client)
    time.sleep(1.2)

    assert _sim_now(client) == held, 'sim time must not move while lockstep waits for the controller'
    assert held - last_sent < 0.02 + 0.05, f'sim ran {held - last_sent:.3f} s past the last command'
    height = client.messages['odom'][-1].pose.pose.position.z
    assert 0.27 <= height <= 0.33, f'base at {height:.3f} m'
    # The controller goes away: the sim runs free and its watchdog damps the motors.
    client.node.destroy_publisher(pub)
    _wait_for_new_line(proc, r'lockstep: the joint_command publisher is gone', n_lines, timeout=5)
    _wait_for_new_line(proc, r'motors in damping mode', n_lines, timeout=5)
    deadline = time.monotonic() + 5
    while _sim_now(client) < held + 1.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sim_now(client) >= held + 1.0, 'the sim must run free without a controller'


def test_bad_parameters_stop_the_sim_with_a_clear_message(ros_domain):
    proc = NodeProcess.python_module('groundfm.sim.node', '--ros-args', '-p', 'camera_rate_hz:=500.0')
    code = proc.proc.wait(timeout=60)
    proc.stop()
    assert code != 0
    assert 'camera_rate_hz' in proc.output()
