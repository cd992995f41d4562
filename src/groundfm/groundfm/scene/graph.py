"""The 3D scene graph: objects, the rooms they are in, and their spatial relations. ROS-free (numpy only).

Used by the QA engine (qa.py) and by navigation (through grounding.resolve). Map frame: x, y on the floor, z up [m].

Where things come from:
- **Objects** are the mapping node's 3-D instances (map/objects, mapping/objects.py), fed in with `update()`, or the
  output of any `Detector` fed in frame by frame with `integrate()`. Each object has a class, a yaw-oriented box, a
  confidence and a colour name computed here from the mean colour of the map's Gaussians (`Object3D.color`), never
  from sim metadata.
- **Semantics** (the class of an instance): in the sim they come from the sim's ground-truth instance segmentation
  (oracle, `sim/labels` + `sim/label_table`). A real robot plugs in its own detector through the `Detector` protocol
  or publishes the same topics from its own segmenter; nothing here changes.
- **Rooms** come from a `RoomLayout`: labelled room regions (name, kind, polygon). In the sim the layout is the
  generated house's floor plan, i.e. ground truth (`source='sim_ground_truth'`, said so in every answer's
  reasoning); on a robot it is a labelled floor plan file (`RoomLayout.from_json`) annotated once per site. With no
  layout, the room a map instance reports (Object3D.room) is used, and rooms are unknown when that is empty.

Updates are incremental: each `update()` call merges the newest instances into the graph. An instance id seen before
replaces its earlier estimate; an unseen id of the same class whose box overlaps an existing object (3-D IoU >=
merge_iou, or footprint centres within merge_distance_m) is the same object seen again and merges into it instead of
adding a duplicate. Objects that leave the map (evicted from its voxel budget) stay in the graph.

Relations (all on the floor plane unless noted):
- near(a, b): the footprints are at most near_distance_m apart;
- side(t, r, viewpoint): 'left' / 'right' when, seen from viewpoint (x, y), t's bearing is left / right of r's;
- on(a, b): a's bottom is within on_tolerance_m of b's top and a's footprint centre lies over b;
- between(t, a, b): t projects onto the segment a-b (inner 80 %) within 40 % of its length of the line;
- nearest(point): the object whose footprint is closest to a point, e.g. the robot.
"""

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from groundfm.colors import name_color
from groundfm.scene.config import SceneConfig
from groundfm.scene.rewards import Box3D, box_iou


@dataclass(frozen=True)
class ObjectObservation:
    """One object instance as the map or a detector reports it (map frame)."""

    source_id: int  # the source's instance id (stable across the source's updates)
    label: str  # class, e.g. 'chair'
    box: Box3D
    rgb: tuple[float, float, float] | None = None  # mean appearance colour in [0, 1]
    confidence: float = 1.0  # [0, 1]
    support: float = 1.0  # how much evidence (voxels, pixels) is behind it; weights merges
    room: str = ''  # room as the source reports it ('' = unknown)


@dataclass
class SceneNode:
    """An object of the graph: its merged box, colour, room and which source instances it came from."""

    id: int
    label: str
    box: Box3D
    rgb: tuple[float, float, float] | None
    color_name: str
    confidence: float
    room: str
    support: float
    sources: dict[int, ObjectObservation] = field(default_factory=dict)
    updates: int = 0  # how many times it was (re-)observed

    @property
    def center(self) -> np.ndarray:
        """Box centre (3,) [m]."""
        return np.asarray(self.box.center, float)

    @property
    def size(self) -> np.ndarray:
        """Full box size (3,) [m]."""
        return np.asarray(self.box.size, float)

    def describe(self) -> str:
        """'red chair #3' style name."""
        return f'{self.color_name + " " if self.color_name else ""}{self.label} #{self.id}'


@dataclass(frozen=True)
class RoomRegion:
    """A labelled room region: unique name ('bedroom_2'), kind ('bedroom') and floor polygon (n, 2) [m]."""

    name: str
    kind: str
    polygon: tuple[tuple[float, float], ...]

    def contains(self, xy: Sequence[float]) -> bool:
        """Whether the floor point (x, y) [m] lies inside (edges included)."""
        return _point_polygon_distance(np.asarray(xy, float), np.asarray(self.polygon, float)) == 0.0

    def distance(self, xy: Sequence[float]) -> float:
        """Distance [m] from (x, y) to the region, 0 inside."""
        return _point_polygon_distance(np.asarray(xy, float), np.asarray(self.polygon, float))

    @property
    def display_name(self) -> str:
        """Name for answers: 'living room', 'bedroom 2'."""
        return self.name.replace('_', ' ')


@dataclass(frozen=True)
class RoomLayout:
    """Labelled room regions and where they came from ('sim_ground_truth', 'floor_plan_file', ...)."""

    rooms: tuple[RoomRegion, ...]
    source: str

    def room_of(self, xy: Sequence[float], tolerance: float = 0.3) -> str:
        """Name of the room containing (x, y) [m]; the nearest within tolerance [m] (a box over a wall); else ''."""
        best, best_d = '', tolerance
        for room in self.rooms:
            d = room.distance(xy)
            if d == 0.0:
                return room.name
            if d <= best_d:
                best, best_d = room.name, d
        return best

    def get(self, name: str) -> RoomRegion | None:
        """The room called name, or None."""
        return next((r for r in self.rooms if r.name == name), None)

    @classmethod
    def from_json(cls, doc: dict, source: str = 'floor_plan_file') -> 'RoomLayout':
        """From {"rooms": [{"name", "kind", "bounds": [x0, y0, x1, y1]} or {"polygon": [[x, y], ...]}]}."""
        rooms = []
        for r in doc.get('rooms', []):
            if 'polygon' in r:
                poly = tuple((float(x), float(y)) for x, y in r['polygon'])
            else:
                x0, y0, x1, y1 = map(float, r['bounds'])
                poly = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
            if len(poly) < 3:
                raise ValueError(f'room {r.get("name")!r}: a polygon needs >= 3 corners')
            name = str(r['name'])
            rooms.append(RoomRegion(name, str(r.get('kind') or re.sub(r'_\d+$', '', name)), poly))
        return cls(tuple(rooms), source)

    @classmethod
    def from_house_json(cls, doc: dict) -> 'RoomLayout':
        """The sim house's room layout (sim/scene JSON): ground truth, flagged by source='sim_ground_truth'."""
        return cls.from_json({'rooms': doc.get('rooms', [])}, source='sim_ground_truth')

    @classmethod
    def load(cls, path: str) -> 'RoomLayout':
        """A labelled floor plan file (JSON, see from_json)."""
        with open(path) as f:
            return cls.from_json(json.load(f), source=f'floor_plan_file:{path}')


def _point_polygon_distance(p: np.ndarray, poly: np.ndarray) -> float:
    """Distance [m] from point (2,) to a simple polygon (n, 2); 0 inside (even-odd rule)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(np.einsum('ij,ij->i', p - a, ab) / np.maximum(np.einsum('ij,ij->i', ab, ab), 1e-18), 0.0, 1.0)
    dist = float(np.linalg.norm(a + t[:, None] * ab - p, axis=1).min())
    crosses = ((a[:, 1] > p[1]) != (b[:, 1] > p[1]))
    with np.errstate(divide='ignore', invalid='ignore'):
        x_at = a[:, 0] + (p[1] - a[:, 1]) * ab[:, 0] / ab[:, 1]
    inside = np.count_nonzero(crosses & (p[0] < x_at)) % 2 == 1
    return 0.0 if inside or dist < 1e-9 else dist


def footprint_distance(a: Box3D, b: Box3D) -> float:
    """Smallest floor-plane gap [m] between two box footprints; 0 when they touch or overlap."""
    pa, pb = a.footprint(), b.footprint()
    d = min(min(_point_polygon_distance(p, pb) for p in pa), min(_point_polygon_distance(p, pa) for p in pb))
    if d > 0 and _segments_cross(pa, pb):
        return 0.0
    return d


def _segments_cross(pa: np.ndarray, pb: np.ndarray) -> bool:
    """Whether any edge of polygon pa crosses any edge of pb."""
    def orient(p, q, r) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    for i in range(len(pa)):
        p, q = pa[i], pa[(i + 1) % len(pa)]
        for j in range(len(pb)):
            r, s = pb[j], pb[(j + 1) % len(pb)]
            if orient(p, q, r) * orient(p, q, s) < 0 and orient(r, s, p) * orient(r, s, q) < 0:
                return True
    return False


@dataclass(frozen=True)
class Frame:
    """One camera frame for a Detector: rgb (H, W, 3) uint8, planar depth (H, W) [m] (NaN = none), K (3, 3),
    T_map_cam (4, 4) (optical frame: x right, y down, z forward), optional instance ids (H, W) int32."""

    rgb: np.ndarray
    depth: np.ndarray
    k: np.ndarray
    t_map_cam: np.ndarray
    instances: np.ndarray | None = None
    stamp: float = 0.0


class Detector(Protocol):
    """Anything that turns a frame into 3-D object observations: a real robot's 2-D/3-D detector plugs in here."""

    def detect(self, frame: Frame) -> list[ObjectObservation]: ...


class OracleSegmentationDetector:
    """Sim only: lifts the sim's ground-truth instance segmentation (oracle) into per-frame boxes.

    Each instance's labelled depth pixels are lifted to the map frame; its box is oriented by the principal axis of
    the footprint (2nd-98th percentile extents) and its colour is the mean rendered colour of its pixels. A partial
    view gives a partial box; the graph merges views of one instance (same source id).
    """

    def __init__(self, label_table: dict[int, str], min_pixels: int = 40, stride: int = 2,
                 max_depth: float = 6.0) -> None:
        self.label_table = dict(label_table)
        self.min_pixels, self.stride, self.max_depth = min_pixels, stride, max_depth

    def detect(self, frame: Frame) -> list[ObjectObservation]:
        """Observations of every labelled instance with at least min_pixels valid depth pixels in the frame."""
        if frame.instances is None:
            return []
        s = self.stride
        depth, inst = frame.depth[::s, ::s], frame.instances[::s, ::s]
        rgb = frame.rgb[::s, ::s].reshape(-1, 3).astype(float) / 255.0
        vs, us = np.mgrid[0:frame.depth.shape[0]:s, 0:frame.depth.shape[1]:s]
        ok = np.isfinite(depth) & (depth > 0.05) & (depth < self.max_depth) & (inst > 0)
        out = []
        for iid in np.unique(inst[ok]):
            m = ok & (inst == iid)
            if np.count_nonzero(m) * s * s < self.min_pixels:
                continue
            z = depth[m]
            x = (us[m] - frame.k[0, 2]) / frame.k[0, 0] * z
            y = (vs[m] - frame.k[1, 2]) / frame.k[1, 1] * z
            pts = np.stack([x, y, z], 1) @ frame.t_map_cam[:3, :3].T + frame.t_map_cam[:3, 3]
            out.append(ObjectObservation(int(iid), self.label_table.get(int(iid), 'unknown'), box_from_points(pts),
                                         tuple(rgb[m.reshape(-1)].mean(0)), 1.0, float(len(pts))))
        return out


def box_from_points(points: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> Box3D:
    """Upright box of points (n, 3) [m]: yaw from the footprint's principal axis, percentile extents."""
    xy = points[:, :2]
    mu = xy.mean(0)
    yaw = 0.0
    if len(points) >= 3:
        evals, evecs = np.linalg.eigh(np.cov((xy - mu).T))
        yaw = float(np.arctan2(evecs[1, 1], evecs[0, 1]))
    yaw = (yaw + math.pi / 2) % math.pi - math.pi / 2
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s], [s, c]])
    local = (xy - mu) @ rot
    lo, hi = np.percentile(local, lo_pct, axis=0), np.percentile(local, hi_pct, axis=0)
    z0, z1 = np.percentile(points[:, 2], lo_pct), np.percentile(points[:, 2], hi_pct)
    cxy = mu + rot @ ((lo + hi) / 2)
    return Box3D((float(cxy[0]), float(cxy[1]), float((z0 + z1) / 2)),
                 tuple(float(v) for v in (*(hi - lo), z1 - z0)), yaw)


def union_box(boxes: Sequence[Box3D], weights: Sequence[float]) -> Box3D:
    """The box enclosing boxes, in the yaw of the best-supported one."""
    if len(boxes) == 1:
        return boxes[0]
    yaw = boxes[int(np.argmax(weights))].yaw
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s], [s, c]])
    local = np.concatenate([b.footprint() for b in boxes]) @ rot
    lo, hi = local.min(0), local.max(0)
    z0 = min(b.z_range()[0] for b in boxes)
    z1 = max(b.z_range()[1] for b in boxes)
    cxy = rot @ ((lo + hi) / 2)
    return Box3D((float(cxy[0]), float(cxy[1]), (z0 + z1) / 2), (float(hi[0] - lo[0]), float(hi[1] - lo[1]), z1 - z0),
                 yaw)


@dataclass
class UpdateStats:
    """What one update did: new objects, re-observations, merges of a new source into an existing object."""

    added: int = 0
    updated: int = 0
    merged: int = 0


class SceneGraph:
    """Objects (SceneNode), rooms (RoomLayout) and relations; see the module docstring."""

    def __init__(self, cfg: SceneConfig | None = None, layout: RoomLayout | None = None) -> None:
        self.cfg = cfg or SceneConfig()
        self.layout = layout
        self._nodes: dict[int, SceneNode] = {}
        self._source_to_node: dict[int, int] = {}
        self._next_id = 1
        self.version = 0  # bumps on every change

    # --- contents -------------------------------------------------------------------------------------------------
    @property
    def objects(self) -> list[SceneNode]:
        """Every object, by id."""
        return [self._nodes[k] for k in sorted(self._nodes)]

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, object_id: int) -> SceneNode | None:
        """The object with id, or None."""
        return self._nodes.get(object_id)

    def labels(self) -> list[str]:
        """Distinct classes in the graph, sorted."""
        return sorted({n.label for n in self._nodes.values()})

    def room_names(self) -> list[str]:
        """Rooms known from the layout, else from the objects' room fields."""
        if self.layout is not None:
            return [r.name for r in self.layout.rooms]
        return sorted({n.room for n in self._nodes.values() if n.room})

    @property
    def room_source(self) -> str:
        """Where room membership comes from, for answers' reasoning."""
        return self.layout.source if self.layout is not None else 'map instances (Object3D.room)'

    def set_layout(self, layout: RoomLayout | None) -> None:
        """Use a (new) room layout; every object's room is recomputed."""
        self.layout = layout
        for node in self._nodes.values():
            node.room = self._room_for(node.box, node.room)
        self.version += 1

    # --- updates --------------------------------------------------------------------------------------------------
    def update(self, observations: Iterable[ObjectObservation]) -> UpdateStats:
        """Merge the newest instances (e.g. one map/objects message) into the graph; see the module docstring."""
        stats = UpdateStats()
        touched: set[int] = set()
        for obs in observations:
            if obs.confidence < self.cfg.min_object_confidence or not obs.label:
                continue
            node_id = self._source_to_node.get(obs.source_id)
            if node_id is not None and node_id in self._nodes and self._nodes[node_id].label == obs.label:
                stats.updated += 1
            else:
                node_id = self._match(obs)
                if node_id is None:
                    node_id = self._next_id
                    self._next_id += 1
                    self._nodes[node_id] = SceneNode(node_id, obs.label, obs.box, obs.rgb, '', obs.confidence, '',
                                                     obs.support)
                    stats.added += 1
                else:
                    stats.merged += 1
                self._source_to_node[obs.source_id] = node_id
            node = self._nodes[node_id]
            node.sources[obs.source_id] = obs
            node.updates += 1
            touched.add(node_id)
        for node_id in touched:
            self._refresh(self._nodes[node_id])
        self._merge_duplicates(touched)
        if touched:
            self.version += 1
        return stats

    def integrate(self, frame: Frame, detector: Detector) -> UpdateStats:
        """Detect objects in one frame with detector and merge them in."""
        return self.update(detector.detect(frame))

    def _match(self, obs: ObjectObservation) -> int | None:
        """The existing object of obs's class that obs re-observes (best IoU, then nearest centre), or None."""
        best, best_key = None, None
        for node in self._nodes.values():
            if node.label != obs.label:
                continue
            iou = box_iou(node.box, obs.box)
            dist = float(np.linalg.norm(node.center[:2] - np.asarray(obs.box.center[:2])))
            if iou >= self.cfg.merge_iou or dist <= self.cfg.merge_distance_m:
                key = (iou, -dist)
                if best_key is None or key > best_key:
                    best, best_key = node.id, key
        return best

    def _refresh(self, node: SceneNode) -> None:
        """Recompute a node's box, colour, confidence and room from its sources."""
        obs = list(node.sources.values())
        w = np.array([max(o.support, 1e-6) for o in obs])
        node.box = union_box([o.box for o in obs], w)
        colored = [(o.rgb, wi) for o, wi in zip(obs, w, strict=True) if o.rgb is not None]
        if colored:
            cw = np.array([c[1] for c in colored])
            node.rgb = tuple(float(v) for v in np.average(np.array([c[0] for c in colored]), axis=0, weights=cw))
        node.color_name = name_color(node.rgb)
        node.confidence = float(np.average([o.confidence for o in obs], weights=w))
        node.support = float(w.sum())
        node.room = self._room_for(node.box, next((o.room for o in obs if o.room), ''))

    def _room_for(self, box: Box3D, fallback: str) -> str:
        if self.layout is None:
            return fallback
        return self.layout.room_of(box.center[:2]) or fallback

    def _merge_duplicates(self, touched: set[int]) -> None:
        """Fold objects that grew into each other (same class, overlapping) into the older one."""
        for node_id in sorted(touched):
            node = self._nodes.get(node_id)
            if node is None:
                continue
            for other in list(self._nodes.values()):
                if other.id == node.id or other.label != node.label:
                    continue
                if box_iou(node.box, other.box) >= self.cfg.merge_iou:
                    keep, drop = (node, other) if node.id < other.id else (other, node)
                    keep.sources.update(drop.sources)
                    keep.updates += drop.updates
                    for sid in drop.sources:
                        self._source_to_node[sid] = keep.id
                    del self._nodes[drop.id]
                    self._refresh(keep)
                    if drop is node:
                        break

    # --- relations ------------------------------------------------------------------------------------------------
    def gap(self, a: SceneNode, b: SceneNode) -> float:
        """Floor-plane gap between two objects' footprints [m]."""
        return footprint_distance(a.box, b.box)

    def near(self, a: SceneNode, b: SceneNode) -> bool:
        """Footprints at most near_distance_m apart."""
        return a.id != b.id and self.gap(a, b) <= self.cfg.near_distance_m

    @staticmethod
    def side(target: SceneNode, reference: SceneNode, viewpoint: Sequence[float], margin_deg: float = 2.0) -> str:
        """'left' / 'right' when target's bearing from viewpoint (x, y) [m] is left / right of reference's, else ''."""
        v = np.asarray(viewpoint[:2], float)
        r, t = reference.center[:2] - v, target.center[:2] - v
        angle = math.degrees(math.atan2(r[0] * t[1] - r[1] * t[0], float(r @ t)))
        if angle > margin_deg:
            return 'left'
        if angle < -margin_deg:
            return 'right'
        return ''

    def on(self, a: SceneNode, b: SceneNode) -> bool:
        """a rests on b: a's bottom within on_tolerance_m of b's top and a's centre over b's footprint."""
        if a.id == b.id:
            return False
        bottom, top = a.box.z_range()[0], b.box.z_range()[1]
        return abs(bottom - top) <= self.cfg.on_tolerance_m and _point_polygon_distance(
            a.center[:2], b.box.footprint()) <= 0.05

    @staticmethod
    def between(t: SceneNode, a: SceneNode, b: SceneNode) -> bool:
        """t lies between a and b on the floor plane (see the module docstring)."""
        if len({t.id, a.id, b.id}) < 3:
            return False
        pa, pb, pt = a.center[:2], b.center[:2], t.center[:2]
        ab = pb - pa
        length2 = float(ab @ ab)
        if length2 < 1e-6:
            return False
        s = float((pt - pa) @ ab) / length2
        perp = abs(ab[0] * (pt - pa)[1] - ab[1] * (pt - pa)[0]) / math.sqrt(length2)
        return bool(0.1 <= s <= 0.9 and perp <= 0.4 * math.sqrt(length2))

    def distance_to_point(self, node: SceneNode, xy: Sequence[float]) -> float:
        """Distance [m] from a floor point (x, y) to the object's footprint (0 inside)."""
        return _point_polygon_distance(np.asarray(xy[:2], float), node.box.footprint())

    def nearest(self, xy: Sequence[float], candidates: Sequence[SceneNode] | None = None,
                exclude: Iterable[int] = ()) -> SceneNode | None:
        """The object (of candidates, default all) whose footprint is closest to floor point (x, y) [m]."""
        skip = set(exclude)
        pool = [n for n in (self.objects if candidates is None else candidates) if n.id not in skip]
        if not pool:
            return None
        return min(pool, key=lambda n: (self.distance_to_point(n, xy), n.id))

    def nearest_to_object(self, node: SceneNode, candidates: Sequence[SceneNode] | None = None) -> SceneNode | None:
        """The other object whose footprint is closest to node's footprint."""
        pool = [n for n in (self.objects if candidates is None else candidates) if n.id != node.id]
        if not pool:
            return None
        return min(pool, key=lambda n: (self.gap(node, n), float(np.linalg.norm(n.center[:2] - node.center[:2]))))

    def in_room(self, room: str) -> list[SceneNode]:
        """Objects in the room called room."""
        return [n for n in self.objects if n.room == room]

    # --- serialisation --------------------------------------------------------------------------------------------
    def scene_tokens(self, max_objects: int = 200) -> str:
        """A compact text serialisation (one line per object) for language models."""
        lines = [f'rooms: {", ".join(self.room_names()) or "unknown"} (source: {self.room_source})']
        for n in self.objects[:max_objects]:
            c, s = n.center, n.size
            lines.append(f'[obj {n.id}] {n.color_name or "?"} {n.label} in {n.room or "?"} at '
                         f'({c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}) size ({s[0]:.2f}, {s[1]:.2f}, {s[2]:.2f}) '
                         f'yaw {n.box.yaw:.2f}')
        return '\n'.join(lines)

    def to_json(self) -> dict:
        """A JSON-able dict of the graph."""
        return {'room_source': self.room_source, 'rooms': self.room_names(), 'objects': [
            {'id': n.id, 'label': n.label, 'color_name': n.color_name, 'rgb': list(n.rgb) if n.rgb else None,
             'center': list(n.box.center), 'size': list(n.box.size), 'yaw': n.box.yaw, 'room': n.room,
             'confidence': n.confidence, 'sources': sorted(n.sources)} for n in self.objects]}
