import numpy as np
import pytest

from groundfm.geometry.rotations import matrix_to_quat, quat_from_euler, quat_to_matrix, yaw_of
from groundfm.geometry.transform_buffer import Transform, TransformBuffer, TransformError


def _tf(xyz, rpy=(0.0, 0.0, 0.0)) -> Transform:
    return Transform(np.array(xyz, dtype=float), quat_from_euler(*rpy))


def test_chain_lookup_maps_points_between_frames():
    buf = TransformBuffer()
    buf.set_transform('map', 'odom', 0.0, _tf([1, 0, 0]), static=True)
    buf.set_transform('odom', 'base_link', 5.0, _tf([0, 2, 0], (0, 0, np.pi / 2)))
    buf.set_transform('base_link', 'camera', 0.0, _tf([0.3, 0, 0.1]), static=True)

    t = buf.lookup('map', 'camera', 5.0)

    # camera origin: base at (1, 2, 0) facing +y, camera 0.3 m ahead -> (1, 2.3, 0.1)
    np.testing.assert_allclose(t.apply(np.zeros(3)), [1.0, 2.3, 0.1], atol=1e-9)
    np.testing.assert_allclose(buf.lookup('camera', 'map', 5.0).apply([1.0, 2.3, 0.1]), 0.0, atol=1e-9)


def test_interpolates_between_stamps():
    buf = TransformBuffer()
    buf.set_transform('odom', 'base_link', 0.0, _tf([0, 0, 0], (0, 0, 0)))
    buf.set_transform('odom', 'base_link', 1.0, _tf([2, 0, 0], (0, 0, 1.0)))

    t = buf.lookup('odom', 'base_link', 0.25)

    np.testing.assert_allclose(t.translation, [0.5, 0, 0], atol=1e-9)
    assert yaw_of(t.rotation) == pytest.approx(0.25, abs=1e-6)


def test_latest_common_time_and_errors():
    buf = TransformBuffer()
    buf.set_transform('odom', 'base_link', 1.0, _tf([1, 0, 0]))
    buf.set_transform('odom', 'base_link', 2.0, _tf([2, 0, 0]))
    assert buf.lookup('odom', 'base_link').translation[0] == pytest.approx(2.0)
    with pytest.raises(TransformError, match='outside the buffer'):
        buf.lookup('odom', 'base_link', 3.0)
    with pytest.raises(TransformError, match='does not exist'):
        buf.lookup('odom', 'nowhere')
    buf.set_transform('world', 'island', 0.0, _tf([0, 0, 0]), static=True)
    with pytest.raises(TransformError, match='not connected'):
        buf.lookup('odom', 'island')


def test_rejects_non_finite_and_non_unit_rotations():
    buf = TransformBuffer()
    with pytest.raises(ValueError, match='non-finite'):
        buf.set_transform('a', 'b', 0.0, Transform(np.array([np.nan, 0, 0]), np.array([0, 0, 0, 1.0])))
    with pytest.raises(ValueError, match='unit quaternion'):
        buf.set_transform('a', 'b', 0.0, Transform(np.zeros(3), np.array([0, 0, 0, 2.0])))


def test_cache_drops_old_stamps():
    buf = TransformBuffer(cache_s=1.0)
    for i in range(30):
        buf.set_transform('odom', 'base_link', i * 0.1, _tf([i, 0, 0]))
    with pytest.raises(TransformError):
        buf.lookup('odom', 'base_link', 0.5)


@pytest.mark.parametrize('rpy', [(0.1, -0.2, 0.3), (np.pi, 0.0, 0.0), (0.0, np.pi / 2 - 1e-3, 1.0)])
def test_quaternion_matrix_round_trip(rpy):
    q = quat_from_euler(*rpy)
    back = matrix_to_quat(quat_to_matrix(q))
    assert min(np.abs(back - q).max(), np.abs(back + q).max()) < 1e-9
