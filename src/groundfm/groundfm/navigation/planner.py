"""Global path search on a 2-D occupancy grid: costmap with inflation, A*, path smoothing, frontiers. ROS-free.

Grid conventions follow nav_msgs/OccupancyGrid (and mapping/occupancy.py): values 0 free, 100 occupied, -1 unknown
(>= 50 counts as occupied); data[row, col] with row along +y, col along +x; `origin` is the map-frame (x, y) [m] of
cell (0, 0)'s lower-left corner; `resolution` is the cell edge [m].

Cost of a step = length [m] * (1 + clearance_weight * closeness), closeness rising from 0 at robot_radius + 0.4 m
from the nearest obstacle to 1 at robot_radius. Cells closer than robot_radius are lethal except within the start's
inflated disk (so a robot that starts near a wall can still leave) and on a `passable` mask (the robot's walked
trail). `_reference_dijkstra` is the scipy twin of `astar` used by tests.
"""

import heapq
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FREE, OCCUPIED, UNKNOWN = 0, 100, -1
_SQRT2 = math.sqrt(2.0)
_NEIGHBOURS = ((0, 1, 1.0), (1, 0, 1.0), (0, -1, 1.0), (-1, 0, 1.0),
               (1, 1, _SQRT2), (1, -1, _SQRT2), (-1, 1, _SQRT2), (-1, -1, _SQRT2))
SOFT_MARGIN_M = 0.4  # clearance cost fades out this far beyond robot_radius [m]


@dataclass
class Grid:
    """An occupancy grid: data (h, w) int8 in {0, 100, -1} (or 0..100), origin (x, y) [m], resolution [m]."""

    data: np.ndarray
    origin: tuple[float, float]
    resolution: float
    stamp: float = 0.0  # time of the map [s], node clock

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.size == 0:
            raise ValueError(f'Grid.data must be a non-empty 2-D array, got shape {self.data.shape}')
        if not self.resolution > 0:
            raise ValueError(f'Grid.resolution must be > 0, got {self.resolution}')

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return int(self.data.shape[0]), int(self.data.shape[1])

    def cell_of(self, xy) -> tuple[int, int]:
        """(row, col) of a map-frame point [m]; may lie outside the grid."""
        return (int(math.floor((xy[1] - self.origin[1]) / self.resolution)),
                int(math.floor((xy[0] - self.origin[0]) / self.resolution)))

    def cells_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, inside) of map-frame points (n, 2) [m]: int arrays (n,) and a bool (n,) for on-grid ones."""
        rows = np.floor((points[:, 1] - self.origin[1]) / self.resolution).astype(int)
        cols = np.floor((points[:, 0] - self.origin[0]) / self.resolution).astype(int)
        return rows, cols, (rows >= 0) & (rows < self.data.shape[0]) & (cols >= 0) & (cols < self.data.shape[1])

    def center_of(self, rc) -> np.ndarray:
        """Map-frame centre (x, y) [m] of cell (row, col); rc may be (n, 2) -> (n, 2)."""
        rc = np.asarray(rc, float)
        return np.stack([self.origin[0] + (rc[..., 1] + 0.5) * self.resolution,
                         self.origin[1] + (rc[..., 0] + 0.5) * self.resolution], axis=-1)

    def inside(self, rc) -> bool:
        """True if (row, col) lies on the grid."""
        return 0 <= rc[0] < self.data.shape[0] and 0 <= rc[1] < self.data.shape[1]

    def occupied(self) -> np.ndarray:
        """Boolean (h, w): cells at or above 50."""
        return self.data >= 50

    def unknown(self) -> np.ndarray:
        """Boolean (h, w): cells below 0."""
        return self.data < 0


def grow_to_cover(grid: Grid, points, margin: float = 1.0) -> Grid:
    """The grid padded with unknown cells so points (n, 2) [m] lie at least margin [m] inside it; the same object when
    they already do. A live map (mapping's map/occupancy) only covers what was seen: the robot, a room goal or a
    frontier may lie outside it, and with unknown_is_free the planner may still search through the unknown."""
    pts = np.atleast_2d(np.asarray(points, float))
    res = grid.resolution
    lo = np.floor((pts.min(axis=0) - margin - np.asarray(grid.origin)) / res).astype(int)  # (col, row) offsets
    hi = np.ceil((pts.max(axis=0) + margin - np.asarray(grid.origin)) / res).astype(int)
    pad_left, pad_bottom = max(0, -int(lo[0])), max(0, -int(lo[1]))
    pad_right, pad_top = max(0, int(hi[0]) - grid.shape[1]), max(0, int(hi[1]) - grid.shape[0])
    if not (pad_left or pad_bottom or pad_right or pad_top):
        return grid
    data = np.pad(grid.data, ((pad_bottom, pad_top), (pad_left, pad_right)), constant_values=UNKNOWN)
    origin = (grid.origin[0] - pad_left * res, grid.origin[1] - pad_bottom * res)
    return Grid(data, origin, res, grid.stamp)


def drop_specks(grid: Grid, min_cells: int) -> Grid:
    """The grid with occupied 8-connected clusters smaller than min_cells set to unknown (stereo depth speckle on a
    live map; walls and furniture are far larger); the same object when there are none."""
    if min_cells <= 1:
        return grid
    labels, count = ndimage.label(grid.occupied(), structure=np.ones((3, 3)))
    if not count:
        return grid
    sizes = np.bincount(labels.ravel())
    small = (sizes < min_cells)[labels] & (labels > 0)
    if not small.any():
        return grid
    data = grid.data.copy()
    data[small] = UNKNOWN
    return Grid(data, grid.origin, grid.resolution, grid.stamp)


@dataclass(frozen=True)
class Costmap:
    """Obstacle distance [m], lethal mask and per-cell cost multiplier derived from a Grid."""

    grid: Grid
    distance: np.ndarray  # (h, w) distance to the nearest obstacle [m]
    lethal: np.ndarray  # (h, w) bool: never enter
    multiplier: np.ndarray  # (h, w) >= 1: step cost factor
    robot_radius: float = 0.0  # inflation radius [m]
    passable: np.ndarray | None = None  # (h, w) bool: known passable (the walked trail), never lethal; None: none


def build_costmap(grid: Grid, robot_radius: float, clearance_weight: float = 2.0,
                  unknown_is_free: bool = True, passable: np.ndarray | None = None) -> Costmap:
    """Inflate obstacles by robot_radius [m] and add a clearance cost that keeps paths off walls. Cells of passable
    (bool (h, w), e.g. `trail_mask`: where the robot has walked) are never lethal, whatever the map shows."""
    blocked = grid.occupied() if unknown_is_free else grid.occupied() | grid.unknown()
    if blocked.any():
        distance = ndimage.distance_transform_edt(~blocked) * grid.resolution
    else:
        distance = np.full(grid.shape, np.inf)
    lethal = distance < robot_radius
    if passable is not None:
        lethal &= ~passable
    closeness = np.clip((robot_radius + SOFT_MARGIN_M - distance) / SOFT_MARGIN_M, 0.0, 1.0)
    return Costmap(grid, distance, lethal, 1.0 + clearance_weight * closeness, robot_radius, passable)


@dataclass
class PlanResult:
    """A planned path: waypoints (n, 2) [m] from start to goal, cost and length [m]; path None with a reason."""

    path: np.ndarray | None
    cost: float = math.inf
    length: float = math.inf
    reason: str = ''
    goal_cell: tuple[int, int] | None = None
    expanded: int = 0


def reachable_from(costmap: Costmap, start_xy) -> np.ndarray:
    """Boolean (h, w): cells the robot at start_xy [m] can reach (8-connected, corner cutting ignored)."""
    grid = costmap.grid
    start = grid.cell_of(start_xy)
    if not grid.inside(start):
        return np.zeros(grid.shape, bool)
    passable = ~costmap.lethal | _start_pocket(costmap, start)
    passable[start] = True
    labels, _ = ndimage.label(passable, structure=np.ones((3, 3)))
    return labels == labels[start]


def _start_pocket(costmap: Costmap, start: tuple[int, int]) -> np.ndarray:
    """Lethal-but-free cells within robot_radius of a lethal start cell: the robot may drive out of them."""
    grid = costmap.grid
    if not costmap.lethal[start]:
        return np.zeros(grid.shape, bool)
    rows, cols = np.ogrid[0:grid.shape[0], 0:grid.shape[1]]
    reach = (costmap.robot_radius / grid.resolution) + 1.0
    disk = (rows - start[0]) ** 2 + (cols - start[1]) ** 2 <= reach ** 2
    return disk & costmap.lethal & ~grid.occupied()


def _endpoints(costmap: Costmap, start_xy, goal_mask: np.ndarray):
    """(start cell, goal cells outside lethal space, None), or (None, None, a failed PlanResult saying why)."""
    start = costmap.grid.cell_of(start_xy)
    if not costmap.grid.inside(start):
        return None, None, PlanResult(None, reason=f'start ({start_xy[0]:.2f}, {start_xy[1]:.2f}) is outside the map')
    goals = goal_mask & ~costmap.lethal
    if not goals.any():
        return None, None, PlanResult(None, reason='no reachable goal cell (the goal lies in or next to obstacles)')
    return start, goals, None


def astar(costmap: Costmap, start_xy, goal_mask: np.ndarray, max_expansions: int = 2_000_000) -> PlanResult:
    """Cheapest 8-connected path from start_xy [m] to any cell of goal_mask (h, w); heuristic = metric goal distance."""
    grid = costmap.grid
    h, w = grid.shape
    start, goals, refusal = _endpoints(costmap, start_xy, goal_mask)
    if refusal is not None:
        return refusal
    passable = ~costmap.lethal | _start_pocket(costmap, start)
    passable[start] = True
    # Admissible heuristic: straight-line distance to the nearest goal cell [cells] (multiplier >= 1).
    heuristic = ndimage.distance_transform_edt(~goals)
    mult = costmap.multiplier
    flat_pass = passable.ravel()
    flat_mult = mult.ravel()
    flat_goal = goals.ravel()
    flat_h = heuristic.ravel()
    start_i = start[0] * w + start[1]
    g = {start_i: 0.0}
    parent = {start_i: -1}
    heap = [(float(flat_h[start_i]), 0.0, start_i)]
    closed = set()
    expanded = 0
    while heap:
        _, cost, i = heapq.heappop(heap)
        if i in closed:
            continue
        closed.add(i)
        expanded += 1
        if flat_goal[i]:
            return _result(grid, parent, i, cost, expanded)
        if expanded > max_expansions:
            break
        r, c = divmod(i, w)
        m_here = flat_mult[i]
        for dr, dc, step in _NEIGHBOURS:
            rr, cc = r + dr, c + dc
            if rr < 0 or rr >= h or cc < 0 or cc >= w:
                continue
            j = rr * w + cc
            if not flat_pass[j] or j in closed:
                continue
            if dr and dc and not (flat_pass[r * w + cc] and flat_pass[rr * w + c]):
                continue  # no corner cutting
            new = cost + step * 0.5 * (m_here + flat_mult[j])
            if new < g.get(j, math.inf):
                g[j] = new
                parent[j] = i
                heapq.heappush(heap, (new + float(flat_h[j]), new, j))
    return PlanResult(None, reason='no path: the goal is cut off by obstacles', expanded=expanded)


def _result(grid: Grid, parent: dict[int, int], goal_i: int, cost_cells: float, expanded: int) -> PlanResult:
    w = grid.shape[1]
    cells = []
    i = goal_i
    while i != -1:
        cells.append(divmod(i, w))
        i = parent[i]
    cells.reverse()
    path = grid.center_of(np.array(cells))
    return PlanResult(path, cost_cells * grid.resolution, path_length(path), '', cells[-1], expanded)


def _reference_dijkstra(costmap: Costmap, start_xy, goal_mask: np.ndarray) -> float:
    """Cost [m] of the cheapest path by scipy's Dijkstra on astar's graph (the reference twin); inf if none."""
    result = dijkstra_search(costmap, start_xy, goal_mask)
    return result.cost if result.path is not None else math.inf


def _search_graph(costmap: Costmap, start: tuple[int, int]):
    """The step graph astar searches (8-connected, corner rule, clearance costs) as a CSR matrix over h*w cells."""
    from scipy.sparse import coo_matrix

    grid = costmap.grid
    h, w = grid.shape
    passable = ~costmap.lethal | _start_pocket(costmap, start)
    passable[start] = True
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for dr, dc, step in _NEIGHBOURS:
        r0, r1 = max(0, -dr), h - max(0, dr)
        c0, c1 = max(0, -dc), w - max(0, dc)
        a = (slice(r0, r1), slice(c0, c1))
        b = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        ok = passable[a] & passable[b]
        if dr and dc:
            side_a = passable[(slice(r0, r1), slice(c0 + dc, c1 + dc))]
            ok &= side_a & passable[(slice(r0 + dr, r1 + dr), slice(c0, c1))]
        rows.append(idx[a][ok])
        cols.append(idx[b][ok])
        vals.append((step * 0.5 * (costmap.multiplier[a] + costmap.multiplier[b]))[ok])
    graph = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(h * w, h * w))
    return graph.tocsr()


def path_costs(costmap: Costmap, start_xy) -> np.ndarray:
    """Float (h, w): cost [m] of the cheapest path from start_xy to every cell (inf where unreachable), by scipy's
    compiled Dijkstra on astar's graph."""
    from scipy.sparse.csgraph import dijkstra

    grid = costmap.grid
    start = grid.cell_of(start_xy)
    if not grid.inside(start):
        return np.full(grid.shape, np.inf)
    dist = dijkstra(_search_graph(costmap, start), indices=start[0] * grid.shape[1] + start[1])
    return dist.reshape(grid.shape) * grid.resolution


def costs_from(costmap: Costmap, sources: np.ndarray) -> np.ndarray:
    """Float (h, w): cost [m] of the cheapest path between each cell and the nearest cell of sources (bool (h, w)),
    on astar's graph (inf where none; lethal sources are left out)."""
    from scipy.sparse.csgraph import dijkstra

    grid = costmap.grid
    cells = np.flatnonzero(sources & ~costmap.lethal)
    if not len(cells):
        return np.full(grid.shape, np.inf)
    first = divmod(int(cells[0]), grid.shape[1])
    dist = dijkstra(_search_graph(costmap, first), indices=cells, min_only=True)
    return dist.reshape(grid.shape) * grid.resolution


def dijkstra_search(costmap: Costmap, start_xy, goal_mask: np.ndarray) -> PlanResult:
    """The same search as `astar` (same graph, costs and corner rule) by scipy's compiled Dijkstra: a few tens of ms
    on a whole house, where the pure-Python A* can take seconds when the goal is far or cut off. Used by plan_on."""
    from scipy.sparse.csgraph import dijkstra

    grid = costmap.grid
    w = grid.shape[1]
    start, goals, refusal = _endpoints(costmap, start_xy, goal_mask)
    if refusal is not None:
        return refusal
    dist, pred = dijkstra(_search_graph(costmap, start), indices=start[0] * w + start[1], return_predecessors=True)
    goal_dist = np.where(goals.ravel(), dist, np.inf)
    goal_i = int(np.argmin(goal_dist))
    if not np.isfinite(goal_dist[goal_i]):
        return PlanResult(None, reason='no path: the goal is cut off by obstacles',
                          expanded=int(np.isfinite(dist).sum()))
    parent = {}
    i = goal_i
    while i >= 0:
        parent[i] = int(pred[i]) if pred[i] >= 0 else -1
        i = parent[i]
    return _result(grid, parent, goal_i, float(goal_dist[goal_i]), int(np.isfinite(dist).sum()))


def path_length(path: np.ndarray) -> float:
    """Polyline length [m] of points (n, 2)."""
    if path is None or len(path) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def line_is_clear(costmap: Costmap, a, b, min_distance: float) -> bool:
    """True if every cell on segment a-b [m] is at least min_distance [m] from obstacles."""
    grid = costmap.grid
    n = max(2, int(math.ceil(np.linalg.norm(np.subtract(b, a)) / (0.5 * grid.resolution))) + 1)
    pts = np.linspace(a, b, n)
    rows, cols, inside = grid.cells_of(pts)
    if not inside.all():
        return False
    return bool((costmap.distance[rows, cols] >= min_distance).all())


def smooth_path(costmap: Costmap, path: np.ndarray, min_distance: float) -> np.ndarray:
    """Greedy line-of-sight shortcutting: from each kept waypoint, extend the straight segment along the path while it
    stays min_distance [m] off obstacles, and keep the last point it reached (O(n) segment checks)."""
    if path is None or len(path) <= 2:
        return path
    out = [path[0]]
    i = 0
    while i < len(path) - 1:
        j = i + 1
        while j + 1 < len(path) and line_is_clear(costmap, path[i], path[j + 1], min_distance):
            j += 1
        out.append(path[j])
        i = j
    return densify(np.array(out), 0.1)


def trail_mask(grid: Grid, points: np.ndarray, max_step: float = 0.25) -> np.ndarray:
    """Boolean (h, w): the cells within one cell of the polyline through points (n, 2) [m] (a walked trail), as a
    corridor three cells wide. A step longer than max_step [m] is a jump of the pose (relocalisation, a reset), not a
    walk: it is left as a gap."""
    mask = np.zeros(grid.shape, bool)
    points = np.asarray(points, float).reshape(-1, 2)
    if not len(points):
        return mask
    a, b = points[:-1], points[1:]
    gap = np.linalg.norm(b - a, axis=1)
    steps = np.where(gap <= max_step, np.maximum(1, np.ceil(gap / (0.5 * grid.resolution))), 1).astype(int)
    segment = np.repeat(np.arange(len(a)), steps)
    k = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps) + 1  # 1..steps within each segment
    along = a[segment] + (b[segment] - a[segment]) * (k / steps[segment])[:, None]  # a jump keeps only its end
    rows, cols, inside = grid.cells_of(np.concatenate([points[:1], along]))
    mask[rows[inside], cols[inside]] = True
    return ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool))


def densify(path: np.ndarray, step: float) -> np.ndarray:
    """Resample a polyline (n, 2) so consecutive points are at most step [m] apart (keeps the vertices)."""
    pts = [path[0]]
    for a, b in zip(path[:-1], path[1:], strict=True):
        n = max(1, int(math.ceil(np.linalg.norm(b - a) / step)))
        pts.extend(a + (b - a) * (k / n) for k in range(1, n + 1))
    return np.array(pts)


def plan(grid: Grid, start_xy, goal_mask: np.ndarray, robot_radius: float, clearance_weight: float = 2.0,
         unknown_is_free: bool = True, smooth: bool = True) -> PlanResult:
    """Cheapest path from start_xy [m] to goal_mask (h, w) on grid (compiled Dijkstra), then line-of-sight smoothing."""
    costmap = build_costmap(grid, robot_radius, clearance_weight, unknown_is_free)
    result = plan_on(costmap, start_xy, goal_mask, robot_radius, smooth)
    if result.path is None and not unknown_is_free and grid.unknown().any():
        result.reason += ' (unknown space counts as blocked)'
    return result


def plan_on(costmap: Costmap, start_xy, goal_mask: np.ndarray, robot_radius: float, smooth: bool = True) -> PlanResult:
    """Cheapest path on a prebuilt costmap (compiled Dijkstra, the same optimum as `astar`), then line-of-sight
    smoothing keeping robot_radius + 0.1 m clearance."""
    result = dijkstra_search(costmap, start_xy, goal_mask)
    if result.path is not None and smooth:
        result.path = smooth_path(costmap, result.path, robot_radius + 0.1)
        result.length = path_length(result.path)
    return result


# --- goal regions ---------------------------------------------------------------------------------------------------


def distance_to(grid: Grid, polygon: np.ndarray) -> np.ndarray:
    """Float (h, w): distance [m] from every cell centre to a convex polygon (k, 2), 0 inside."""
    return polygon_distance(_all_centres(grid).reshape(-1, 2), polygon).reshape(grid.shape)


def cells_within(grid: Grid, polygon: np.ndarray, distance: float) -> np.ndarray:
    """Boolean (h, w): cell centres within distance [m] of a convex polygon (k, 2) (inside counts as 0)."""
    return distance_to(grid, polygon) <= distance


def cells_beside(grid: Grid, polygon: np.ndarray, distance: float) -> np.ndarray:
    """Boolean (h, w): cells_within, kept to those on the polygon's side of walls (same_side)."""
    return same_side(grid, distance_to(grid, polygon), distance)


def same_side(grid: Grid, distance: np.ndarray, radius: float) -> np.ndarray:
    """Boolean (h, w): cells within radius [m] of an object (distance: (h, w) [m] to its footprint) that free or unknown
    cells join to it: a cell behind a wall is as close in a straight line, but standing there is not being at the
    object (the robot would walk round to the far side of the wall)."""
    near = distance <= radius
    rows, cols = np.nonzero(near)
    if not len(rows):
        return near
    window = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))  # only cells within reach
    passable = near[window] & ~grid.occupied()[window]
    reached = distance[window] <= grid.resolution  # the footprint and its rim
    for _ in range(int(math.ceil(radius / grid.resolution)) + 1):
        grown = reached | (ndimage.binary_dilation(reached, structure=np.ones((3, 3), bool)) & passable)
        if np.array_equal(grown, reached):
            break
        reached = grown
    if not (reached & passable).any():  # a map that rings the object with occupied cells: no cut
        return near
    found = np.zeros_like(near)
    found[window] = reached & near[window]
    return found


LOOK_DETOUR_FACTOR = 2.5  # a look point is worth walking to when its path cost is at most this x the straight line
LOOK_DETOUR_SLACK_M = 3.0  # ... plus this [m]


def unseen_beside(grid: Grid, polygon: np.ndarray, distance: float, costs: np.ndarray, room=None,
                  min_area: float = 0.25, robot_xy=None) -> tuple[float, float] | None:
    """Where to walk to see the unobserved floor beside an object: the cell of cheapest cost in costs (h, w)
    (path_costs) of the largest unknown patch within distance [m] of polygon (k, 2), on its side of walls and inside
    room (x_min, y_min, x_max, y_max) [m] if given (so a wall not mapped yet cannot join the next room's floor to it);
    None when every unknown patch there is smaller than min_area [m^2] or unreachable. The far side of a desk, hidden
    behind it, is such a patch until the robot walks round. With robot_xy (x, y) [m], a cell counts as reachable only
    without a long detour: path cost at most LOOK_DETOUR_FACTOR x its straight-line distance + LOOK_DETOUR_SLACK_M
    (a pocket behind furniture that the map only joins to the robot through other rooms is not worth the walk)."""
    res = grid.resolution
    (x0, y0), (x1, y1) = polygon.min(axis=0) - distance - res, polygon.max(axis=0) + distance + res
    if room is not None:
        x0, y0, x1, y1 = max(x0, room[0]), max(y0, room[1]), min(x1, room[2]), min(y1, room[3])
    cells = box_cells(grid, (x0, y0, x1, y1), 0.0)
    if cells is None:
        return None
    near = np.full(grid.shape, np.inf)
    rows, cols = np.mgrid[cells]
    near[cells] = polygon_distance(grid.center_of(np.stack([rows, cols], -1)).reshape(-1, 2),
                                   polygon).reshape(rows.shape)
    ring = same_side(grid, near, distance) & (near > 0.0) & (grid.data == UNKNOWN)
    labels, count = ndimage.label(ring, structure=np.ones((3, 3), bool))
    if not count:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    for label in np.argsort(sizes)[::-1]:
        if sizes[label] * res * res < min_area:
            return None
        patch = (labels == label + 1) & np.isfinite(costs)
        if robot_xy is not None and patch.any():
            rows, cols = np.nonzero(patch)
            straight = np.linalg.norm(grid.center_of(np.stack([rows, cols], -1)) - np.asarray(robot_xy[:2]), axis=1)
            patch[rows, cols] = costs[rows, cols] <= LOOK_DETOUR_FACTOR * straight + LOOK_DETOUR_SLACK_M
        if patch.any():
            r, c = np.unravel_index(np.argmin(np.where(patch, costs, np.inf)), grid.shape)
            x, y = grid.center_of((r, c))
            return float(x), float(y)
    return None


def _all_centres(grid: Grid) -> np.ndarray:
    rows, cols = np.mgrid[0:grid.shape[0], 0:grid.shape[1]]
    return grid.center_of(np.stack([rows, cols], axis=-1))


def box_cells(grid: Grid, bounds: tuple[float, float, float, float], inset: float) -> tuple[slice, slice] | None:
    """(rows, cols) slices of the grid cells whose centres lie in bounds (x_min, y_min, x_max, y_max) [m] shrunk by
    inset [m]; None when no cell does."""
    x0, y0, x1, y1 = bounds[0] + inset, bounds[1] + inset, bounds[2] - inset, bounds[3] - inset
    res = grid.resolution
    c0 = max(int(np.ceil((x0 - grid.origin[0]) / res - 0.5)), 0)
    c1 = min(int(np.floor((x1 - grid.origin[0]) / res - 0.5)) + 1, grid.shape[1])
    r0 = max(int(np.ceil((y0 - grid.origin[1]) / res - 0.5)), 0)
    r1 = min(int(np.floor((y1 - grid.origin[1]) / res - 0.5)) + 1, grid.shape[0])
    return (slice(r0, r1), slice(c0, c1)) if c1 > c0 and r1 > r0 else None


def box_mask(grid: Grid, bounds: tuple[float, float, float, float], inset: float = 0.0) -> np.ndarray:
    """Boolean (h, w): the cells box_cells gives (centres in bounds shrunk by inset [m])."""
    mask = np.zeros(grid.shape, bool)
    cells = box_cells(grid, bounds, inset)
    if cells is not None:
        mask[cells] = True
    return mask


def floor_plan_walls(grid: Grid, rooms, doors, thickness: float = 0.1, tolerance: float = 0.15,
                     doorway_depth: float = 0.0) -> Grid:
    """The grid with the unknown cells on a floor plan's walls set occupied: where two rooms meet, except at its
    doorways, and outside every room. Rooms (k, 4-tuples x_min, y_min, x_max, y_max [m]) that share an edge (within
    tolerance [m]) are walled off from each other there, thickness [m] wide; doors ((x, y, width) [m]) stay open over
    their width; the rooms are taken to cover the whole floor. Observed cells keep what the map says, so only plans
    through unseen space change: they no longer cut through a wall not mapped yet, or round the outside of the house.
    With doorway_depth > 0, occupied cells in a doorway's opening (its width, this far [m] either side of the wall
    line) are set free: stereo depth smears the jambs into the gap, and a doorway closed by such noise sends the robot
    round the house. The same object when nothing changes."""
    opened = np.zeros(grid.shape, bool)
    if doorway_depth > 0:
        for door in doors:
            box = doorway_opening(door, rooms, doorway_depth, tolerance)
            if box is not None:
                opened |= box_mask(grid, box)
        opened &= grid.occupied()
    unknown = grid.unknown()
    if not unknown.any() and not opened.any():
        return grid
    inside = np.zeros(grid.shape, bool)
    for room in rooms:
        inside |= box_mask(grid, (room[0] - tolerance, room[1] - tolerance, room[2] + tolerance, room[3] + tolerance))
    wall = ~inside
    half = thickness / 2
    for i, a in enumerate(rooms):
        for b in rooms[i + 1:]:
            for axis in (0, 1):  # 0: a vertical edge x = const, 1: a horizontal edge y = const
                lo_a, hi_a, lo_b, hi_b = a[axis], a[axis + 2], b[axis], b[axis + 2]
                edge = next(((u + v) / 2 for u, v in ((hi_a, lo_b), (hi_b, lo_a)) if abs(u - v) <= tolerance), None)
                lo, hi = max(a[1 - axis], b[1 - axis]), min(a[3 - axis], b[3 - axis])  # the shared span
                if edge is None or hi - lo <= tolerance:
                    continue
                box = (edge - half, lo, edge + half, hi) if axis == 0 else (lo, edge - half, hi, edge + half)
                wall |= box_mask(grid, box)
    for x, y, width in doors:
        wall &= ~box_mask(grid, (x - width / 2, y - width / 2, x + width / 2, y + width / 2))
    wall &= unknown
    if not wall.any() and not opened.any():
        return grid
    data = grid.data.copy()
    data[opened] = FREE
    data[wall] = OCCUPIED
    return Grid(data, grid.origin, grid.resolution, grid.stamp)


def doorway_opening(door, rooms, depth: float, tolerance: float = 0.15) -> tuple[float, float, float, float] | None:
    """The opening of a door (x, y, width) [m] in the floor plan's rooms (x_min, y_min, x_max, y_max): a box over its
    width, depth [m] either side of the wall it lies on; None when it lies on no room's edge."""
    x, y, width = door
    half = width / 2
    for x0, y0, x1, y1 in rooms:
        if min(abs(x - x0), abs(x - x1)) <= tolerance and y0 - tolerance <= y <= y1 + tolerance:
            return x - depth, y - half, x + depth, y + half  # a wall x = const
        if min(abs(y - y0), abs(y - y1)) <= tolerance and x0 - tolerance <= x <= x1 + tolerance:
            return x - half, y - depth, x + half, y + depth  # a wall y = const
    return None


def known_fraction(grid: Grid, bounds: tuple[float, float, float, float], inset: float = 0.2) -> float:
    """Fraction of the area bounds (x_min, y_min, x_max, y_max) [m], shrunk by inset [m], that the grid has observed
    (free or occupied); area outside the grid counts as unobserved."""
    width, height = bounds[2] - bounds[0] - 2 * inset, bounds[3] - bounds[1] - 2 * inset
    cells = box_cells(grid, bounds, inset)
    if cells is None or width <= 0 or height <= 0:
        return 0.0
    total = max(width * height / grid.resolution ** 2, 1.0)
    return float(np.count_nonzero(grid.data[cells] != UNKNOWN)) / total


def room_path_cost(grid: Grid, costs: np.ndarray, bounds: tuple[float, float, float, float],
                   inset: float = 0.35) -> float:
    """Cheapest cost [m] in costs (h, w) (path_costs) of a cell inside bounds (x_min, y_min, x_max, y_max) [m] shrunk
    by inset [m]; inf when none of its cells is on the grid or reachable."""
    cells = box_cells(grid, bounds, inset)
    return float(costs[cells].min()) if cells is not None else math.inf


def polygon_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance [m] from points (n, 2) to a convex polygon (k, 2), 0 inside; a 1-point polygon is a point."""
    points = np.asarray(points, float)
    polygon = np.asarray(polygon, float)
    if len(polygon) == 1:
        return np.linalg.norm(points - polygon[0], axis=1)
    a, b = polygon, np.roll(polygon, -1, axis=0)
    ab = b - a  # (k, 2)
    ap = points[:, None, :] - a[None]  # (n, k, 2)
    denom = np.maximum(np.einsum('kj,kj->k', ab, ab), 1e-12)
    t = np.clip(np.einsum('nkj,kj->nk', ap, ab) / denom, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    dist = np.linalg.norm(points[:, None, :] - closest, axis=2).min(axis=1)
    cross = ab[None, :, 0] * ap[..., 1] - ab[None, :, 1] * ap[..., 0]  # (n, k)
    inside = (cross >= 0).all(axis=1) | (cross <= 0).all(axis=1)
    return np.where(inside, 0.0, dist)


# --- frontiers ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frontier:
    """A cluster of free cells bordering unknown space: its size [cells], a reachable centre (x, y) [m] and the cost
    [m] of the cheapest path from the robot to its nearest cell (nan: not computed; inf: cut off on this map)."""

    center: tuple[float, float]
    size: int
    path_cost: float = math.nan


def find_frontiers(grid: Grid, min_cells: int = 8, costs: np.ndarray | None = None) -> list[Frontier]:
    """Frontier clusters (8-connected) of free cells with an unknown 4-neighbour, largest first. With `costs` (h, w)
    from `path_costs`, each frontier carries the cost of reaching its nearest cell."""
    free = grid.data == FREE
    unknown = grid.unknown()
    near_unknown = ndimage.binary_dilation(unknown, structure=ndimage.generate_binary_structure(2, 1))
    frontier = free & near_unknown
    labels, count = ndimage.label(frontier, structure=np.ones((3, 3)))
    out = []
    for k in range(1, count + 1):
        cells = np.argwhere(labels == k)
        if len(cells) < min_cells:
            continue
        mean = cells.mean(axis=0)
        nearest = cells[np.argmin(((cells - mean) ** 2).sum(axis=1))]  # a real frontier cell near the centroid
        x, y = grid.center_of(nearest)
        cost = float(costs[cells[:, 0], cells[:, 1]].min()) if costs is not None else math.nan
        out.append(Frontier((float(x), float(y)), int(len(cells)), cost))
    return sorted(out, key=lambda f: -f.size)


FRONTIER_SIZE_CAP = 100  # a frontier's size earns at most this many cells of bonus: big ones are not worth any detour
CUT_OFF_PENALTY_M = 10.0  # a frontier with no path on this map ranks as if this much further (noise may open it) [m]


def select_frontier(frontiers: list[Frontier], robot_xy, visited: list[tuple[float, float]] = (),
                    size_weight: float = 0.02, exclude_radius: float = 0.75,
                    keep: tuple[float, float] | None = None,
                    within: tuple[float, float, float, float] | None = None) -> Frontier | None:
    """The frontier with the best score = distance [m] - size_weight * min(size, FRONTIER_SIZE_CAP), skipping ones near
    visited points. The distance is the path cost when known (straight line otherwise; a frontier cut off on this map
    pays CUT_OFF_PENALTY_M). The one within exclude_radius of `keep` (the frontier being explored) wins while it
    lasts, so a growing map does not make the robot zigzag between frontiers. Frontiers not cut off inside `within`
    (x_min, y_min, x_max, y_max) [m], the room the robot stands in, come before all others: a room is searched to
    the end before the robot walks off to the nearest frontier of another and back."""
    open_ = [f for f in frontiers if all(math.dist(f.center, v) >= exclude_radius for v in visited)]
    kept = [f for f in open_ if keep is not None and math.dist(f.center, keep) < exclude_radius]
    if kept:
        return min(kept, key=lambda f: math.dist(f.center, keep))
    if within is not None:
        x0, y0, x1, y1 = within
        inside = [f for f in open_ if x0 <= f.center[0] <= x1 and y0 <= f.center[1] <= y1
                  and not math.isinf(f.path_cost)]
        open_ = inside or open_

    def distance(f: Frontier) -> float:
        straight = math.dist(f.center, robot_xy)
        if math.isnan(f.path_cost):
            return straight
        return f.path_cost if math.isfinite(f.path_cost) else straight + CUT_OFF_PENALTY_M

    return min(open_, key=lambda f: distance(f) - size_weight * min(f.size, FRONTIER_SIZE_CAP), default=None)


# --- ground-truth stand-in ------------------------------------------------------------------------------------------


def grid_from_house(house: dict, resolution: float = 0.05, margin: float = 0.5) -> Grid:
    """STAND-IN for mapping's map/occupancy: rasterise a sim/scene house JSON (walls, furniture) into a Grid."""
    from groundfm.sim.house import House, wall_footprint

    h = House.from_json(house) if isinstance(house, dict) else house
    x0, y0, x1, y1 = h.bounds
    origin = (x0 - margin, y0 - margin)
    cols = int(math.ceil((x1 - x0 + 2 * margin) / resolution))
    rows = int(math.ceil((y1 - y0 + 2 * margin) / resolution))
    data = np.full((rows, cols), UNKNOWN, np.int8)
    grid = Grid(data, origin, resolution)
    centres = _all_centres(grid).reshape(-1, 2)
    inside_house = ((centres[:, 0] >= x0) & (centres[:, 0] <= x1) & (centres[:, 1] >= y0) & (centres[:, 1] <= y1))
    data.reshape(-1)[inside_house] = FREE
    polys = [wall_footprint(w) for w in h.walls] + [o.footprint() for o in h.objects]
    half_cell = resolution / 2
    for poly in polys:
        lo, hi = poly.min(axis=0) - resolution, poly.max(axis=0) + resolution
        r0, c0 = grid.cell_of(lo)
        r1, c1 = grid.cell_of(hi)
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1 + 1, rows), min(c1 + 1, cols)
        if r0 >= r1 or c0 >= c1:
            continue
        rr, cc = np.mgrid[r0:r1, c0:c1]
        pts = grid.center_of(np.stack([rr, cc], axis=-1)).reshape(-1, 2)
        hit = polygon_distance(pts, poly) <= half_cell
        data[rr.reshape(-1)[hit], cc.reshape(-1)[hit]] = OCCUPIED
    return grid
