import numpy as np
import pytest
from std_msgs.msg import Header

from groundfm.ros.convert import (
    image_to_numpy,
    numpy_to_image,
    seconds_from_stamp,
    stamp_from_seconds,
    stereo_camera_infos,
)


@pytest.mark.parametrize('encoding, array', [
    ('rgb8', np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)),
    ('32FC1', np.array([[1.5, np.nan], [0.25, 3.0]], dtype=np.float32)),
    ('32SC1', np.array([[-1, 0, 7]], dtype=np.int32)),
])
def test_image_round_trip(encoding, array):
    msg = numpy_to_image(array, encoding, Header(frame_id='cam'))

    back = image_to_numpy(msg)

    assert msg.step == array.shape[1] * array.itemsize * (array.shape[2] if array.ndim == 3 else 1)
    np.testing.assert_array_equal(back, array)


def test_image_errors_name_the_problem():
    with pytest.raises(ValueError, match='rgb8 needs 3-channel uint8'):
        numpy_to_image(np.zeros((2, 2), np.float32), 'rgb8', Header())
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), 'rgb8', Header())
    msg.height = 8  # lies about its size
    with pytest.raises(ValueError, match='too small'):
        image_to_numpy(msg)
    msg.encoding = 'yuv422'
    with pytest.raises(ValueError, match='unsupported encoding'):
        image_to_numpy(msg)


def test_stereo_infos_follow_the_rectified_pair_convention():
    left, right = stereo_camera_infos(320, 240, 200.0, 200.0, 159.5, 119.5, 0.12, Header(), Header())

    assert right.p[3] == pytest.approx(-200.0 * 0.12)
    assert left.p[3] == 0.0
    assert list(left.k) == list(right.k)
    assert list(left.r) == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]


def test_stamp_round_trip():
    assert seconds_from_stamp(stamp_from_seconds(12.345678901)) == pytest.approx(12.345678901, abs=1e-9)
    assert stamp_from_seconds(1.9999999999).nanosec <= 999_999_999


def test_planar_odometry_round_trips_the_pose_and_stamp():
    from groundfm.geometry.rotations import yaw_of
    from groundfm.ros.convert import planar_odometry, seconds_from_stamp

    msg = planar_odometry(1.5, -2.0, 2.5, 12.25)
    q = msg.pose.pose.orientation

    assert (msg.header.frame_id, msg.child_frame_id) == ('odom', 'base_link')
    assert (msg.pose.pose.position.x, msg.pose.pose.position.y) == (1.5, -2.0)
    assert abs(yaw_of(np.array([q.x, q.y, q.z, q.w])) - 2.5) < 1e-9
    assert abs(seconds_from_stamp(msg.header.stamp) - 12.25) < 1e-9
