import math
import time

import mujoco
import numpy as np
import pytest

from groundfm.sim import go2
from groundfm.sim.config import SimConfig
from groundfm.sim.house import COLORS, House, Room, SceneObject, Surface, Wall, generate_house
from groundfm.sim.world import MotorCommand, SimWorld

WALL_X = 6.0  # the test room's far wall line; its inner face is at WALL_X - 0.05


def _box_room() -> House:
    """One empty 6 x 4 m room, a red box, the robot at (4.2, 2.0) looking at the +x wall."""
    corners = [(0, 0), (WALL_X, 0), (WALL_X, 4), (0, 4)]
    walls = tuple(Wall(corners[i], corners[(i + 1) % 4], 0.1, 2.4) for i in range(4))
    box = SceneObject(1, 'box', 'red', COLORS['red'], (5.3, 2.5, 0.2), (0.4, 0.4, 0.4), 0.0, 'living_room')
    speckle = Surface('checker', (0.7, 0.6, 0.5), (0.5, 0.45, 0.4), (0.2, 0.2, 0.2), 0.35, 3.0)  # texels ~3 px
    return House(0, (Room('living_room', 'living_room', 0, 0, WALL_X, 4),), (), walls, (box,), (4.2, 2.0, 0.0),
                 (0, 0, WALL_X, 4), speckle, (speckle,))


@pytest.fixture(scope='module')
def world():
    w = SimWorld(generate_house(0), SimConfig())
    yield w
    w.close()


def _stand(kp: float, kd: float) -> MotorCommand:
    return MotorCommand(go2.stand_joint_positions(0.30), np.zeros(12), np.full(12, kp), np.full(12, kd), np.zeros(12))


def test_stand_command_holds_the_base_height():
    w = SimWorld(generate_house(0), SimConfig())
    w.set_motor_command(_stand(go2.STAND_KP, go2.STAND_KD))

    start = time.perf_counter()
    w.step(round(2.0 / w.physics_dt))
    rate = round(2.0 / w.physics_dt) / (time.perf_counter() - start)

    print(f'physics with motor PD: {rate:.0f} steps/s')
    base = w.base_state()
    assert 0.27 <= base.position[2] <= 0.33
    assert not w.fallen()
    assert w.time == pytest.approx(2.0)
    assert np.linalg.norm(base.linear_velocity) < 0.05 and np.linalg.norm(base.angular_velocity) < 0.05
    q, dq, tau = w.joint_state()
    assert np.allclose(q, go2.stand_joint_positions(0.30), atol=0.06)
    assert np.all(np.abs(tau) <= go2.EFFORT_LIMITS + 1e-9)


def test_damping_mode_lets_it_sink(world):
    world.reset()
    world.set_motor_command(None)

    world.step(1000)

    assert world.base_state().position[2] < 0.2
    assert world.fallen()


def test_torques_are_clipped_to_the_actuator_range(world):
    world.reset()
    cmd = _stand(1e4, 0.0)
    cmd.q = world.joint_state()[0] + np.tile([0.1, -0.1, 0.1], 4)
    world.set_motor_command(cmd)

    world.step(1)

    assert np.allclose(world.joint_state()[2], np.tile([1, -1, 1], 4) * go2.EFFORT_LIMITS)


def test_base_state_uses_ros_quaternion_order_and_base_frame_twist(world):
    world.reset((3.0, 2.0, math.pi / 2))
    world.data.qvel[0:3] = (0.0, 1.0, 0.0)  # world +y is base +x at yaw 90 deg

    state = world.base_state()

    assert np.allclose(state.orientation_xyzw, [0, 0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    assert np.allclose(state.linear_velocity, [1.0, 0.0, 0.0])
    assert np.allclose(state.position[:2], [3.0, 2.0])


def _match(a: np.ndarray, b: np.ndarray, rows: slice, cols: slice, sign: int, guess: float) -> float:
    """Sub-pixel shift of patch a[rows, cols] in b (a at x matches b at x - sign * d), by a 0.005 px search."""
    xs = np.arange(cols.start, cols.stop)
    shifts = np.arange(guess - 2.0, guess + 2.0, 0.005)
    costs = []
    for d in shifts:
        x = xs - sign * d
        i = np.floor(x).astype(int)
        frac = x - i
        costs.append(np.mean((a[rows, cols] - (b[rows][:, i] * (1 - frac) + b[rows][:, i + 1] * frac)) ** 2))
    return float(shifts[np.argmin(costs)])


def test_stereo_disparity_matches_the_camera_model():
    w = SimWorld(_box_room(), SimConfig(camera_pitch_deg=0.0))
    cam = w.camera_model
    z_true = (WALL_X - 0.05) - (4.2 + w.camera_mount()[0][0])

    frame = w.render_stereo()
    w.close()

    rows, cols = slice(20, 80), slice(120, 200)  # wall only
    assert np.nanstd(frame.depth[rows, cols]) < 1e-3  # planar z: constant on a fronto-parallel wall
    assert np.nanmean(frame.depth[rows, cols]) == pytest.approx(z_true, abs=0.005)
    left, right = (img.astype(float).mean(axis=2) for img in (frame.left, frame.right))
    expected = cam.fx * cam.baseline / z_true
    assert np.mean([_match(a, b, rows, cols, sign, expected) for a, b, sign in ((left, right, 1), (right, left, -1))]) \
        == pytest.approx(expected, abs=0.1)
    assert cam.cx == (cam.width - 1) / 2 and cam.fx == cam.fy


def test_red_box_in_view_is_labelled_and_red():
    w = SimWorld(_box_room(), SimConfig(camera_pitch_deg=0.0))

    frame = w.render_stereo()
    w.close()

    mask = frame.instances == 1
    assert mask.sum() > 100
    r, g, b = frame.left[mask].mean(axis=0)
    assert r > 1.5 * g and r > 1.5 * b
    assert set(np.unique(frame.instances)) <= {-1, 0, 1}


def test_depth_and_instances_match_ray_casts(world):
    world.reset()
    cfg, cam = world.cfg, world.camera_model

    world.render_stereo()  # warm-up: builds the GL context
    start = time.perf_counter()
    frame = world.render_stereo()
    ms = (time.perf_counter() - start) * 1e3
    print(f'render_stereo {cfg.image_width}x{cfg.image_height}: {ms:.1f} ms')

    assert frame.left.shape == frame.right.shape == (cfg.image_height, cfg.image_width, 3)
    assert frame.left.dtype == np.uint8 and frame.depth.dtype == np.float32 and frame.instances.dtype == np.int32
    m, d = world.model, world.data
    cam_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, 'stereo_left')
    origin, rot = d.cam_xpos[cam_id], d.cam_xmat[cam_id].reshape(3, 3)
    geomid = np.zeros(1, np.int32)
    hits = 0
    for v in np.linspace(5, cam.height - 6, 7).astype(int):
        for u in np.linspace(5, cam.width - 6, 9).astype(int):
            ray_opt = np.array([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0])  # optical: x right, y down
            ray = rot @ (ray_opt * [1, -1, -1])  # -> MuJoCo camera axes (y up, looking -z) -> world
            dist = mujoco.mj_ray(m, d, origin, ray / np.linalg.norm(ray), np.array([1, 0, 0, 0, 0, 0], np.uint8),
                                 1, -1, geomid)
            if dist < 0:
                assert np.isnan(frame.depth[v, u]) and frame.instances[v, u] == -1
                continue
            hits += 1
            assert frame.depth[v, u] == pytest.approx(dist / np.linalg.norm(ray_opt), rel=0.01, abs=0.005)
            assert frame.instances[v, u] == world.instance_of_geom[geomid[0]]
    assert hits >= 40
    assert (frame.instances > 0).any()  # furniture in view from the spawn


def test_camera_mount_is_pitched_down(world):
    xyz, quat = world.camera_mount()
    pitch = math.radians(world.cfg.camera_pitch_deg)

    assert np.allclose(quat, [0, math.sin(pitch / 2), 0, math.cos(pitch / 2)])
    assert xyz[0] > 0.2


def test_bad_motor_command_names_the_field(world):
    bad = _stand(60.0, 2.0)
    bad.kd = np.zeros(11)

    with pytest.raises(ValueError, match='kd'):
        world.set_motor_command(bad)
