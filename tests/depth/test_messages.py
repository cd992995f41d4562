"""Depth message helpers: DisparityImage fields, PointCloud2 round trip, back-projection, stereo geometry checks."""

import numpy as np
import pytest
from std_msgs.msg import Header

from groundfm.depth.node import depth_to_points, stereo_geometry
from groundfm.ros.convert import (
    disparity_image,
    image_to_numpy,
    point_cloud_to_numpy,
    point_cloud_xyz,
    stereo_camera_infos,
)


def test_disparity_image_carries_f_t_and_the_image():
    disparity = np.array([[1.0, np.nan], [2.5, 4.0]], np.float32)

    msg = disparity_image(disparity, Header(frame_id='left'), f=200.0, t=0.12, min_disparity=0.5, max_disparity=96)

    assert msg.f == pytest.approx(200.0) and msg.t == pytest.approx(0.12) and msg.max_disparity == 96
    assert msg.image.encoding == '32FC1' and msg.valid_window.width == 2
    np.testing.assert_array_equal(image_to_numpy(msg.image), disparity)


def test_point_cloud_round_trip_and_back_projection():
    depth = np.full((4, 6), 2.0, np.float32)
    depth[0, 0] = np.nan

    points = depth_to_points(depth, fx=100.0, fy=100.0, cx=2.0, cy=1.0, stride=2)
    back = point_cloud_to_numpy(point_cloud_xyz(points, Header(frame_id='left')))

    assert points.shape == (5, 3)  # 2 x 3 sampled pixels, one NaN
    np.testing.assert_allclose(back, points)
    assert np.allclose(points[:, 2], 2.0)
    assert points[0].tolist() == pytest.approx([0.0, -0.02, 2.0])  # pixel (u=2, v=0)


def test_stereo_geometry_reads_the_baseline_and_rejects_bad_infos():
    left, right = stereo_camera_infos(64, 48, 100.0, 100.0, 31.5, 23.5, 0.12, Header(), Header())

    assert stereo_geometry(left, right, 64, 48) == pytest.approx((100.0, 100.0, 31.5, 23.5, 0.12))
    with pytest.raises(ValueError, match='images are 32x48'):
        stereo_geometry(left, right, 32, 48)
    swapped = stereo_camera_infos(64, 48, 100.0, 100.0, 31.5, 23.5, -0.12, Header(), Header())
    with pytest.raises(ValueError, match='not positive'):
        stereo_geometry(*swapped, 64, 48)
    shifted = stereo_camera_infos(64, 48, 100.0, 100.0, 31.5, 23.5, 0.12, Header(), Header())[1]
    shifted.p[2] = 40.0  # right principal point moved: not rectified to one camera
    with pytest.raises(ValueError, match='not rectified to one camera'):
        stereo_geometry(left, shifted, 64, 48)
    shifted.p[2], shifted.p[0] = 31.5, 0.0  # a zeroed right projection must not divide by zero
    with pytest.raises(ValueError, match='differs from right'):
        stereo_geometry(left, shifted, 64, 48)
    left.p[2] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        stereo_geometry(left, right, 64, 48)
