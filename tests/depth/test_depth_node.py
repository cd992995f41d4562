"""The depth node as a real process over DDS: a synthetic rectified pair in, depth + disparity out; bad input logged."""

import time

import numpy as np
import pytest
from proc_utils import NodeProcess, RosClient
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage
from test_estimator import shifted_pair

from groundfm.ros import qos
from groundfm.ros.convert import image_to_numpy, numpy_to_image, point_cloud_to_numpy, stereo_camera_infos

FX, BASELINE, SHIFT = 100.0, 0.1, 8  # -> depth 1.25 m everywhere


def _publish_pair(client: RosClient, pubs: dict, left: np.ndarray, right: np.ndarray, stamp_s: float,
                  encoding: str = 'rgb8', baseline: float = BASELINE) -> None:
    stamp = client.node.get_clock().now().to_msg()
    stamp.sec, stamp.nanosec = int(stamp_s), int((stamp_s % 1) * 1e9)
    lh, rh = Header(stamp=stamp, frame_id='stereo_left_optical_frame'), Header(stamp=stamp, frame_id='right')
    h, w = left.shape[:2]
    li, ri = stereo_camera_infos(w, h, FX, FX, (w - 1) / 2, (h - 1) / 2, baseline, lh, rh)
    pubs['left'].publish(numpy_to_image(left, encoding, lh))
    pubs['right'].publish(numpy_to_image(right, encoding, rh))
    pubs['left_info'].publish(li)
    pubs['right_info'].publish(ri)


@pytest.fixture
def depth_node(ros_domain):
    proc = NodeProcess.python_module('groundfm.depth.node', '--ros-args', '-p', 'backend:=sgbm',
                                     '-p', 'max_disparity:=32', '-p', 'publish_points:=true',
                                     '-p', 'point_stride:=8')
    client = RosClient('depth_checker', domain_id=ros_domain)
    for topic, msg_type in (('depth/image', Image), ('depth/disparity', DisparityImage),
                            ('depth/confidence', Image), ('depth/points', PointCloud2)):
        client.record(topic, msg_type, qos.SENSOR)
    pubs = {name: client.node.create_publisher(msg_type, topic, qos.SENSOR) for name, topic, msg_type in (
        ('left', 'stereo/left/image_rect', Image), ('right', 'stereo/right/image_rect', Image),
        ('left_info', 'stereo/left/camera_info', CameraInfo), ('right_info', 'stereo/right/camera_info', CameraInfo))}
    try:
        proc.wait_for_line(r'backend sgbm', timeout=60)
        yield proc, client, pubs
    finally:
        client.close()
        code = proc.stop()
        assert code == 0, f'depth node exited with {code}:\n{proc.output()}'


def _send_until(client, pubs, topic: str, left, right, start_s: float, timeout: float = 20.0, **kwargs) -> float:
    deadline, stamp = time.monotonic() + timeout, start_s
    count = len(client.messages[topic])
    while time.monotonic() < deadline and len(client.messages[topic]) <= count:
        stamp += 0.1
        _publish_pair(client, pubs, left, right, stamp, **kwargs)
        time.sleep(0.2)
    return stamp


def test_depth_disparity_and_points_are_right_and_bad_input_is_survived(depth_node):
    proc, client, pubs = depth_node
    left, right = shifted_pair(SHIFT, h=96, w=160)

    stamp = _send_until(client, pubs, 'depth/image', left, right, 100.0)

    depth_msg = client.wait_for('depth/image', 1, timeout=5)[-1]
    disp_msg = client.wait_for('depth/disparity', 1, timeout=5)[-1]
    depth = image_to_numpy(depth_msg)
    assert depth_msg.encoding == '32FC1' and depth.shape == (96, 160)
    assert depth_msg.header.frame_id == 'stereo_left_optical_frame'
    inner = depth[:, 40:-8]
    assert np.isfinite(inner).mean() > 0.8
    assert np.nanmedian(inner) == pytest.approx(FX * BASELINE / SHIFT, rel=0.03)
    assert disp_msg.f == pytest.approx(FX) and disp_msg.t == pytest.approx(BASELINE)
    assert np.nanmedian(image_to_numpy(disp_msg.image)[:, 40:-8]) == pytest.approx(SHIFT, abs=0.3)
    confidence = image_to_numpy(client.wait_for('depth/confidence', 1, timeout=5)[-1])
    assert confidence.min() >= 0 and confidence.max() <= 1
    points = point_cloud_to_numpy(client.wait_for('depth/points', 1, timeout=5)[-1])
    assert 0 < len(points) <= (96 // 8) * (160 // 8)
    assert np.median(points[:, 2]) == pytest.approx(1.25, rel=0.03)

    # Bad inputs: 16-bit images, then a pair without a baseline. Each is logged; the node keeps going.
    mono16 = (left[..., 0].astype(np.uint16) * 256)
    for _ in range(3):
        stamp += 0.1
        _publish_pair(client, pubs, mono16, mono16, stamp, encoding='mono16')
        time.sleep(0.1)
    proc.wait_for_line(r'skipped stereo pair: .*8-bit', timeout=10)
    for _ in range(3):
        stamp += 0.1
        _publish_pair(client, pubs, left, right, stamp, baseline=0.0)
        time.sleep(0.1)
    proc.wait_for_line(r'skipped stereo pair: .*no baseline', timeout=10)
    assert proc.proc.poll() is None, 'the node must survive bad input'
    _send_until(client, pubs, 'depth/image', left, right, stamp)
    assert client.messages['depth/image'][-1].header.stamp.sec >= int(stamp) - 1

    # Live parameters: iterations and pair slop change at run time; max_disparity needs a restart (read-only).
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    params = AsyncParameterClient(client.node, 'depth')
    assert params.wait_for_services(timeout_sec=10), 'the depth node offers no parameter services'
    future = params.set_parameters([Parameter('iterations', value=3), Parameter('pair_slop_s', value=0.01),
                                    Parameter('max_disparity', value=64)])
    deadline = time.monotonic() + 10
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    accepted = [r.successful for r in future.result().results]
    assert accepted == [True, True, False], accepted
    proc.wait_for_line(r'parameters set: iterations=3', timeout=10)
    proc.wait_for_line(r'parameters set: pair_slop_s=0.01', timeout=10)
    _send_until(client, pubs, 'depth/image', left, right, stamp + 1.0)
