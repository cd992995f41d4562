"""Posed RGB-D sequences from the MuJoCo house sim, for the mapping benchmark and the training data engine (no ROS).

A trajectory is a collision-free random walk of the Go2's base in the house (forward steps and turns, keeping
`clearance` from walls and furniture); at each pose the robot is placed standing (home joints) and the left head camera
renders RGB, ground-truth planar depth and instance ids. Poses are T_map_optical (4, 4): left optical frame (x right,
y down, z forward) into the map frame, built from the same chain the sim node publishes on /tf.
"""

import math
from dataclasses import dataclass

import numpy as np

from groundfm.geometry.rotations import quat_from_euler, quat_to_matrix

OPTICAL_IN_LINK = quat_from_euler(-np.pi / 2, 0.0, -np.pi / 2)  # as groundfm.sim.node publishes it


@dataclass
class Frame:
    """One posed view: rgb (H, W, 3) uint8, depth (H, W) float32 [m] (NaN none), labels (H, W) int32, k (3, 3),
    t_map_cam (4, 4) left optical -> map."""

    rgb: np.ndarray
    depth: np.ndarray
    labels: np.ndarray
    k: np.ndarray
    t_map_cam: np.ndarray


def _pose(t: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = quat_to_matrix(q_xyzw)
    m[:3, 3] = t
    return m


def camera_pose(world) -> np.ndarray:
    """T_map_optical (4, 4) of the left camera of a SimWorld at its current state."""
    base = world.base_state()
    mount_t, mount_q = world.camera_mount()
    optical = _pose(np.array([0.0, world.cfg.stereo_baseline_m / 2, 0.0]), OPTICAL_IN_LINK)
    return _pose(base.position, base.orientation_xyzw) @ _pose(mount_t, mount_q) @ optical


def random_walk(house, n: int, seed: int, step_m: float = 0.12, clearance: float = 0.45,
                turn_deg: float = 12.0) -> list[tuple[float, float, float]]:
    """n base poses (x, y, yaw) [m, rad] of a collision-free random walk from the house spawn."""
    from groundfm.sim.house import point_polygon_distance, wall_footprint

    rng = np.random.default_rng(seed)
    polys = [wall_footprint(w) for w in house.walls] + [o.footprint() for o in house.objects]
    x0, y0, xmax, ymax = house.bounds

    def free(x: float, y: float) -> bool:
        if not (x0 + clearance < x < xmax - clearance and y0 + clearance < y < ymax - clearance):
            return False
        return all(point_polygon_distance((x, y), p) > clearance for p in polys)

    x, y, yaw = house.spawn
    poses, turning = [], 0.0
    while len(poses) < n:
        poses.append((x, y, yaw))
        if turning:  # keep turning the same way until the way ahead is clear
            yaw += turning
            if free(x + 3 * step_m * math.cos(yaw), y + 3 * step_m * math.sin(yaw)):
                turning = 0.0
            continue
        nx, ny = x + step_m * math.cos(yaw), y + step_m * math.sin(yaw)
        if free(nx, ny) and rng.random() > 0.15:
            x, y = nx, ny
            yaw += math.radians(rng.normal(0.0, turn_deg / 3))
        elif free(nx, ny):
            yaw += math.radians(turn_deg) * rng.choice([-1.0, 1.0])
        else:
            turning = math.radians(turn_deg) * rng.choice([-1.0, 1.0])
    return poses


def render_sequence(house_seed: int, n_frames: int, walk_seed: int = 0, width: int = 320, height: int = 240,
                    step_m: float = 0.12) -> list[Frame]:
    """Render n_frames posed RGB-D frames along a random walk in the house of house_seed."""
    from groundfm.sim.config import SimConfig
    from groundfm.sim.house import generate_house
    from groundfm.sim.world import SimWorld

    house = generate_house(house_seed)
    world = SimWorld(house, SimConfig(scene_seed=house_seed, image_width=width, image_height=height))
    try:
        k = world.camera_model.k()
        frames = []
        for x, y, yaw in random_walk(house, n_frames, walk_seed, step_m=step_m):
            world.reset((x, y, yaw))
            f = world.render_stereo()
            frames.append(Frame(f.left, f.depth, f.instances, k.copy(), camera_pose(world)))
        return frames
    finally:
        world.close()


def label_table(house_seed: int) -> dict[int, str]:
    """Instance id -> class of the sim house (the oracle label table the sim node publishes)."""
    from groundfm.sim.house import generate_house

    return {0: 'structure', **{o.id: o.label for o in generate_house(house_seed).objects}}
