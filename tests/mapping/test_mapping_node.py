"""The mapping node as a real process over DDS: with the sim (ground-truth depth), and alone with bad inputs."""

import os
import time

import numpy as np
import pytest
from nav_msgs.msg import OccupancyGrid
from proc_utils import NodeProcess, RosClient, next_domain_id
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from groundfm.ros import qos
from groundfm.ros.convert import numpy_to_image, stamp_from_seconds, stereo_camera_infos, transform_stamped
from groundfm.ros.tf import StaticTransformBroadcaster
from groundfm_interfaces.msg import Object3DArray


@pytest.fixture(scope='module')
def sim_and_mapping():
    """The sim (seed 2) and the mapping node on sim ground-truth depth, on a private domain."""
    domain = next_domain_id()
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    os.environ.setdefault('MUJOCO_GL', 'egl')
    sim = NodeProcess.python_module('groundfm.sim.node', '--ros-args', '-p', 'scene_seed:=2')
    mapping = NodeProcess.python_module('groundfm.mapping.node', '--ros-args', '-p', 'depth_source:=sim_gt',
                                        '-p', 'publish_period_s:=0.5')
    client = RosClient('mapping_checker', domain_id=domain)
    for topic, msg_type in (('map/occupancy', OccupancyGrid), ('map/gaussians', PointCloud2),
                            ('map/objects', Object3DArray)):
        client.record(topic, msg_type, qos.LATCHED)
    try:
        mapping.wait_for_line(r'keyframe 1:', timeout=90)
        client.wait_for('map/gaussians', 1, timeout=30)
        client.wait_for('map/occupancy', 1, timeout=10)
        yield mapping, client
    finally:
        client.close()
        code = mapping.stop()
        sim.stop()
        assert code == 0, f'mapping exited with {code}:\n{mapping.output()}'


def test_gaussians_cloud_has_the_fields_rviz_reads(sim_and_mapping):
    _, client = sim_and_mapping
    cloud = client.messages['map/gaussians'][-1]

    assert cloud.header.frame_id == 'map'
    assert cloud.width > 1000 and cloud.point_step == 32
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb', 'opacity', 'scale_x', 'scale_y', 'scale_z']
    data = np.frombuffer(bytes(cloud.data), np.float32).reshape(-1, 8)
    assert np.isfinite(data[:, :3]).all() and (data[:, 4] > 0).all() and (data[:, 5:] > 0).all()
    rgb = data[:, 3].view(np.uint32)
    assert len(np.unique(rgb)) > 50, 'colours must come from the images'
    assert -0.2 < np.percentile(data[:, 2], 5) < 0.2, 'the floor is in view of the head camera'


def test_occupancy_grid_marks_free_floor(sim_and_mapping):
    _, client = sim_and_mapping
    grid = client.messages['map/occupancy'][-1]

    assert grid.header.frame_id == 'map' and grid.info.resolution == pytest.approx(0.05)
    data = np.array(grid.data, np.int8)
    assert data.size == grid.info.width * grid.info.height
    assert set(np.unique(data).tolist()) <= {-1, 0, 100}
    assert (data == 0).sum() > 100, 'the floor in front of the robot must be free'


def test_objects_come_with_oracle_labels(sim_and_mapping):
    _, client = sim_and_mapping
    objs = client.messages['map/objects'][-1]
    assert objs.header.frame_id == 'map'
    for o in objs.objects:
        assert o.label and o.label != 'unknown' and o.size.x > 0 and 0 <= o.confidence <= 1


def _frame(width: int = 64, height: int = 48, stamp: float = 1.0, depth_size: tuple[int, int] | None = None):
    header = Header(stamp=stamp_from_seconds(stamp), frame_id='stereo_left_optical_frame')
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    dh, dw = depth_size or (height, width)
    depth = np.full((dh, dw), 2.0, np.float32)
    depth[:5] = np.nan
    info, _ = stereo_camera_infos(width, height, 50.0, 50.0, (width - 1) / 2, (height - 1) / 2, 0.1, header, header)
    return numpy_to_image(rgb, 'rgb8', header), numpy_to_image(depth, '32FC1', header), info


def test_missing_tf_and_bad_sizes_are_logged_and_the_node_keeps_running(ros_domain):
    node = NodeProcess.python_module('groundfm.mapping.node', '--ros-args', '-p', 'depth_source:=sim_gt',
                                     '-p', 'tf_timeout_s:=0.2', '-p', 'publish_period_s:=0.1', '-p',
                                     'use_labels:=false')
    client = RosClient('feeder', domain_id=ros_domain)
    pubs = {name: client.node.create_publisher(t, topic, qos.SENSOR) for name, t, topic in (
        ('rgb', Image, 'stereo/left/image_rect'), ('depth', Image, 'sim/depth_gt'),
        ('info', CameraInfo, 'stereo/left/camera_info'))}
    client.record('map/gaussians', PointCloud2, qos.LATCHED)
    try:
        node.wait_for_line(r'mapping: voxel', timeout=60)
        deadline = time.monotonic() + 30  # discovery: best-effort frames sent before matching are lost
        while any(p.get_subscription_count() == 0 for p in pubs.values()) and time.monotonic() < deadline:
            time.sleep(0.05)

        def send(rgb, depth, info):
            for _ in range(3):
                pubs['info'].publish(info)
                pubs['rgb'].publish(rgb)
                pubs['depth'].publish(depth)
                time.sleep(0.3)

        send(*_frame(stamp=1.0))  # no TF at all
        node.wait_for_line(r'skipped: no transform map', timeout=10)
        send(*_frame(stamp=2.0, depth_size=(24, 32)))  # depth and colour disagree
        node.wait_for_line(r'does not match colour', timeout=10)
        assert node.proc.poll() is None, 'the node must survive bad inputs'

        tf = StaticTransformBroadcaster(client.node)  # now the camera has a pose: frames are mapped
        pose = transform_stamped('map', 'stereo_left_optical_frame', np.array([0.0, 0.0, 1.0]),
                                 np.array([1.0, 0.0, 0.0, 0.0]), stamp_from_seconds(0.0))
        tf.send([pose])
        time.sleep(0.5)
        send(*_frame(stamp=3.0))
        cloud = client.wait_for('map/gaussians', 1, timeout=10)[-1]
        assert cloud.width > 10
    finally:
        client.close()
        assert node.stop() == 0, node.output()


def test_render_service_renders_the_map_from_a_pose(sim_and_mapping):
    srv_types = pytest.importorskip('groundfm_interfaces.srv')
    if not hasattr(srv_types, 'RenderView'):
        pytest.skip('groundfm_interfaces has no RenderView yet: rebuild the interfaces (scripts/install.sh)')
    from geometry_msgs.msg import PoseStamped

    from groundfm.ros.convert import image_to_numpy

    _, client = sim_and_mapping
    cloud = client.messages['map/gaussians'][-1]
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(-1, 8)[:, :3]
    target = np.median(pts, axis=0)
    cli = client.node.create_client(srv_types.RenderView, 'map/render')
    assert cli.wait_for_service(timeout_sec=10)
    req = srv_types.RenderView.Request(width=80, height=60, fx=50.0, fy=50.0, cx=39.5, cy=29.5)
    req.pose = PoseStamped(header=Header(frame_id='map'))
    # Look straight down at the map's median point from 2 m above it (optical z = map -z).
    req.pose.pose.position.x, req.pose.pose.position.y, req.pose.pose.position.z = map(float, target + [0, 0, 2.0])
    req.pose.pose.orientation.x, req.pose.pose.orientation.w = 1.0, 0.0

    future = cli.call_async(req)
    deadline = time.monotonic() + 30
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    res = future.result()

    assert res.success, res.message
    image, depth = image_to_numpy(res.image), image_to_numpy(res.depth)
    assert image.shape == (60, 80, 3) and depth.shape == (60, 80)
    assert image.std() > 5 and np.nanmedian(depth) == pytest.approx(2.0 + target[2] - np.nanmedian(pts[:, 2]), abs=1.0)
    bad = cli.call_async(srv_types.RenderView.Request(width=0, height=10, fx=1.0, fy=1.0))
    while not bad.done():
        time.sleep(0.05)
    assert not bad.result().success and 'image size' in bad.result().message
