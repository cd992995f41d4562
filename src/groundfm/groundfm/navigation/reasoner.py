"""The slow system of Nav-R1's fast-in-slow design: instruction + scene graph + observation -> sub-goal. ROS-free.

Every backend writes Nav-R1's output format, `<think>…</think><action>…</action>`, and one parser (`parse_output`)
turns it into a sub-goal, so the scripted `RuleReasoner` and the transformers `VlmReasoner` are interchangeable.
Action grammar (one per output):
  goto object <id>  |  goto room <name>  |  goto door <index>  |  goto pose <x> <y>  |  explore <x> <y>  |
  explore room <name>  |  explore object <id>  |  stop
(`explore room` / `explore object`: walk into a room, or up to an object, and look around there for the target.)
Nav-R1 (arXiv 2509.10884) emits a latent goal summary h_t for its fast system; here h_t is explicit: the sub-goal
region (an object footprint, a room rectangle, a doorway or a point) that the fast system plans to.

Scene graph source: mapping's map/objects when it runs; the sim's ground-truth house JSON is a flagged stand-in
(`SceneGraph.from_house_json`). Grounding of relational phrases ("the red chair next to the table") is done here
by label, colour, room and nearest-anchor distance.
"""

import math
import re
from dataclasses import dataclass, field

import numpy as np

from groundfm.colors import rank_colors
from groundfm.navigation.instructions import Referent, SubGoal
from groundfm.navigation.planner import Frontier, polygon_distance
from groundfm.scene.grounding import plural, with_article

NEAR_M = 1.0  # 'next to' / 'near': footprints within this distance of the anchor's [m]
NEAR_LOOSE_M = 1.5  # ... or within this in a loose match (mapped boxes can be off) [m]
LOOSE_AFTER_S = 90.0  # match loosely once nothing is left to search or the step has searched this long (2 of 89
# pairs found in legged runs took longer) [s]
COLOUR_RANKS = 1  # a named colour matches an object's colour name only (every rank-2 match in the legged traces,
# 7 of 116 colour targets, was the wrong object) ...
COLOUR_RANKS_LOOSE = 2  # ... or, in a loose match, also the name its measured colour ranks second (shading)
SEARCHED_M = 0.75  # a room counts as searched once an explored point lies this close to its centre [m]
ROOM_SEARCHED_FRACTION = 0.7  # ... or once the map has observed this fraction of its floor
CANDIDATES_SEARCHED = 2  # a relational step looks around at most this many target candidates per room for their
# anchor (house 1002: two shelves looked around in other rooms left the third, in the bedroom, never approached)
ROOM_SWITCH_M = 2.0  # the room being searched for stays the choice unless another is this much cheaper to reach [m]
# Common-sense places of strongly room-bound classes, as a language model would know them (written here, not read from
# the sim). Classes found in many rooms (chair, table, lamp, plant, box, shelf, cabinet) have no prior.
ROOM_PRIORS: dict[str, tuple[str, ...]] = {
    'fridge': ('kitchen',), 'bed': ('bedroom',), 'sofa': ('living_room',), 'tv': ('living_room', 'bedroom'),
    'toilet': ('bathroom',), 'bathtub': ('bathroom',), 'desk': ('office',),
}


# --- the scene graph --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectNode:
    """An object instance in the map frame: box centre (x, y, z) and full size [m], yaw [rad], room name or ''."""

    id: int
    label: str
    color: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float = 0.0
    room: str = ''
    rgb: tuple[float, float, float] | None = None  # measured mean colour in [0, 1] (mapping), None if unknown

    def footprint(self) -> np.ndarray:
        """Corners of the box on the floor [m], shape (4, 2)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * np.asarray(self.size[:2], float) / 2
        return half @ np.array([[c, s], [-s, c]]) + np.asarray(self.center[:2], float)


@dataclass(frozen=True)
class RoomNode:
    """An axis-aligned room: name ('bedroom_2'), kind ('bedroom') and bounds (x_min, y_min, x_max, y_max) [m]."""

    name: str
    kind: str
    bounds: tuple[float, float, float, float]

    def polygon(self) -> np.ndarray:
        """Corners (4, 2) [m], counter-clockwise."""
        x0, y0, x1, y1 = self.bounds
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)

    def contains(self, xy) -> bool:
        """True if (x, y) [m] lies inside the room."""
        x0, y0, x1, y1 = self.bounds
        return x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1


@dataclass(frozen=True)
class DoorNode:
    """A doorway between two rooms: centre (x, y) [m], width [m]."""

    index: int
    rooms: tuple[str, str]
    center: tuple[float, float]
    width: float


@dataclass
class SceneGraph:
    """Objects, rooms and doorways known to the robot; `source` says where they came from."""

    objects: list[ObjectNode] = field(default_factory=list)
    rooms: list[RoomNode] = field(default_factory=list)
    doors: list[DoorNode] = field(default_factory=list)
    source: str = 'empty'

    @classmethod
    def from_house_json(cls, house: dict) -> 'SceneGraph':
        """STAND-IN: the sim's ground-truth scene (sim/scene JSON) as a scene graph."""
        objects = [ObjectNode(int(o['id']), o['label'], o['color_name'], tuple(o['center']), tuple(o['size']),
                              float(o['yaw']), o.get('room', '')) for o in house['objects']]
        rooms = [RoomNode(r['name'], r['kind'], tuple(float(v) for v in r['bounds'])) for r in house['rooms']]
        doors = [DoorNode(i, (d['room_a'], d['room_b']), tuple(d['center']), float(d['width']))
                 for i, d in enumerate(house['doors'])]
        return cls(objects, rooms, doors, 'ground_truth')

    def object(self, object_id: int) -> ObjectNode | None:
        """The object with this id, or None."""
        return next((o for o in self.objects if o.id == object_id), None)

    def room(self, name: str) -> RoomNode | None:
        """The room called name, or None."""
        return next((r for r in self.rooms if r.name == name), None)

    def room_at(self, xy) -> RoomNode | None:
        """The room containing (x, y), or None."""
        return next((r for r in self.rooms if r.contains(xy)), None)

    def room_of(self, obj: ObjectNode) -> str:
        """Room name of an object: its own field, else the room containing its centre, else ''."""
        if obj.room:
            return obj.room
        room = self.room_at(obj.center[:2])
        return room.name if room else ''


# --- targets ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A sub-goal region: kind 'object' | 'room' | 'door' | 'pose' | 'frontier' | 'search' (a room to look for
    something in) | 'near' (an object to look around, e.g. the anchor of 'the chair next to the desk'), a polygon
    (k, 2) [m], a name."""

    kind: str
    name: str  # e.g. 'object: red chair #12', 'room: kitchen'
    polygon: np.ndarray
    ref: str = ''  # the action argument: object id, room name, door index, or 'x y'

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the region (x, y) [m]."""
        c = np.asarray(self.polygon, float).mean(axis=0)
        return float(c[0]), float(c[1])

    def distance(self, xy) -> float:
        """Distance [m] from (x, y) to the region (0 inside)."""
        return float(polygon_distance(np.asarray([xy], float), self.polygon)[0])

    def reached(self, xy, tolerance: float) -> bool:
        """Success test: inside a room, else within tolerance [m] of the region."""
        return self.distance(xy) <= (0.0 if self.kind == 'room' else tolerance)


def object_target(obj: ObjectNode) -> Target:
    """The footprint of an object as a target."""
    return Target('object', f'object: {obj.color} {obj.label} #{obj.id}'.replace('  ', ' '), obj.footprint(),
                  str(obj.id))


def room_target(room: RoomNode, kind: str = 'room') -> Target:
    """A room as a target (kind 'search': a room to explore for something not seen yet)."""
    return Target(kind, f'{kind}: {room.name}', room.polygon(), room.name)


def point_target(kind: str, name: str, xy, ref: str = '') -> Target:
    """A point (door, pose, frontier) as a target."""
    return Target(kind, name, np.array([[float(xy[0]), float(xy[1])]]), ref or f'{xy[0]:.2f} {xy[1]:.2f}')


# --- grounding --------------------------------------------------------------------------------------------------------


def ground(goal: SubGoal, scene: SceneGraph, robot_xy, start_xy, loose: bool = False) -> tuple[Target | None, str]:
    """Resolve a sub-goal against the scene graph: (target or None, one-sentence explanation). A relational goal's
    target must lie within NEAR_M of an anchor, and a named colour must be the object's colour name; a loose match
    allows NEAR_LOOSE_M and a colour its measured colour ranks second (COLOUR_RANKS_LOOSE)."""
    near_m, ranks = (NEAR_LOOSE_M, COLOUR_RANKS_LOOSE) if loose else (NEAR_M, COLOUR_RANKS)
    ref = goal.target
    if ref.kind == 'start':
        return point_target('pose', 'pose: start', start_xy, 'start'), (
            f'The start pose is ({start_xy[0]:.1f}, {start_xy[1]:.1f}).')
    if ref.kind == 'room':
        return _ground_room(ref, scene, robot_xy)
    if ref.kind == 'door':
        doors = [d for d in scene.doors if not ref.room or any(_room_kind(scene, r) == ref.room for r in d.rooms)]
        if not doors:
            return None, f'I know of no {"door of the " + ref.room.replace("_", " ") if ref.room else "door"} yet.'
        door = min(doors, key=lambda d: math.dist(d.center, robot_xy))
        return point_target('door', f'door: {door.rooms[0]}/{door.rooms[1]}', door.center, str(door.index)), (
            f'The nearest matching doorway is between {door.rooms[0]} and {door.rooms[1]}, '
            f'{math.dist(door.center, robot_xy):.1f} m away.')
    candidates = _candidates(ref, scene, ranks)
    noun = f'{ref.color} {ref.label}'.strip()
    where = f' in the {ref.room.replace("_", " ")}' if ref.room else ''
    what = noun + where
    if not candidates:
        return None, f'I have not seen {with_article(what)} yet.'
    note = f'I see {len(candidates)} {plural(noun, len(candidates))}{where}'
    if goal.anchor is not None:
        anchors = _anchor_regions(goal.anchor, scene, robot_xy, ranks)
        if not anchors:
            return None, f'{note}, but no {goal.anchor.describe()} to relate it to yet.'
        scored = [(min(float(polygon_distance(o.footprint(), a).min()) for a in anchors), o) for o in candidates]
        scored.sort(key=lambda t: (t[0], math.dist(t[1].center[:2], robot_xy)))
        gap, obj = scored[0]
        if gap > near_m:
            return None, f'{note}, but none is near {with_article(goal.anchor.describe())} (closest {gap:.1f} m).'
        return object_target(obj), (f'{note}; #{obj.id}{_colour_note(obj, ref)} is {gap:.1f} m from '
                                    f'{with_article(goal.anchor.describe())}.')
    if ref.ordinal and ref.ordinal <= len(candidates):
        obj = sorted(candidates, key=lambda o: o.id)[ref.ordinal - 1]
    else:
        obj = min(candidates, key=lambda o: math.dist(o.center[:2], robot_xy))
    return object_target(obj), (f'{note}; the nearest is #{obj.id}{_colour_note(obj, ref)}, '
                                f'{math.dist(obj.center[:2], robot_xy):.1f} m away.')


def _colour_note(obj: ObjectNode, ref: Referent) -> str:
    """A clause for the reasoning when a loose match took an object whose colour name is not the one asked for."""
    if not ref.color or obj.color == ref.color:
        return ''
    return f' (its colour reads {obj.color}, with {ref.color} next: shading can shift it)'


def _candidates(ref: Referent, scene: SceneGraph, ranks: int = COLOUR_RANKS) -> list[ObjectNode]:
    """The objects an object referent may mean: its label, the best colour match among them (named exactly, else,
    with ranks > 1, ranked highest by measured colour) and its room, if named."""
    candidates = [o for o in scene.objects
                  if o.label == ref.label and (not ref.color or colour_matches(o, ref.color, ranks))]
    if ref.color and candidates:
        best = min(colour_rank(o, ref.color) for o in candidates)
        candidates = [o for o in candidates if colour_rank(o, ref.color) == best]
    if ref.room:
        candidates = [o for o in candidates if _room_kind(scene, scene.room_of(o)) == ref.room]
    return candidates


def colour_rank(obj: ObjectNode, colour: str) -> int:
    """0 when the object's colour name is `colour`, else 1 + the rank of `colour` for its measured colour (99 if
    unknown)."""
    if obj.color == colour:
        return 0
    ranking = rank_colors(obj.rgb)
    return 1 + ranking.index(colour) if colour in ranking else 99


def colour_matches(obj: ObjectNode, colour: str, ranks: int = COLOUR_RANKS) -> bool:
    """True when an object's colour name is `colour`, or (ranks > 1) its measured colour ranks `colour` among its
    top `ranks` names."""
    return colour_rank(obj, colour) <= ranks


def _room_kind(scene: SceneGraph, name: str) -> str:
    room = scene.room(name)
    return room.kind if room else re.sub(r'_\d+$', '', name)


def _ground_room(ref: Referent, scene: SceneGraph, robot_xy) -> tuple[Target | None, str]:
    rooms = sorted([r for r in scene.rooms if r.kind == ref.label], key=lambda r: r.name)
    nice = ref.label.replace('_', ' ')
    if rooms:
        if ref.ordinal and ref.ordinal <= len(rooms):
            room = rooms[ref.ordinal - 1]
        else:
            room = min(rooms, key=lambda r: float(polygon_distance(np.asarray([robot_xy], float), r.polygon())[0]))
        return room_target(room), f'The {nice} is room {room.name}.'
    # No room layout (mapping only gives objects): the centroid of objects tagged with that room kind.
    members = [o for o in scene.objects if _room_kind(scene, scene.room_of(o)) == ref.label]
    if members:
        xy = np.mean([o.center[:2] for o in members], axis=0)
        return point_target('pose', f'pose: {nice} (from {len(members)} objects)', xy), (
            f'No room layout; {len(members)} objects are in the {nice}, centred at ({xy[0]:.1f}, {xy[1]:.1f}).')
    return None, f'I do not know where the {nice} is yet.'


def object_to_search(goal: SubGoal, scene: SceneGraph, robot_xy, explored=(),
                     unseen=None) -> tuple[ObjectNode | None, tuple[float, float] | None]:
    """For a relational sub-goal that no seen pair satisfies yet: the nearest object to search beside and where to
    walk, else (None, None). Both ends of the relation count: an anchor in view (the target should be next to it) and
    a target candidate in view (its anchor should be next to it, e.g. a shelf seen from afar with the box beside it
    hidden). unseen maps object ids to where the unobserved floor beside them is (None: all seen;
    Observation.unseen_beside); without it every object counts as unseen there.

    Anchors come first, nearest first: an anchor is usually the larger, rarer object. One not approached yet (no
    explored point near its centre) gets point None: walk up to it and look around. One approached already is
    searched again from its unseen point (e.g. the far side of a desk), once: after that it counts as searched. Then
    the nearest candidate in the robot's room not approached yet, walked up to once, until CANDIDATES_SEARCHED of
    that room have been."""
    if goal.anchor is None or goal.anchor.kind != 'object' or goal.target.kind != 'object':
        return None, None
    ref = goal.anchor
    anchors = [o for o in scene.objects if o.label == ref.label and (not ref.color or colour_matches(o, ref.color))]
    anchor_ids = {o.id for o in anchors}
    candidates = [o for o in _candidates(goal.target, scene) if o.id not in anchor_ids]

    def near_explored(xy) -> bool:
        return any(math.dist(xy, v) < SEARCHED_M for v in explored)

    todo = {}
    for o in anchors:
        point = unseen.get(o.id) if unseen is not None else o.center[:2]
        if point is None:
            continue  # all around it is seen, and the target is not there
        visits = sum(math.dist(o.center[:2], v) < NEAR_M + SEARCHED_M + max(o.size[:2]) / 2 for v in explored)
        if not near_explored(o.center[:2]):
            todo[o.id] = (o, None)
        elif unseen is not None and visits < 2 and not near_explored(point):
            todo[o.id] = (o, point)
    if todo:
        return min(todo.values(), key=lambda pair: math.dist(pair[0].center[:2], robot_xy))
    # Candidates are often many (chairs): each is walked up to once, only in the room the robot stands in (looking
    # beside them is part of searching it; one elsewhere is often a detour), and only the first few of that room.
    here = scene.room_at(robot_xy)
    candidates = [o for o in candidates if here is None or scene.room_of(o) == here.name]
    if sum(near_explored(o.center[:2]) for o in candidates) >= CANDIDATES_SEARCHED:
        return None, None
    todo = [o for o in candidates if not near_explored(o.center[:2])
            and (unseen is None or unseen.get(o.id) is not None)]
    return (min(todo, key=lambda o: math.dist(o.center[:2], robot_xy)), None) if todo else (None, None)


def room_to_search(goal: SubGoal, scene: SceneGraph, robot_xy, explored=(), room_coverage=None,
                   looked_around=(), room_path_costs=None, deferred=(),
                   current: str = '', any_room: bool = True) -> tuple[RoomNode | None, str]:
    """The room to walk to next to search for the sub-goal's unseen object, with a one-sentence reason: the nearest
    room not searched yet where it is likely to be (the room the instruction names, 'the table in the kitchen', else a
    common-sense prior for its class or its anchor's class); else, once the room the robot stands in is searched, the
    nearest room not searched yet; else None (explore frontiers: in the room it stands in, that is searching it).

    A room is searched once the robot looked around in it (looked_around, by name), or once room_coverage (name ->
    observed fraction of its floor; None: unknown) reaches ROOM_SEARCHED_FRACTION; a room other than the robot's also
    once an explored point lies near its centre (it walked in to search it before). Nearest means the cheapest path
    into it (room_path_costs, name -> [m]) where the map has one, else the straight line. Rooms in deferred (names:
    the way into them failed once) come after every other room not searched yet. The room being walked to (current,
    by name) stays the nearest unless another is ROOM_SWITCH_M cheaper, so map noise does not flip the choice. With
    any_room False, only a likely room is returned."""
    here = scene.room_at(robot_xy)
    coverage = room_coverage or {}

    def searched(room: RoomNode) -> bool:
        if room.name in looked_around or coverage.get(room.name, 0.0) >= ROOM_SEARCHED_FRACTION:
            return True
        return room is not here and any(math.dist(room_target(room).center, v) < SEARCHED_M for v in explored)

    def nearest(rooms: list[RoomNode]) -> RoomNode:
        def cost(room: RoomNode) -> float:
            walk = (room_path_costs or {}).get(room.name, math.inf)
            walk = walk if math.isfinite(walk) else float(polygon_distance(np.asarray([robot_xy], float),
                                                                            room.polygon())[0])
            return walk - ROOM_SWITCH_M if room.name == current else walk
        return min([r for r in rooms if r.name not in deferred] or rooms, key=cost)

    refs = [ref for ref in (goal.target, goal.anchor) if ref is not None and ref.kind == 'object']
    for ref in refs:
        kinds = (ref.room,) if ref.room else ROOM_PRIORS.get(ref.label, ())
        likely = [r for r in scene.rooms if r.kind in kinds and not searched(r)]
        if here is not None and here in likely:
            return None, ''  # in a likely room already: search it at its frontiers
        if likely:
            room = nearest(likely)
            where = (f'the instruction puts it in the {room.kind.replace("_", " ")}' if ref.room else
                     f'{with_article(ref.label)} is usually in {with_article(room.kind.replace("_", " "))}')
            return room, f'Since {where}, search {room.name} first.' + _again(room, deferred)
    left = [r for r in scene.rooms if not searched(r) and r is not here] if any_room else []
    if refs and left and room_coverage is not None and (here is None or searched(here)):
        room = nearest(left)
        done = f'{here.name} ({coverage.get(here.name, 0.0):.0%} of its floor seen)' if here else 'this area'
        return room, (f'It could be in any room; I have searched {done}, and the nearest room not searched yet is '
                      f'{room.name}, so search it next.' + _again(room, deferred))
    return None, ''


def _again(room: RoomNode, deferred) -> str:
    return ' The way into it failed before; try again now that the other rooms are done.' if room.name in deferred \
        else ''


def _anchor_regions(ref: Referent, scene: SceneGraph, robot_xy, ranks: int = COLOUR_RANKS) -> list[np.ndarray]:
    if ref.kind == 'object':
        return [o.footprint() for o in scene.objects
                if o.label == ref.label and (not ref.color or colour_matches(o, ref.color, ranks))]
    target, _ = ground(SubGoal(ref), scene, robot_xy, robot_xy, loose=ranks > COLOUR_RANKS)
    return [target.polygon] if target is not None else []


# --- output format and parser ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAction:
    """One parsed `<action>`: verb 'goto' | 'explore' | 'stop' with kind ('object'…) and argument."""

    verb: str
    kind: str = ''
    arg: str = ''


_TRACE = re.compile(r'<think>(?P<think>.*?)</think>\s*<action>(?P<action>.*?)</action>', re.DOTALL)
_ACTION = re.compile(r'^\s*(?:(?P<goto>goto)\s+(?P<kind>object|room|door|pose)\s+(?P<arg>[\w.\- ]+?)|'
                     r'(?P<explore>explore)\s+(?:room\s+(?P<room>[\w\- ]+?)|object\s+(?P<near>\d+)|'
                     r'(?P<ex>-?\d+(?:\.\d+)?\s+-?\d+(?:\.\d+)?))|(?P<stop>stop))\s*$')


class ParseError(ValueError):
    """A backend output that does not follow the <think>…</think><action>…</action> format or the action grammar."""


def format_output(think: str, action: str) -> str:
    """Nav-R1's output format."""
    return f'<think>{think}</think><action>{action}</action>'


def parse_output(text: str) -> tuple[str, ParsedAction]:
    """(think text, action) from a backend output; raises ParseError with the reason."""
    match = _TRACE.search(text or '')
    if not match:
        raise ParseError(f'no <think>…</think><action>…</action> in {text[:120]!r}')
    action = match.group('action').strip().lower()
    m = _ACTION.match(action)
    if not m:
        raise ParseError(f'unknown action {action!r}: expected goto object|room|door|pose ARG, explore X Y, '
                         'explore room NAME, explore object ID or stop')
    if m.group('goto'):
        return match.group('think').strip(), ParsedAction('goto', m.group('kind'), m.group('arg').strip())
    if m.group('room'):
        return match.group('think').strip(), ParsedAction('explore', 'search', m.group('room').strip())
    if m.group('near'):
        return match.group('think').strip(), ParsedAction('explore', 'near', m.group('near'))
    if m.group('explore'):
        return match.group('think').strip(), ParsedAction('explore', 'frontier', ' '.join(m.group('ex').split()))
    return match.group('think').strip(), ParsedAction('stop')


def target_of(action: ParsedAction, scene: SceneGraph, start_xy) -> Target | None:
    """The region an action refers to, or None for stop; raises ParseError when the reference is unknown."""
    if action.verb == 'stop':
        return None
    if action.kind in ('room', 'search'):
        room = scene.room(action.arg.replace(' ', '_'))
        if room is None:
            raise ParseError(f'no room {action.arg!r} in the scene graph')
        return room_target(room, action.kind)
    if action.kind in ('object', 'near'):
        obj = scene.object(int(action.arg)) if action.arg.isdigit() else None
        if obj is None:
            raise ParseError(f'no object #{action.arg} in the scene graph')
        target = object_target(obj)
        return target if action.kind == 'object' else Target('near', target.name.replace('object:', 'near:'),
                                                             target.polygon, target.ref)
    if action.verb == 'explore' or action.kind == 'pose':
        try:
            x, y = (float(v) for v in action.arg.split())
        except ValueError:
            if action.arg == 'start':
                return point_target('pose', 'pose: start', start_xy, 'start')
            raise ParseError(f'bad coordinates {action.arg!r}') from None
        kind = 'frontier' if action.verb == 'explore' else 'pose'
        return point_target(kind, f'{kind}: ({x:.1f}, {y:.1f})', (x, y))
    door = scene.doors[int(action.arg)] if action.arg.isdigit() and int(action.arg) < len(scene.doors) else None
    if door is None:
        raise ParseError(f'no door #{action.arg}')
    return point_target('door', f'door: {door.rooms[0]}/{door.rooms[1]}', door.center, action.arg)


# --- observations, decisions and backends ----------------------------------------------------------------------------


@dataclass
class Observation:
    """What the slow system sees: robot pose (x, y, yaw) [m, rad], start pose, frontiers, how much of each room the
    map has seen and which rooms it looked around in, where the floor beside the step's anchors is not seen yet, the
    frontier it is heading for (x, y) [m] or None, free distance ahead [m]."""

    pose: tuple[float, float, float]
    start: tuple[float, float]
    frontiers: list[Frontier] = field(default_factory=list)
    visited_frontiers: list[tuple[float, float]] = field(default_factory=list)
    deferred_rooms: tuple[str, ...] = ()  # rooms to search whose way in failed once: after the others
    room_coverage: dict[str, float] | None = None  # room name -> observed fraction of its floor (None: unknown)
    looked_around: tuple[str, ...] = ()  # rooms the robot turned in place in
    room_path_costs: dict[str, float] | None = None  # room name -> cost of the cheapest path into it [m] (inf: none)
    # object id of an anchor of the current step -> where the unobserved floor beside it is (x, y) [m], None when seen
    unseen_beside: dict[int, tuple[float, float] | None] | None = None
    current_frontier: tuple[float, float] | None = None
    current_room: str = ''  # the room being walked to, to search it ('' when none)
    clearance_ahead: float = math.inf
    stamp: float = 0.0
    step_elapsed_s: float = 0.0  # time since the current step began [s]


@dataclass
class Decision:
    """One slow-system output: the sub-goal (None with stop), the trace text, and whether to re-plan."""

    target: Target | None
    think: str
    action: str
    step_index: int
    replan: bool = False
    exploring: bool = False
    failure: str = ''  # non-empty: the goal cannot be reached (why)
    backend: str = 'rule'

    @property
    def trace(self) -> str:
        """`<think>…</think><action>…</action>`."""
        return format_output(self.think, self.action)


class RuleReasoner:
    """Scripted chain of thought: ground the current step in the scene graph, else explore the best frontier."""

    name = 'rule'

    def generate(self, goals: list[SubGoal], step: int, scene: SceneGraph, obs: Observation) -> str:
        """The backend output text for step `step` of `goals`."""
        goal = goals[step]
        xy = obs.pose[:2]
        here = scene.room_at(xy)
        where = f'I am at ({xy[0]:.1f}, {xy[1]:.1f}){" in the " + here.name if here else ""}'
        head = f'Step {step + 1}/{len(goals)}: "{goal.text or goal.describe()}" -> {goal.describe()}. {where}.'
        target, why = ground(goal, scene, xy, obs.start)
        if target is None and obs.step_elapsed_s >= LOOSE_AFTER_S:
            target, loose_why = ground(goal, scene, xy, obs.start, loose=True)
            if target is not None:
                why = (f'{why} I have searched for {obs.step_elapsed_s:.0f} s, so I match loosely (mapped boxes can be '
                       f'off by a few decimetres, and shading shifts colours): {loose_why} Close enough.')
        if target is not None:
            dist = target.distance(xy)
            return format_output(f'{head} {why} It is {dist:.1f} m away in a straight line; go there.',
                                 f'goto {target.kind} {target.ref}')
        room_args = (goal, scene, xy, obs.visited_frontiers, obs.room_coverage, obs.looked_around,
                     obs.room_path_costs, obs.deferred_rooms, obs.current_room)
        end, point = object_to_search(goal, scene, xy, obs.visited_frontiers, obs.unseen_beside)
        is_anchor = end is not None and end.label == goal.anchor.label
        # A target candidate's surroundings come after a room where the target or its anchor is likely to be.
        room, reason = room_to_search(*room_args, any_room=False) if end is not None and not is_anchor else (None, '')
        if end is not None and (is_anchor or room is None):
            if is_anchor:
                should = f'The {goal.target.describe()} should be next to {with_article(goal.anchor.describe())}'
            else:
                anchor = with_article(goal.anchor.describe())
                should = f'{anchor[0].upper()}{anchor[1:]} should be next to the {goal.target.describe()}'
            if point is not None:
                return format_output(f'{head} {why} {should}, and the floor beside {end.label} #{end.id} is not all '
                                     f'seen yet: look from ({point[0]:.1f}, {point[1]:.1f}).',
                                     f'explore {point[0]:.2f} {point[1]:.2f}')
            return format_output(f'{head} {why} {should}: look around {end.label} #{end.id}, '
                                 f'{math.dist(end.center[:2], xy):.1f} m away.', f'explore object {end.id}')
        if room is None:
            room, reason = room_to_search(*room_args)
        if room is not None:
            return format_output(f'{head} {why} {reason} Walk into it and look around.', f'explore room {room.name}')
        from groundfm.navigation.planner import select_frontier

        frontier = select_frontier(obs.frontiers, xy, obs.visited_frontiers, keep=obs.current_frontier,
                                   within=here.bounds if here is not None else None)
        if frontier is None:
            loose, loose_why = ground(goal, scene, xy, obs.start, loose=True)
            if loose is not None:
                return format_output(f'{head} {why} Nothing is left to search. {loose_why} Close enough; go there.',
                                     f'goto {loose.kind} {loose.ref}')
            return format_output(f'{head} {why} No unexplored frontier is left, so I cannot find it; stop.', 'stop')
        inside = f' in {here.name}, the room I am searching,' if here is not None and here.contains(frontier.center) \
            else ''
        return format_output(f'{head} {why} Explore the frontier at ({frontier.center[0]:.1f}, '
                             f'{frontier.center[1]:.1f}){inside} ({frontier.size} cells) to look for it.',
                             f'explore {frontier.center[0]:.2f} {frontier.center[1]:.2f}')


def describe_scene(scene: SceneGraph, obs: Observation, limit: int = 40) -> str:
    """A compact text rendering of the scene graph and observation for a language model prompt."""
    x, y, yaw = obs.pose
    lines = [f'robot: ({x:.1f}, {y:.1f}) heading {math.degrees(yaw):.0f} deg; start ({obs.start[0]:.1f}, '
             f'{obs.start[1]:.1f}); free ahead {min(obs.clearance_ahead, 99):.1f} m; this step began '
             f'{obs.step_elapsed_s:.0f} s ago']
    seen = obs.room_coverage or {}
    lines += [f'room {r.name} ({r.kind}): x {r.bounds[0]:.1f}..{r.bounds[2]:.1f}, '
              f'y {r.bounds[1]:.1f}..{r.bounds[3]:.1f}' + (f', {seen[r.name]:.0%} seen' if r.name in seen else '')
              for r in scene.rooms]
    near = sorted(scene.objects, key=lambda o: math.dist(o.center[:2], (x, y)))[:limit]
    lines += [f'object {o.id}: {o.color} {o.label} at ({o.center[0]:.1f}, {o.center[1]:.1f}) in {scene.room_of(o)}'
              for o in near]
    lines += [f'door {d.index}: {d.rooms[0]}/{d.rooms[1]} at ({d.center[0]:.1f}, {d.center[1]:.1f})'
              for d in scene.doors]
    lines += [f'frontier: ({f.center[0]:.1f}, {f.center[1]:.1f}) size {f.size}'
              + (f', path {f.path_cost:.1f} m' if math.isfinite(f.path_cost) else '') for f in obs.frontiers[:5]]
    return '\n'.join(lines)


PROMPT = ('You control a robot dog. Think step by step inside <think></think>, then give exactly one action inside '
          '<action></action>: goto object ID | goto room NAME | goto door ID | goto pose X Y | explore X Y | stop.\n'
          'Instruction: {instruction}\nCurrent step: {step}\nScene:\n{scene}\n')


class VlmReasoner:
    """A transformers causal LM from a local path, prompted with the scene as text; parsed by parse_output.

    The observation enters as text (pose, nearby objects, rooms, doors, frontiers). TODO(#7): feed the RGB-D frame to
    an image-text checkpoint through AutoProcessor once a local VLM checkpoint is available.
    """

    name = 'vlm'

    def __init__(self, path: str, max_new_tokens: int = 96, device: str = 'cpu') -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
        self.max_new_tokens = max_new_tokens
        self.device = device

    def generate(self, goals: list[SubGoal], step: int, scene: SceneGraph, obs: Observation) -> str:
        """The model's raw output text for step `step`."""
        import torch

        prompt = PROMPT.format(instruction='; '.join(g.text or g.describe() for g in goals),
                               step=goals[step].text or goals[step].describe(), scene=describe_scene(scene, obs))
        inputs = self.tokenizer(prompt, return_tensors='pt').to(self.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0, inputs['input_ids'].shape[1]:], skip_special_tokens=True)


class SlowSystem:
    """Runs a backend on the current step; tracks steps, target moves (re-plan) and explored frontiers."""

    def __init__(self, goals: list[SubGoal], backend=None, replan_distance_m: float = 0.3,
                 fallback: RuleReasoner | None = None) -> None:
        if not goals:
            raise ValueError('SlowSystem needs at least one sub-goal')
        self.goals = goals
        self.backend = backend or RuleReasoner()
        self.fallback = fallback or RuleReasoner()
        self.replan_distance_m = replan_distance_m
        self.step = 0
        self.last: Decision | None = None
        self.visited_frontiers: list[tuple[float, float]] = []
        self.deferred_rooms: list[str] = []
        self._step_began: float | None = None  # stamp [s] of the current step's first decision

    @property
    def done(self) -> bool:
        """True once every step has been reached."""
        return self.step >= len(self.goals)

    def advance(self) -> None:
        """The current step's target was reached: move to the next step."""
        self.step += 1
        self.last = None
        self._step_began = None

    def mark_frontier_visited(self, xy) -> None:
        """A frontier that was reached (or failed) is not explored again."""
        self.visited_frontiers.append((float(xy[0]), float(xy[1])))

    def mark_failed(self, target: Target) -> None:
        """The way to an exploration target failed (stuck, no path). A room to search is tried once more after every
        other room (the place it stuck stays marked, so the next plan takes another way); anything else, or a room
        that failed twice, is not explored again."""
        if target.kind == 'search' and target.ref not in self.deferred_rooms:
            self.deferred_rooms.append(target.ref)
        else:
            self.mark_frontier_visited(target.center)

    def decide(self, scene: SceneGraph, obs: Observation) -> Decision | None:
        """One slow update: backend output -> parsed action -> target; falls back to the rule backend on bad output.
        None when every step is done."""
        obs.visited_frontiers = self.visited_frontiers
        obs.deferred_rooms = tuple(self.deferred_rooms)
        last = self.last.target if self.last is not None and self.last.exploring else None
        obs.current_frontier = last.center if last is not None and last.kind == 'frontier' else None
        obs.current_room = last.ref if last is not None and last.kind == 'search' else ''
        if self._step_began is None:
            self._step_began = obs.stamp
        obs.step_elapsed_s = obs.stamp - self._step_began
        backend_name = self.backend.name
        step = self.step  # the fast system may advance the step meanwhile (another thread): decide for this one
        if step >= len(self.goals):
            return None
        text = self.backend.generate(self.goals, step, scene, obs)
        try:
            think, action = parse_output(text)
            target = target_of(action, scene, obs.start)
        except ParseError as err:
            if self.backend is self.fallback:
                raise
            text = self.fallback.generate(self.goals, step, scene, obs)
            think, action = parse_output(text)
            think = f'[{backend_name} output unusable ({err}); rule fallback] {think}'
            target = target_of(action, scene, obs.start)
            backend_name = f'{backend_name}->rule'
        action_text = _TRACE.search(text).group('action').strip()
        failure = ''
        if action.verb == 'stop':
            failure = think.split('. ')[-1] if 'cannot' in think else 'the reasoner chose to stop'
        decision = Decision(target, think, action_text, step, exploring=action.verb == 'explore',
                            failure=failure, backend=backend_name)
        previous = self.last
        if previous is None or previous.target is None or target is None:
            decision.replan = True
        elif previous.target.kind != target.kind or previous.target.ref != target.ref:
            decision.replan = True
        else:
            moved = math.dist(previous.target.center, target.center)
            if moved > self.replan_distance_m:
                decision.replan = True
                decision.think += f' The target estimate moved {moved:.2f} m: re-plan.'
        if not decision.replan and previous is not None:
            decision.target = previous.target if target.kind != 'frontier' else target
        self.last = decision
        return decision
