"""2-D occupancy for planning from the voxel map, in nav_msgs/OccupancyGrid conventions (ROS-free).

Cell values: 0 free, 100 occupied, -1 unknown. Row-major, row 0 at the origin's y; `origin` is the map-frame (x, y)
[m] of the lower-left corner of cell (0, 0); `resolution` is the cell edge [m].
Voxels that later views saw through (VoxelMap.free_space: stereo outliers floating in the air) are left out.
A cell is occupied when a voxel with at least `occupancy_min_points` points has its centroid in the height band
[floor_z + obstacle_min_height, floor_z + obstacle_max_height]; free when it holds observed floor (a voxel centroid
within floor_tolerance of floor_z) and nothing occupied; unknown otherwise. Objects hanging above the band (table
tops are inside it for a Go2) and below it do not block.
"""

from dataclasses import dataclass

import numpy as np

from groundfm.mapping.config import MapConfig
from groundfm.mapping.voxel_map import VoxelMap

FREE, OCCUPIED, UNKNOWN = 0, 100, -1


@dataclass
class OccupancyGrid2D:
    """data (height, width) int8 in {0, 100, -1}; origin (x, y) [m] of cell (0, 0)'s corner; resolution [m]."""

    data: np.ndarray
    origin: tuple[float, float]
    resolution: float

    @property
    def width(self) -> int:
        """Cells along x."""
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        """Cells along y."""
        return int(self.data.shape[0])

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """Map-frame points (n, 2) [m] -> (row, col) indices (n, 2), possibly outside the grid."""
        xy = np.atleast_2d(xy)
        col = np.floor((xy[:, 0] - self.origin[0]) / self.resolution).astype(np.int64)
        row = np.floor((xy[:, 1] - self.origin[1]) / self.resolution).astype(np.int64)
        return np.stack([row, col], 1)

    def value_at(self, x: float, y: float) -> int:
        """Cell value at map-frame (x, y) [m]; UNKNOWN outside the grid."""
        row, col = self.cell_of(np.array([[x, y]]))[0]
        if 0 <= row < self.height and 0 <= col < self.width:
            return int(self.data[row, col])
        return UNKNOWN


def occupancy_from_points(points: np.ndarray, counts: np.ndarray, cfg: MapConfig,
                          confirmed: np.ndarray | None = None) -> OccupancyGrid2D:
    """Occupancy from voxel centroids (n, 3) [m] and their point counts (n,); confirmed (n,) bool, when given, says
    which voxels may mark an obstacle (free floor needs no confirmation)."""
    res = cfg.occupancy_resolution
    h = points[:, 2] - cfg.floor_z
    floor = np.abs(h) <= cfg.floor_tolerance
    occupied = (h >= cfg.obstacle_min_height) & (h <= cfg.obstacle_max_height) & (counts >= cfg.occupancy_min_points)
    if confirmed is not None:
        occupied &= confirmed
    use = floor | occupied
    if not use.any():
        return OccupancyGrid2D(np.full((1, 1), UNKNOWN, np.int8), (0.0, 0.0), res)
    lo = np.floor(points[use, :2].min(0) / res) * res - res
    hi = np.ceil(points[use, :2].max(0) / res) * res + res
    width, height = (np.round((hi - lo) / res).astype(int) + 1).tolist()
    grid = OccupancyGrid2D(np.full((height, width), UNKNOWN, np.int8), (float(lo[0]), float(lo[1])), res)
    for mask, value in ((floor, FREE), (occupied, OCCUPIED)):  # occupied last: it wins
        rc = grid.cell_of(points[mask, :2])
        grid.data[rc[:, 0], rc[:, 1]] = value
    return grid


def occupancy_from_map(vmap: VoxelMap, cfg: MapConfig | None = None) -> OccupancyGrid2D:
    """Occupancy of the live voxels of the map that are not free space (seen through more than seen); obstacles
    only from voxels seen in at least occupancy_min_views keyframes."""
    cfg = cfg or vmap.cfg
    slots = vmap.slots()
    slots = slots[~vmap.free_space(slots)]
    return occupancy_from_points(vmap.centroids(slots), vmap.count[slots], cfg,
                                 vmap.hits[slots] >= cfg.occupancy_min_views)
