"""Procedural, seedable house: rooms tiling a rectangle, doorways, walls and labelled furniture. Pure numpy.

Map frame: x east, y north, z up, metres; the house spans `bounds` = (x_min, y_min, x_max, y_max) from (0, 0).
Every object is one box (centre, full size along its own axes, yaw about z) standing on the floor.
"""

import math
from dataclasses import asdict, dataclass, field

import numpy as np

WALL_THICKNESS = 0.10  # [m]
WALL_HEIGHT = 2.4  # [m]
DOOR_WIDTH_RANGE = (0.95, 1.2)  # [m]; a Go2 is 0.7 x 0.31 m
MIN_ROOM_SIDE = 2.6  # [m]
SPAWN_CLEARANCE = 0.6  # spawn point to every object and wall face [m]
OBJECT_GAP = 0.15  # free space between objects, walls and doorway zones [m]

COLORS: dict[str, tuple[float, float, float]] = {
    'red': (0.80, 0.12, 0.10), 'green': (0.15, 0.60, 0.20), 'blue': (0.12, 0.25, 0.80),
    'yellow': (0.92, 0.80, 0.10), 'white': (0.92, 0.92, 0.90), 'black': (0.08, 0.08, 0.08),
    'brown': (0.45, 0.28, 0.12), 'grey': (0.50, 0.50, 0.52), 'orange': (0.95, 0.50, 0.08),
    'purple': (0.50, 0.18, 0.62),
}
_ANY = tuple(COLORS)
# label: (nominal full size x, y, z [m], colours it comes in); sizes are jittered by +-10 %.
CLASSES: dict[str, tuple[tuple[float, float, float], tuple[str, ...]]] = {
    'chair': ((0.45, 0.45, 0.90), _ANY),
    'table': ((1.20, 0.80, 0.75), ('brown', 'white', 'black', 'grey')),
    'sofa': ((2.00, 0.90, 0.85), ('red', 'blue', 'grey', 'green', 'brown', 'purple')),
    'bed': ((2.00, 1.50, 0.55), ('white', 'blue', 'grey', 'purple', 'yellow')),
    'cabinet': ((0.80, 0.50, 1.00), ('brown', 'white', 'grey', 'black')),
    'shelf': ((1.00, 0.35, 1.80), ('brown', 'white', 'black')),
    'plant': ((0.40, 0.40, 0.90), ('green',)),
    'tv': ((1.10, 0.30, 1.10), ('black', 'grey')),
    'fridge': ((0.70, 0.70, 1.80), ('white', 'grey', 'black')),
    'lamp': ((0.35, 0.35, 1.50), ('yellow', 'white', 'orange', 'black')),
    'box': ((0.50, 0.40, 0.40), ('brown', 'orange', 'red', 'blue', 'yellow')),
    'toilet': ((0.70, 0.45, 0.75), ('white',)),
    'bathtub': ((1.60, 0.75, 0.55), ('white',)),
    'desk': ((1.30, 0.65, 0.75), ('brown', 'white', 'black')),
}
# room kind: (classes placed first, in order; classes drawn at random to fill up)
ROOM_CONTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    'living_room': (('sofa', 'tv', 'table'), ('chair', 'plant', 'lamp', 'shelf', 'box')),
    'kitchen': (('fridge', 'table', 'chair'), ('chair', 'cabinet', 'plant', 'box')),
    'bedroom': (('bed', 'cabinet'), ('lamp', 'plant', 'shelf', 'box', 'chair')),
    'bathroom': (('toilet', 'bathtub'), ('cabinet', 'plant')),
    'office': (('desk', 'chair', 'shelf'), ('plant', 'lamp', 'box', 'cabinet')),
    'hallway': (('shelf',), ('plant', 'box', 'lamp')),
}
# Kinds handed out by room area, largest first; the middle three are shuffled per seed.
_FLOOR_COLORS = {'wood': (0.55, 0.36, 0.2), 'oak': (0.72, 0.56, 0.36), 'carpet': (0.45, 0.45, 0.52),
                 'tile': (0.82, 0.82, 0.8)}
_KINDS_BY_AREA = ('living_room', 'kitchen', 'bedroom', 'office', 'bathroom', 'bedroom', 'hallway', 'office')


@dataclass(frozen=True)
class Room:
    """An axis-aligned room [m, map frame]; name is unique per house ('bedroom', 'bedroom_2')."""

    name: str
    kind: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def area(self) -> float:
        """Floor area [m^2]."""
        return (self.x_max - self.x_min) * (self.y_max - self.y_min)


@dataclass(frozen=True)
class Door:
    """A doorway (a gap in a wall) between two rooms; axis is the wall direction, 'x' or 'y'."""

    room_a: str
    room_b: str
    center: tuple[float, float]
    width: float
    axis: str


@dataclass(frozen=True)
class Wall:
    """A wall segment on the floor [m]; doorways are the gaps between segments."""

    start: tuple[float, float]
    end: tuple[float, float]
    thickness: float
    height: float


@dataclass(frozen=True)
class SceneObject:
    """A labelled piece of furniture: a box of full size (x, y, z) [m] centred at center, turned by yaw [rad]."""

    id: int
    label: str
    color_name: str
    rgb: tuple[float, float, float]
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float
    room: str

    def footprint(self) -> np.ndarray:
        """Corners of the rotated box on the floor [m], shape (4, 2), counter-clockwise."""
        return _rect_corners(self.center[:2], self.size[:2], self.yaw)

    def bbox(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Axis-aligned bounds (min, max) of the rotated box [m]."""
        corners = self.footprint()
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        z0, z1 = self.center[2] - self.size[2] / 2, self.center[2] + self.size[2] / 2
        return (float(lo[0]), float(lo[1]), z0), (float(hi[0]), float(hi[1]), z1)


@dataclass(frozen=True)
class Surface:
    """A per-seed surface look, rendered as a MuJoCo builtin texture with random speckle."""

    pattern: str  # 'checker' | 'gradient' | 'flat'
    rgb1: tuple[float, float, float]
    rgb2: tuple[float, float, float]
    mark_rgb: tuple[float, float, float]
    random: float  # fraction of speckled texels
    tile_m: float  # texture repeat length [m]


@dataclass(frozen=True)
class House:
    """A generated house: rooms, doorways, walls, furniture, a free robot spawn (x, y, yaw) and bounds [m]."""

    seed: int
    rooms: tuple[Room, ...]
    doors: tuple[Door, ...]
    walls: tuple[Wall, ...]
    objects: tuple[SceneObject, ...]
    spawn: tuple[float, float, float]
    bounds: tuple[float, float, float, float]
    wall_surface: Surface = field(default_factory=lambda: _DEFAULT_SURFACE)
    floor_surfaces: tuple[Surface, ...] = ()  # one per room, in rooms order

    def room(self, name: str) -> Room:
        """The room called name."""
        for room in self.rooms:
            if room.name == name:
                return room
        raise KeyError(f'no room {name!r}')

    def to_json(self) -> dict:
        """A plain JSON-able dict of the house (ground truth for evaluation)."""
        objects = []
        for obj in self.objects:
            lo, hi = obj.bbox()
            objects.append({**asdict(obj), 'bbox_min': list(lo), 'bbox_max': list(hi)})
        return {
            'seed': self.seed,
            'bounds': list(self.bounds),
            'rooms': [{'name': r.name, 'kind': r.kind, 'bounds': [r.x_min, r.y_min, r.x_max, r.y_max]}
                      for r in self.rooms],
            'doors': [asdict(d) for d in self.doors],
            'walls': [asdict(w) for w in self.walls],
            'objects': objects,
            'spawn': {'x': self.spawn[0], 'y': self.spawn[1], 'yaw': self.spawn[2]},
            'wall_surface': asdict(self.wall_surface),
            'floor_surfaces': [asdict(s) for s in self.floor_surfaces],
        }

    @classmethod
    def from_json(cls, d: dict) -> 'House':
        """Rebuild a House from to_json() output."""
        tup = _tuples

        def surface(s: dict) -> Surface:
            return Surface(**{k: tup(v) for k, v in s.items()})

        return cls(
            seed=int(d['seed']),
            rooms=tuple(Room(r['name'], r['kind'], *map(float, r['bounds'])) for r in d['rooms']),
            doors=tuple(Door(**{k: tup(v) for k, v in x.items()}) for x in d['doors']),
            walls=tuple(Wall(**{k: tup(v) for k, v in x.items()}) for x in d['walls']),
            objects=tuple(SceneObject(**{k: tup(v) for k, v in x.items() if k not in ('bbox_min', 'bbox_max')})
                          for x in d['objects']),
            spawn=(float(d['spawn']['x']), float(d['spawn']['y']), float(d['spawn']['yaw'])),
            bounds=tup(d['bounds']),
            wall_surface=surface(d['wall_surface']),
            floor_surfaces=tuple(surface(s) for s in d['floor_surfaces']),
        )


_DEFAULT_SURFACE = Surface('flat', (0.8, 0.8, 0.8), (0.7, 0.7, 0.7), (0.5, 0.5, 0.5), 0.2, 1.0)


def _tuples(v):
    return tuple(v) if isinstance(v, list) else v


def _rect_corners(center, size, yaw: float) -> np.ndarray:
    """Corners of a rotated rectangle, shape (4, 2)."""
    c, s = math.cos(yaw), math.sin(yaw)
    half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * np.asarray(size, float) / 2
    return half @ np.array([[c, s], [-s, c]]) + np.asarray(center, float)


def polygons_overlap(a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> bool:
    """True if convex polygons a, b (shape (n, 2)) come closer than gap [m] (separating axis test)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        pa, pb = a @ normals.T, b @ normals.T  # (n, k) projections
        if np.any((pa.max(axis=0) + gap <= pb.min(axis=0)) | (pb.max(axis=0) + gap <= pa.min(axis=0))):
            return False
    return True


def point_polygon_distance(p, poly: np.ndarray) -> float:
    """Distance [m] from point p to a convex polygon (shape (n, 2)); 0 inside."""
    p = np.asarray(p, float)
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum('ij,ij->i', p - a, ab) / np.einsum('ij,ij->i', ab, ab), 0.0, 1.0)
    dist = np.linalg.norm(a + t[:, None] * ab - p, axis=1).min()
    cross = ab[:, 0] * (p[1] - a[:, 1]) - ab[:, 1] * (p[0] - a[:, 0])
    return 0.0 if np.all(cross >= 0) or np.all(cross <= 0) else float(dist)


def wall_footprint(wall: Wall) -> np.ndarray:
    """Corners of a wall segment's footprint [m], shape (4, 2)."""
    (x0, y0), (x1, y1) = wall.start, wall.end
    length = math.hypot(x1 - x0, y1 - y0)
    return _rect_corners(((x0 + x1) / 2, (y0 + y1) / 2), (length, wall.thickness), math.atan2(y1 - y0, x1 - x0))


def door_zone(door: Door, depth: float = 0.7) -> np.ndarray:
    """Keep-out rectangle through a doorway, depth [m] into each room, shape (4, 2)."""
    size = (door.width + 0.2, 2 * depth) if door.axis == 'x' else (2 * depth, door.width + 0.2)
    return _rect_corners(door.center, size, 0.0)


def _split(rng: np.random.Generator, bounds, n: int) -> list[tuple[float, float, float, float]]:
    """Split a rectangle into n rectangles by cutting the largest one across its longer side."""
    rects = [bounds]
    while len(rects) < n:
        rects.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
        x0, y0, x1, y1 = rects.pop()
        vertical = (x1 - x0) >= (y1 - y0)  # cut with a vertical line (constant x)
        lo, hi = (x0, x1) if vertical else (y0, y1)
        frac = rng.uniform(0.38, 0.62)
        cut = round(lo + frac * (hi - lo), 2)
        cut = min(max(cut, lo + MIN_ROOM_SIDE), hi - MIN_ROOM_SIDE)
        rects += [(x0, y0, cut, y1), (cut, y0, x1, y1)] if vertical else [(x0, y0, x1, cut), (x0, cut, x1, y1)]
    return rects


def _shared_edge(a: Room, b: Room) -> tuple[str, float, float, float] | None:
    """(wall axis, line coordinate, overlap start, overlap end) of the wall between two rooms, if any."""
    for axis, (a_lo, a_hi, b_lo, b_hi), (a_s0, a_s1, b_s0, b_s1) in (
            ('y', (a.x_min, a.x_max, b.x_min, b.x_max), (a.y_min, a.y_max, b.y_min, b.y_max)),
            ('x', (a.y_min, a.y_max, b.y_min, b.y_max), (a.x_min, a.x_max, b.x_min, b.x_max))):
        for line in {a_lo, a_hi} & {b_lo, b_hi}:
            if (line == a_hi and line == b_lo) or (line == a_lo and line == b_hi):
                start, end = max(a_s0, b_s0), min(a_s1, b_s1)
                if end > start:
                    return axis, line, start, end
    return None


def _doors(rng: np.random.Generator, rooms: list[Room]) -> list[Door] | None:
    """Doorways on a random spanning tree of the room adjacency graph plus one loop; None if it is disconnected."""
    edges = []
    for i, a in enumerate(rooms):
        for b in rooms[i + 1:]:
            shared = _shared_edge(a, b)
            if shared and shared[3] - shared[2] >= DOOR_WIDTH_RANGE[1] + 0.6:
                edges.append((a, b, shared))
    order = rng.permutation(len(edges))
    parent = {r.name: r.name for r in rooms}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    chosen, spare = [], []
    for k in order:
        a, b, shared = edges[k]
        ra, rb = root(a.name), root(b.name)
        if ra != rb:
            parent[ra] = rb
            chosen.append(edges[k])
        else:
            spare.append(edges[k])
    if len({root(r.name) for r in rooms}) != 1:
        return None  # some wall too short for a doorway: the caller draws another layout
    chosen += spare[:1]
    doors = []
    for a, b, (axis, line, start, end) in chosen:
        width = round(float(rng.uniform(*DOOR_WIDTH_RANGE)), 2)
        margin = width / 2 + 0.3
        along = round(float(rng.uniform(start + margin, end - margin)), 2)
        center = (along, line) if axis == 'x' else (line, along)
        doors.append(Door(a.name, b.name, center, width, axis))
    return doors


def _walls(rooms: list[Room], doors: list[Door]) -> list[Wall]:
    """Wall segments on every room edge (shared edges once), with gaps at the doorways."""
    lines: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for r in rooms:
        for axis, line, lo, hi in (('x', r.y_min, r.x_min, r.x_max), ('x', r.y_max, r.x_min, r.x_max),
                                   ('y', r.x_min, r.y_min, r.y_max), ('y', r.x_max, r.y_min, r.y_max)):
            lines.setdefault((axis, line), []).append((lo, hi))
    half = WALL_THICKNESS / 2
    walls = []
    for (axis, line), spans in sorted(lines.items()):
        merged: list[list[float]] = []
        for lo, hi in sorted(spans):
            if merged and lo <= merged[-1][1] + 1e-9:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        gaps = sorted((d.center[0] if axis == 'x' else d.center[1], d.width) for d in doors
                      if d.axis == axis and abs((d.center[1] if axis == 'x' else d.center[0]) - line) < 1e-6)
        for lo, hi in merged:
            pieces, cursor, start_pad = [], lo, half  # pad outer ends by half a thickness to close corners
            for mid, width in gaps:
                if lo < mid < hi:
                    pieces.append((cursor - start_pad, mid - width / 2))
                    cursor, start_pad = mid + width / 2, 0.0
            pieces.append((cursor - start_pad, hi + half))
            for a, b in pieces:
                start, end = ((a, line), (b, line)) if axis == 'x' else ((line, a), (line, b))
                walls.append(Wall(start, end, WALL_THICKNESS, WALL_HEIGHT))
    return walls


def _surface(rng: np.random.Generator, base: tuple[float, float, float], tile_m: float) -> Surface:
    """A random builtin-texture surface around a base colour: same hue, darker second colour and speckle."""
    base_arr = np.clip(np.asarray(base) * rng.uniform(0.95, 1.05, 3), 0, 1)
    shade = lambda lo, hi: tuple(float(v) for v in np.clip(base_arr * rng.uniform(lo, hi), 0, 1))  # noqa: E731
    pattern = str(rng.choice(['checker', 'gradient', 'flat']))
    speckle = round(float(rng.uniform(0.15, 0.4)), 2)
    return Surface(pattern, shade(1.0, 1.0), shade(0.7, 0.9), shade(0.45, 0.65), speckle, tile_m)


def _place_objects(rng: np.random.Generator, rooms: list[Room], doors: list[Door], walls: list[Wall],
                   keep_out: list[np.ndarray], min_total: int) -> list[SceneObject]:
    """Furniture per room: the room's must-have classes first, then random fill until the house is furnished."""
    wall_polys = [wall_footprint(w) for w in walls]
    blocked = wall_polys + [door_zone(d) for d in doors] + keep_out
    placed: list[SceneObject] = []
    per_room = max(3, math.ceil(min_total / len(rooms)) + 1)

    def try_place(room: Room, label: str) -> bool:
        nominal, colors = CLASSES[label]
        size = tuple(round(float(v * rng.uniform(0.9, 1.1)), 3) for v in nominal)
        for _ in range(60):
            yaw = float(rng.choice([0.0, math.pi / 2, math.pi, -math.pi / 2]) + rng.normal(0.0, 0.08))
            reach = np.abs(_rect_corners((0, 0), size[:2], yaw)).max(axis=0) + WALL_THICKNESS / 2 + OBJECT_GAP
            if np.any(2 * reach >= (room.x_max - room.x_min, room.y_max - room.y_min)):
                return False
            xy = (float(rng.uniform(room.x_min + reach[0], room.x_max - reach[0])),
                  float(rng.uniform(room.y_min + reach[1], room.y_max - reach[1])))
            poly = _rect_corners(xy, size[:2], yaw)
            if any(polygons_overlap(poly, other, OBJECT_GAP) for other in blocked):
                continue
            color = str(rng.choice(colors))
            obj = SceneObject(len(placed) + 1, label, color, COLORS[color], (xy[0], xy[1], size[2] / 2), size,
                              yaw, room.name)
            placed.append(obj)
            blocked.append(poly)
            return True
        return False

    for room in rooms:
        must, extra = ROOM_CONTENTS[room.kind]
        target = max(per_room, int(room.area / 6))
        for label in must:
            try_place(room, label)
        for label in rng.choice(extra, size=3 * target):
            if sum(o.room == room.name for o in placed) >= target:
                break
            try_place(room, str(label))
    for label in rng.choice(['plant', 'box', 'lamp', 'chair'], size=40):  # top up small things if short
        if len(placed) >= min_total:
            break
        try_place(rooms[int(rng.integers(len(rooms)))], str(label))
    return placed


def generate_house(seed: int, num_rooms: int = 4) -> House:
    """A house for seed: >= num_rooms rooms on a ~10 x 8 m footprint, doorways, walls and >= 15 objects."""
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    if not 3 <= num_rooms <= 8:
        raise ValueError(f'num_rooms must be in [3, 8], got {num_rooms}')
    rng = np.random.default_rng([seed, num_rooms])
    scale = math.sqrt(max(1.0, num_rooms / 4))
    width, depth = round(float(rng.uniform(9.0, 11.5) * scale), 2), round(float(rng.uniform(7.0, 8.5) * scale), 2)
    bounds = (0.0, 0.0, width, depth)
    doors = None
    while doors is None:
        rects = sorted(_split(rng, bounds, num_rooms), key=lambda r: -(r[2] - r[0]) * (r[3] - r[1]))
        kinds = list(_KINDS_BY_AREA[:num_rooms])
        kinds[1:4] = rng.permutation(kinds[1:4]).tolist()
        rooms, seen = [], {}
        for kind, rect in zip(kinds, rects, strict=True):
            seen[kind] = seen.get(kind, 0) + 1
            rooms.append(Room(kind if seen[kind] == 1 else f'{kind}_{seen[kind]}', kind, *rect))
        doors = _doors(rng, rooms)
    walls = _walls(rooms, doors)

    # Spawn first, near the middle of the largest room, then furnish around a robot-sized keep-out disc.
    living = rooms[0]
    sx = float(rng.uniform(living.x_min + 1.2, living.x_max - 1.2))
    sy = float(rng.uniform(living.y_min + 1.2, living.y_max - 1.2))
    spawn = (round(sx, 3), round(sy, 3), round(float(rng.uniform(-math.pi, math.pi)), 3))
    keep_out = [_rect_corners((sx, sy), (2 * (SPAWN_CLEARANCE + 0.3),) * 2, 0.0)]
    objects = _place_objects(rng, rooms, doors, walls, keep_out, min_total=15)

    wall_base = tuple(float(v) for v in rng.uniform(0.6, 0.95, 3))
    floors = []
    for room in rooms:
        kind = 'tile' if room.kind in ('bathroom', 'kitchen') else str(rng.choice(['wood', 'oak', 'carpet']))
        floors.append(_surface(rng, _FLOOR_COLORS[kind], round(float(rng.uniform(0.6, 1.2)), 2)))
    return House(seed, tuple(rooms), tuple(doors), tuple(walls), tuple(objects), spawn, bounds,
                 _surface(rng, wall_base, round(float(rng.uniform(0.8, 1.6)), 2)), tuple(floors))


FLAT_HALF_SIZE = 50.0  # half side of the flat world's square floor [m]


def flat_house() -> House:
    """An obstacle-free 100 x 100 m floor and no walls, the robot at the origin looking along +x (benchmarks)."""
    half = FLAT_HALF_SIZE
    floor = Surface('checker', (0.55, 0.55, 0.55), (0.45, 0.45, 0.45), (0.3, 0.3, 0.3), 0.2, 1.0)
    return House(0, (Room('field', 'hallway', -half, -half, half, half),), (), (), (), (0.0, 0.0, 0.0),
                 (-half, -half, half, half), _DEFAULT_SURFACE, (floor,))
