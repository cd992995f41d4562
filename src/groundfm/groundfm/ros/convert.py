"""numpy <-> ROS message conversion at the node edge (cv_bridge and tf2 helpers are not on PyPI).

Images follow REP-118 for depth (32FC1 metres, NaN = no return). Quaternions are (x, y, z, w) as in ROS.
Copies into message buffers go through `array.frombytes`, which is ~1000x faster than assigning a numpy array.
"""

from array import array

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from groundfm.geometry.rotations import quat_from_euler

# encoding -> (numpy dtype, channels)
ENCODINGS = {
    'rgb8': (np.uint8, 3),
    'bgr8': (np.uint8, 3),
    'rgba8': (np.uint8, 4),
    'mono8': (np.uint8, 1),
    'mono16': (np.uint16, 1),
    '16UC1': (np.uint16, 1),
    '32FC1': (np.float32, 1),
    '32SC1': (np.int32, 1),
}


def stamp_from_seconds(seconds: float) -> Time:
    """A builtin_interfaces/Time from seconds (sim or wall time)."""
    sec = int(seconds // 1)
    return Time(sec=sec, nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def seconds_from_stamp(stamp: Time) -> float:
    """Seconds from a builtin_interfaces/Time."""
    return stamp.sec + stamp.nanosec * 1e-9


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Header) -> Image:
    """Wrap an (H, W) or (H, W, C) array as a sensor_msgs/Image; dtype and channels must match the encoding."""
    if encoding not in ENCODINGS:
        raise ValueError(f'unsupported encoding {encoding!r}; supported: {", ".join(ENCODINGS)}')
    dtype, channels = ENCODINGS[encoding]
    got_channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if pixels.dtype != dtype or got_channels != channels or pixels.ndim not in (2, 3):
        raise ValueError(
            f'{encoding} needs {channels}-channel {np.dtype(dtype).name}, got {pixels.dtype} {pixels.shape}')
    pixels = np.ascontiguousarray(pixels)
    msg = Image(header=header, height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, is_bigendian=0)
    msg.step = pixels.shape[1] * channels * pixels.itemsize
    data = array('B')
    data.frombytes(pixels.tobytes())
    msg.data = data
    return msg


def image_to_numpy(msg: Image) -> np.ndarray:
    """View a sensor_msgs/Image as an (H, W) or (H, W, C) array; raise ValueError on an inconsistent message."""
    if msg.encoding not in ENCODINGS:
        raise ValueError(f'unsupported encoding {msg.encoding!r}; supported: {", ".join(ENCODINGS)}')
    dtype, channels = ENCODINGS[msg.encoding]
    row_bytes = msg.width * channels * np.dtype(dtype).itemsize
    if msg.height == 0 or msg.width == 0:
        raise ValueError(f'empty image {msg.width}x{msg.height}')
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise ValueError(
            f'{msg.encoding} {msg.width}x{msg.height}: step {msg.step} / {len(msg.data)} bytes is too small')
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)
    pixels = buf[:, :row_bytes].view(np.dtype(dtype).newbyteorder('>' if msg.is_bigendian else '<'))
    return pixels.reshape(msg.height, msg.width, channels) if channels > 1 else pixels.reshape(msg.height, msg.width)


def stereo_camera_infos(
    width: int, height: int, fx: float, fy: float, cx: float, cy: float, baseline: float,
    left_header: Header, right_header: Header,
) -> tuple[CameraInfo, CameraInfo]:
    """CameraInfo of an ideal rectified pair: plumb_bob, D = 0, R = I, equal K; right P[0,3] = -fx * baseline."""
    infos = []
    for header, tx in ((left_header, 0.0), (right_header, -fx * baseline)):
        info = CameraInfo(header=header, width=width, height=height, distortion_model='plumb_bob')
        info.d = [0.0] * 5
        info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, tx, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        infos.append(info)
    return infos[0], infos[1]


def transform_stamped(
    parent: str, child: str, translation: np.ndarray, quaternion_xyzw: np.ndarray, stamp: Time
) -> TransformStamped:
    """A geometry_msgs/TransformStamped parent -> child."""
    t = TransformStamped()
    t.header.stamp = stamp
    t.header.frame_id = parent
    t.child_frame_id = child
    t.transform = Transform(
        translation=Vector3(x=float(translation[0]), y=float(translation[1]), z=float(translation[2])),
        rotation=quaternion_msg(quaternion_xyzw),
    )
    return t


def quaternion_msg(q_xyzw: np.ndarray) -> Quaternion:
    """A geometry_msgs/Quaternion from (x, y, z, w)."""
    return Quaternion(x=float(q_xyzw[0]), y=float(q_xyzw[1]), z=float(q_xyzw[2]), w=float(q_xyzw[3]))


def planar_odometry(x: float, y: float, yaw: float, stamp_s: float, frame_id: str = 'odom',
                    child_frame_id: str = 'base_link') -> Odometry:
    """A nav_msgs/Odometry of a planar pose (x, y [m], yaw [rad]) at stamp_s [s]; twist and covariances left zero."""
    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = frame_id, child_frame_id
    msg.header.stamp = stamp_from_seconds(stamp_s)
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
    msg.pose.pose.orientation = quaternion_msg(quat_from_euler(0.0, 0.0, yaw))
    return msg


def transform_to_numpy(t: Transform) -> tuple[np.ndarray, np.ndarray]:
    """Translation (3,) and quaternion (x, y, z, w) of a geometry_msgs/Transform."""
    return (np.array([t.translation.x, t.translation.y, t.translation.z]),
            np.array([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]))


def disparity_image(disparity: np.ndarray, header: Header, f: float, t: float, min_disparity: float,
                    max_disparity: float, delta_d: float = 0.0):
    """A stereo_msgs/DisparityImage: (H, W) float32 disparity [px] (NaN invalid), f [px], baseline t [m]."""
    from stereo_msgs.msg import DisparityImage

    msg = DisparityImage(header=header, f=float(f), t=float(t), min_disparity=float(min_disparity),
                         max_disparity=float(max_disparity), delta_d=float(delta_d))
    msg.image = numpy_to_image(disparity.astype(np.float32), '32FC1', header)
    msg.valid_window.width, msg.valid_window.height = int(disparity.shape[1]), int(disparity.shape[0])
    return msg


def point_cloud_xyz(points: np.ndarray, header: Header):
    """An unordered sensor_msgs/PointCloud2 with float32 fields x, y, z from (N, 3) points [m]."""
    from sensor_msgs.msg import PointCloud2, PointField

    points = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
    msg = PointCloud2(header=header, height=1, width=points.shape[0], is_bigendian=False, point_step=12,
                      row_step=12 * points.shape[0], is_dense=True)
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate('xyz')]
    data = array('B')
    data.frombytes(points.tobytes())
    msg.data = data
    return msg


def point_cloud_to_numpy(msg) -> np.ndarray:
    """(N, 3) float32 x, y, z of a PointCloud2 whose first three fields are float32 x, y, z."""
    names = [f.name for f in msg.fields[:3]]
    if names != ['x', 'y', 'z'] or msg.point_step < 12:
        raise ValueError(f'expected float32 x, y, z fields first, got {names}')
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(-1, msg.point_step)[:, :12]
    return raw.copy().view(np.float32).reshape(-1, 3)


def occupancy_grid_to_numpy(msg) -> tuple[np.ndarray, tuple[float, float], float]:
    """nav_msgs/OccupancyGrid -> (cells (height, width) int8: -1 unknown, 0..100 occupancy; origin (x, y) [m] of cell
    (0, 0)'s corner; resolution [m])."""
    info = msg.info
    cells = np.asarray(msg.data, np.int8).reshape(info.height, info.width)
    return cells, (info.origin.position.x, info.origin.position.y), float(info.resolution)
