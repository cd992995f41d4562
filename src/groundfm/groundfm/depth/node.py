"""ROS adapter for stereo depth; the maths lives in estimator.py (StereoAdapter or SGBM).

in:  stereo/left/image_rect, stereo/right/image_rect (rgb8 / bgr8 / rgba8 / mono8), stereo/{left,right}/camera_info
out: depth/image (32FC1 metres, NaN invalid, REP-118), depth/disparity (stereo_msgs/DisparityImage, NaN where depth is),
     depth/confidence (32FC1 in [0, 1]), depth/points (PointCloud2 x, y, z float32; only with publish_points)
All outputs are in the left optical frame with the left image's stamp. Callbacks only file messages into a
StampPairer; a worker thread takes the newest complete set, so a slow backend drops stale pairs instead of queueing.
"""

import math
import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from groundfm.depth.config import DEPTH_PARAMETERS
from groundfm.depth.estimator import DepthEstimator, to_rgb
from groundfm.depth.pairing import StampPairer, StereoSet
from groundfm.ros import qos
from groundfm.ros.convert import (
    disparity_image,
    image_to_numpy,
    numpy_to_image,
    point_cloud_xyz,
    seconds_from_stamp,
)
from groundfm.ros.entry import run_node
from groundfm.ros.params import declare_parameters


def stereo_geometry(left: CameraInfo, right: CameraInfo, width: int, height: int) -> tuple[float, float, float,
                                                                                             float, float]:
    """fx, fy, cx, cy [px] and baseline [m] of a rectified pair; ValueError naming what is wrong."""
    for name, info in (('left', left), ('right', right)):
        if not all(math.isfinite(v) for v in (*info.p, *info.k)):
            raise ValueError(f'{name} camera_info has NaN/inf in K or P')
        if (info.width, info.height) != (width, height):
            raise ValueError(f'{name} camera_info is {info.width}x{info.height} but the images are {width}x{height}')
    fx, fy, cx, cy = left.p[0], left.p[5], left.p[2], left.p[6]
    if fx <= 0 or fy <= 0:
        raise ValueError(f'left camera_info P has fx={fx}, fy={fy}: not a rectified projection')
    right_intrinsics = (right.p[0], right.p[5], right.p[2], right.p[6])
    if any(abs(a - b) > 1e-3 for a, b in zip((fx, fy, cx, cy), right_intrinsics, strict=True)):
        raise ValueError(f'left P (fx, fy, cx, cy) = {(fx, fy, cx, cy)} differs from right {right_intrinsics}: '
                         'the pair is not rectified to one camera (disparity would be offset by cx_l - cx_r)')
    if right.p[3] == 0.0:
        raise ValueError('right camera_info P[0,3] is 0: no baseline (expected -fx * baseline)')
    baseline = -(right.p[3] - left.p[3]) / right.p[0]
    if baseline <= 0:
        raise ValueError(f'baseline {baseline:.4g} m from right P[0,3]={right.p[3]} is not positive: left and right '
                         'swapped?')
    return fx, fy, cx, cy, baseline


def depth_to_points(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float, stride: int) -> np.ndarray:
    """Back-project every stride-th pixel of a depth image (h, w) [m] to (N, 3) optical-frame points; NaN skipped."""
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    z = depth[::stride, ::stride]
    keep = np.isfinite(z)
    z, u, v = z[keep], u[keep], v[keep]
    return np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1).astype(np.float32)


class DepthNode(Node):
    """Publish depth, disparity, confidence (and points) for the newest rectified stereo pair."""

    def __init__(self) -> None:
        super().__init__('depth')
        self.values = values = declare_parameters(self, DEPTH_PARAMETERS)
        self._estimator = DepthEstimator(values['backend'], values['weights'] or None, values['iterations'],
                                         values['max_disparity'], values['threads'], values['device'],
                                         values['precision'])
        source = f' ({self._estimator.weights})' if self._estimator.weights else ''
        device = f' on {values["device"]} in {self._estimator.precision}' if values['backend'] == 'model' else ''
        self.get_logger().info(f'backend {values["backend"]}{source}{device}, iterations {values["iterations"]}, '
                               f'max disparity {values["max_disparity"]} px')
        self._pub_depth = self.create_publisher(Image, 'depth/image', qos.SENSOR)
        self._pub_disp = self.create_publisher(DisparityImage, 'depth/disparity', qos.SENSOR)
        self._pub_conf = self.create_publisher(Image, 'depth/confidence', qos.SENSOR)
        self._pub_points = self.create_publisher(PointCloud2, 'depth/points', qos.SENSOR)
        self._pairer = StampPairer(values['pair_slop_s'])
        self.add_post_set_parameters_callback(self._on_params_set)
        for stream, topic, msg_type in (('left', 'stereo/left/image_rect', Image),
                                        ('right', 'stereo/right/image_rect', Image),
                                        ('left_info', 'stereo/left/camera_info', CameraInfo),
                                        ('right_info', 'stereo/right/camera_info', CameraInfo)):
            self.create_subscription(msg_type, topic, lambda msg, s=stream: self._on_message(s, msg), qos.SENSOR)
        self.processed, self._ms = 0, []
        self._logged: dict[str, float] = {}  # problem -> monotonic time last logged
        self._running = True
        self._worker = threading.Thread(target=self._work, name='depth-worker', daemon=True)
        self._worker.start()
        self.create_timer(10.0, self._report)

    def _on_params_set(self, params: list) -> None:
        """Live changes: the worker reads self.values per pair; the estimator and pairer hold their own copies."""
        self._estimator.iterations = self.values['iterations']
        self._pairer.slop_s = self.values['pair_slop_s']
        self.get_logger().info('parameters set: ' + ', '.join(f'{p.name}={p.value}' for p in params))

    def _on_message(self, stream: str, msg) -> None:
        self._pairer.add(stream, seconds_from_stamp(msg.header.stamp), msg)

    def _report(self) -> None:
        if self._ms:
            self.get_logger().info(f'{self.processed} pairs, {self._pairer.dropped} dropped as stale, '
                                   f'{np.median(self._ms):.0f} ms per pair (median of the last {len(self._ms)})')
            self._ms = self._ms[-50:]

    def _work(self) -> None:
        while self._running and rclpy.ok(context=self.context):
            pair = self._pairer.take(timeout=0.5)
            if pair is None:
                continue
            try:
                self._process(pair)
            except ValueError as err:  # bad input: say why, keep running
                self._log_throttled(f'skipped stereo pair: {err}')
            except Exception as err:  # a worker must survive anything one pair does
                if not rclpy.ok(context=self.context):
                    return
                self._log_throttled(f'depth failed on a pair: {type(err).__name__}: {err}', error=True)

    def _log_throttled(self, text: str, error: bool = False, period_s: float = 5.0) -> None:
        """Log each distinct problem at once, then at most every period_s (a bad stream must not flood the log)."""
        now = time.monotonic()
        if now - self._logged.get(text, -1e9) >= period_s:
            self._logged[text] = now
            (self.get_logger().error if error else self.get_logger().warning)(text)

    def _process(self, pair: StereoSet) -> None:
        values = self.values
        left_msg, right_msg = pair.left, pair.right
        if (left_msg.width, left_msg.height) != (right_msg.width, right_msg.height):
            raise ValueError(f'left image is {left_msg.width}x{left_msg.height}, right is '
                             f'{right_msg.width}x{right_msg.height}')
        if left_msg.encoding != right_msg.encoding:
            raise ValueError(f'left encoding {left_msg.encoding!r} != right {right_msg.encoding!r}')
        left = to_rgb(image_to_numpy(left_msg), left_msg.encoding)
        right = to_rgb(image_to_numpy(right_msg), right_msg.encoding)
        fx, fy, cx, cy, baseline = stereo_geometry(pair.left_info, pair.right_info, left_msg.width, left_msg.height)
        start = time.perf_counter()
        result = self._estimator.estimate(left, right, fx, baseline)
        depth = result.depth
        keep = (depth >= values['min_depth_m']) & (depth <= values['max_depth_m']) & \
            (result.confidence >= values['min_confidence']) & (result.disparity <= values['max_disparity'])
        depth = np.where(keep, depth, np.float32(np.nan)).astype(np.float32)
        disparity = np.where(keep, result.disparity, np.float32(np.nan)).astype(np.float32)  # the same pixels
        header = left_msg.header
        self._pub_depth.publish(numpy_to_image(depth, '32FC1', header))
        self._pub_disp.publish(disparity_image(
            disparity, header, fx, baseline, min_disparity=fx * baseline / values['max_depth_m'],
            max_disparity=float(values['max_disparity']), delta_d=0.0625 if values['backend'] == 'sgbm' else 0.01))
        self._pub_conf.publish(numpy_to_image(result.confidence.astype(np.float32), '32FC1', header))
        if values['publish_points']:
            points = depth_to_points(depth, fx, fy, cx, cy, values['point_stride'])
            self._pub_points.publish(point_cloud_xyz(points, header))
        self.processed += 1
        self._ms.append((time.perf_counter() - start) * 1e3)

    def destroy_node(self) -> None:
        """Stop the worker before the node goes away."""
        self._running = False
        self._pairer.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of `depth_node`."""
    return run_node('depth', DepthNode, args)


if __name__ == '__main__':
    sys.exit(main())
