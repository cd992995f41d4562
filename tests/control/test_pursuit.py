"""Pure pursuit and discrete moves, closed-loop on an ideal unicycle (the controller tracks commands within ~1%)."""

import math

import numpy as np
import pytest

from groundfm.control.config import ControlConfig
from groundfm.control.pursuit import DiscreteMove, PurePursuit

CFG = ControlConfig()


def _drive(follower, pose=(0.0, 0.0, 0.0), seconds: float = 60.0, dt: float = 0.02) -> tuple[np.ndarray, list]:
    """Integrate body-frame commands on a unicycle until the follower is done; returns the final pose and the path."""
    x, y, yaw = pose
    trail = []
    for _ in range(round(seconds / dt)):
        vx, vy, wz = follower.command((x, y, yaw))
        if follower.done:
            break
        assert vx <= CFG.max_vx_mps + 1e-9 and abs(wz) <= CFG.max_wz_radps + 1e-9
        x += (vx * math.cos(yaw) - vy * math.sin(yaw)) * dt
        y += (vx * math.sin(yaw) + vy * math.cos(yaw)) * dt
        yaw += wz * dt
        trail.append((x, y))
    return np.array([x, y, yaw]), trail


def test_pure_pursuit_follows_an_l_shaped_path_to_its_end():
    path = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    follower = PurePursuit(CFG, path)

    pose, trail = _drive(follower)

    assert follower.done
    assert np.hypot(*(pose[:2] - path[-1])) < CFG.goal_tolerance_m
    trail = np.array(trail)
    off_path = np.minimum(np.abs(trail[:, 1]) + np.maximum(trail[:, 0] - 2.0, 0), np.abs(trail[:, 0] - 2.0))
    assert off_path.max() < CFG.pursuit_lookahead_m, 'cuts the corner by less than the lookahead'


def test_pure_pursuit_turns_around_for_a_goal_behind():
    follower = PurePursuit(CFG, [[-1.5, 0.0]])

    first = follower.command((0.0, 0.0, 0.0))
    pose, _ = _drive(follower)

    assert first[0] == 0.0 and abs(first[2]) > 0, 'turns on the spot first'
    assert follower.done and np.hypot(pose[0] + 1.5, pose[1]) < CFG.goal_tolerance_m


def test_bad_waypoints_are_refused():
    with pytest.raises(ValueError, match='waypoints'):
        PurePursuit(CFG, [[0.0, float('nan')]])
    with pytest.raises(ValueError, match='waypoints'):
        PurePursuit(CFG, np.zeros((0, 2)))


@pytest.mark.parametrize(('kind', 'amount', 'expected'), [
    ('forward', 0.0, (0.25, 0.0)),
    ('forward', 0.6, (0.6, 0.0)),
    ('turn_left', 0.0, (0.0, math.radians(30))),
    ('turn_right', 1.0, (0.0, -1.0)),
])
def test_discrete_moves_end_where_asked(kind, amount, expected):
    start = (1.0, 2.0, 0.5)
    move = DiscreteMove(CFG, kind, amount, start)

    pose, _ = _drive(move, start)

    assert move.done
    travelled = (pose[0] - 1.0) * math.cos(0.5) + (pose[1] - 2.0) * math.sin(0.5)
    assert travelled == pytest.approx(expected[0], abs=CFG.move_distance_tolerance_m + 0.01)
    assert pose[2] - 0.5 == pytest.approx(expected[1], abs=CFG.move_angle_tolerance_rad + 0.01)


def test_stop_is_done_at_once_and_bad_moves_are_refused():
    assert DiscreteMove(CFG, 'stop', 0.0, (0, 0, 0)).command((0, 0, 0)) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match='amount'):
        DiscreteMove(CFG, 'forward', -0.1, (0, 0, 0))
    with pytest.raises(ValueError, match='amount'):
        DiscreteMove(CFG, 'turn_left', float('nan'), (0, 0, 0))
    with pytest.raises(ValueError, match='kind'):
        DiscreteMove(CFG, 'jump', 0.0, (0, 0, 0))
