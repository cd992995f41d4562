"""A STAND-IN for the mapping node's outputs: a map that only holds what a forward camera has seen. ROS-free.

It ray-casts a camera's field of view (default 90 degrees, 3 m; the benchmark passes the head camera's and mapping's)
on the ground-truth grid of a generated house (walls and furniture stop the rays), accumulates the seen cells, and
returns them as a grid cropped to the seen area (so the map grows and its origin moves, like mapping's
map/occupancy), plus the objects with enough seen cells (like map/objects). The kinematic navigation benchmark uses it
(`--map revealed`) to measure exploration without stereo or mapping errors, and the tests use it to check that
navigation explores and re-plans on such a map. It is ground truth, revealed; not a mapper.
"""

import math

import numpy as np

from groundfm.navigation.planner import UNKNOWN, Grid, grid_from_house, polygon_distance
from groundfm.navigation.reasoner import SceneGraph


class RevealedMap:
    """Accumulate what a camera at each pose sees of the house's ground-truth grid."""

    def __init__(self, house_json: dict, fov_deg: float = 90.0, range_m: float = 3.0, rays: int = 91) -> None:
        self.truth = grid_from_house(house_json)
        self.seen = np.zeros(self.truth.shape, bool)
        self.fov, self.range, self.rays = math.radians(fov_deg), range_m, rays
        centres = self.truth.center_of(np.stack(np.mgrid[0:self.truth.shape[0], 0:self.truth.shape[1]], -1))
        flat = centres.reshape(-1, 2)
        self.objects = house_json['objects']
        self._object_cells = [(polygon_distance(flat, node.footprint()) <= self.truth.resolution).reshape(
            self.truth.shape) for node in SceneGraph.from_house_json(house_json).objects]

    def observe(self, pose) -> None:
        """Mark the cells seen from pose (x, y, yaw) [m, rad]: each ray stops at the first occupied cell."""
        g = self.truth
        steps = np.arange(0.0, self.range, g.resolution / 2)
        angles = pose[2] + np.linspace(-self.fov / 2, self.fov / 2, self.rays)
        xs = pose[0] + np.cos(angles)[:, None] * steps[None]
        ys = pose[1] + np.sin(angles)[:, None] * steps[None]
        rows = np.floor((ys - g.origin[1]) / g.resolution).astype(int)
        cols = np.floor((xs - g.origin[0]) / g.resolution).astype(int)
        inside = (rows >= 0) & (rows < g.shape[0]) & (cols >= 0) & (cols < g.shape[1])
        for r, c, ok in zip(rows, cols, inside, strict=True):
            r, c = r[ok], c[ok]
            hit = np.nonzero(g.data[r, c] >= 50)[0]
            end = hit[0] + 1 if len(hit) else len(r)
            self.seen[r[:end], c[:end]] = True
        # The floor right around the robot is known too (the camera saw it while approaching).
        rr, cc = g.cell_of(pose[:2])
        k = int(0.4 / g.resolution)
        self.seen[max(rr - k, 0):rr + k + 1, max(cc - k, 0):cc + k + 1] |= \
            g.data[max(rr - k, 0):rr + k + 1, max(cc - k, 0):cc + k + 1] < 50

    def grid(self, stamp: float = 0.0) -> Grid:
        """The seen part of the house: ground truth where seen, unknown elsewhere, cropped with a 1-cell margin."""
        rows, cols = np.nonzero(self.seen)
        if not len(rows):
            return Grid(np.full((1, 1), UNKNOWN, np.int8), self.truth.origin, self.truth.resolution, stamp)
        r0, r1 = max(rows.min() - 1, 0), min(rows.max() + 2, self.truth.shape[0])
        c0, c1 = max(cols.min() - 1, 0), min(cols.max() + 2, self.truth.shape[1])
        data = np.where(self.seen, self.truth.data, UNKNOWN).astype(np.int8)[r0:r1, c0:c1]
        origin = (self.truth.origin[0] + c0 * self.truth.resolution, self.truth.origin[1] + r0 * self.truth.resolution)
        return Grid(np.ascontiguousarray(data), origin, self.truth.resolution, stamp)

    def seen_objects(self, min_cells: int = 3) -> list[dict]:
        """The house objects (scene JSON dicts) with at least min_cells seen footprint cells."""
        return [o for o, cells in zip(self.objects, self._object_cells, strict=True)
                if int((cells & self.seen).sum()) >= min_cells]

