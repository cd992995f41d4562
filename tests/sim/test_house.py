import json
from collections import deque

import numpy as np
import pytest

from groundfm.sim.house import (
    House,
    door_zone,
    generate_house,
    point_polygon_distance,
    polygons_overlap,
    wall_footprint,
)

SEEDS = (0, 1, 7, 42)


@pytest.fixture(scope='module', params=[(s, n) for s in SEEDS for n in (3, 4, 6)], ids=lambda p: f'seed{p[0]}-n{p[1]}')
def house(request) -> House:
    return generate_house(*request.param)


def test_same_seed_same_house_and_different_seeds_differ():
    a, b, c = generate_house(5), generate_house(5), generate_house(6)

    assert a == b and a.to_json() == b.to_json()
    assert a.to_json()['objects'] != c.to_json()['objects']
    assert [r.name for r in a.rooms] != [r.name for r in c.rooms] or a.bounds != c.bounds or a.rooms != c.rooms
    assert a.wall_surface != c.wall_surface


def test_rooms_tile_the_footprint(house):
    x0, y0, x1, y1 = house.bounds

    assert len(house.rooms) >= 3
    assert len({r.name for r in house.rooms}) == len(house.rooms)
    assert sum(r.area for r in house.rooms) == pytest.approx((x1 - x0) * (y1 - y0))
    for r in house.rooms:
        assert x0 <= r.x_min < r.x_max <= x1 and y0 <= r.y_min < r.y_max <= y1


def test_every_room_reachable_through_doorways(house):
    graph = {r.name: set() for r in house.rooms}
    for d in house.doors:
        assert d.width >= 0.9 and d.axis in ('x', 'y')
        graph[d.room_a].add(d.room_b)
        graph[d.room_b].add(d.room_a)
    start = house.rooms[0].name
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in graph[queue.popleft()] - seen:
            seen.add(nxt)
            queue.append(nxt)

    assert seen == set(graph)


def test_doorways_are_open(house):
    for door in house.doors:
        for wall in house.walls:
            assert point_polygon_distance(door.center, wall_footprint(wall)) >= door.width / 2 - 1e-6


def test_furniture_variety(house):
    assert len(house.objects) >= 15
    assert len({o.label for o in house.objects}) >= 6
    assert len({o.color_name for o in house.objects}) >= 4
    assert sorted(o.id for o in house.objects) == list(range(1, len(house.objects) + 1))
    kinds = {r.name: r.kind for r in house.rooms}
    for o in house.objects:
        if o.label in ('bed', 'fridge', 'sofa', 'toilet'):
            assert kinds[o.room] == {'bed': 'bedroom', 'fridge': 'kitchen', 'sofa': 'living_room',
                                     'toilet': 'bathroom'}[o.label]
        assert all(0.0 <= c <= 1.0 for c in o.rgb)
        assert o.center[2] == pytest.approx(o.size[2] / 2)


def test_objects_do_not_overlap_each_other_walls_or_doorways(house):
    feet = [o.footprint() for o in house.objects]
    for i, a in enumerate(feet):
        room = house.room(house.objects[i].room)
        assert room.x_min <= a[:, 0].min() and a[:, 0].max() <= room.x_max
        assert room.y_min <= a[:, 1].min() and a[:, 1].max() <= room.y_max
        for b in feet[i + 1:]:
            assert not polygons_overlap(a, b)
        for wall in house.walls:
            assert not polygons_overlap(a, wall_footprint(wall))
        for door in house.doors:
            assert not polygons_overlap(a, door_zone(door))


def test_spawn_is_free(house):
    x, y, _ = house.spawn
    for o in house.objects:
        assert point_polygon_distance((x, y), o.footprint()) >= 0.6
    for wall in house.walls:
        assert point_polygon_distance((x, y), wall_footprint(wall)) >= 0.6


def test_json_round_trip(house):
    d = json.loads(json.dumps(house.to_json()))

    assert House.from_json(d) == house
    obj = d['objects'][0]
    assert {'id', 'label', 'color_name', 'rgb', 'center', 'size', 'yaw', 'room', 'bbox_min', 'bbox_max'} <= set(obj)
    assert np.all(np.array(obj['bbox_min']) < np.array(obj['bbox_max']))


def test_overlap_check_is_not_vacuous():
    square = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float)
    diamond = np.array([[0, 1.2], [-1.2, 0], [0, -1.2], [1.2, 0]], float) + [2.2, 2.2]

    assert polygons_overlap(square, square + 1.5)
    assert not polygons_overlap(square, diamond)  # bounding boxes overlap, the shapes do not
    assert polygons_overlap(square, square + [2.05, 0], gap=0.1)


@pytest.mark.parametrize(('kwargs', 'field'), [({'seed': -1}, 'seed'), ({'seed': 0, 'num_rooms': 2}, 'num_rooms')])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        generate_house(**kwargs)
