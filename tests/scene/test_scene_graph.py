import math

import numpy as np
import pytest
from conftest import ROBOT_POSE, observation

from groundfm.scene.graph import (
    Frame,
    ObjectObservation,
    OracleSegmentationDetector,
    RoomLayout,
    SceneGraph,
    footprint_distance,
    name_color,
)
from groundfm.scene.rewards import Box3D


def _node(graph, label, color=None):
    return next(n for n in graph.objects if n.label == label and (color is None or n.color_name == color))


def test_rooms_colours_and_sizes_come_from_the_inputs(graph):
    assert len(graph) == 8
    fridge = _node(graph, 'fridge')
    assert fridge.room == 'kitchen' and fridge.color_name == 'white'
    assert fridge.size == pytest.approx([0.7, 0.7, 1.8])
    assert _node(graph, 'bed').room == 'bedroom'
    assert graph.room_source == 'test floor plan'


def test_colour_name_comes_from_the_rgb_not_a_label():
    assert name_color((0.75, 0.15, 0.12)) == 'red'
    assert name_color((0.3, 0.3, 0.32)) == 'grey'
    assert name_color((0.05, 0.05, 0.06)) == 'black'
    assert name_color((0.12, 0.2, 0.6)) == 'blue'
    assert name_color((0.43, 0.43, 0.42)) == 'white'  # white as the sim's lighting renders it
    assert name_color(None) == ''
    obs = ObjectObservation(1, 'chair', Box3D((0, 0, 0.4), (0.4, 0.4, 0.8)), (0.1, 0.5, 0.15))
    graph = SceneGraph()
    graph.update([obs])
    assert graph.objects[0].color_name == 'green'


def test_near_on_between_and_nearest(graph):
    sofa, table, blue_chair = _node(graph, 'sofa'), _node(graph, 'table'), _node(graph, 'chair', 'blue')
    fridge, bed, box = _node(graph, 'fridge'), _node(graph, 'bed'), _node(graph, 'box')

    assert graph.gap(table, blue_chair) == pytest.approx(3.1 - 0.225 - 2.6)
    assert graph.near(table, blue_chair) and graph.near(sofa, table)
    assert not graph.near(sofa, fridge)
    assert graph.on(box, bed) and not graph.on(bed, box)
    assert graph.between(table, sofa, bed) is True  # the table stands on the line from the sofa to the bed
    assert graph.between(fridge, sofa, bed) is False
    assert graph.nearest(ROBOT_POSE[:2]).label == 'table'
    assert graph.nearest_to_object(sofa).label == 'table'


def test_between_on_a_line():
    graph = SceneGraph()
    graph.update([observation(1, 'chair', 'red', (0, 0, 0.4), (0.4, 0.4, 0.8)),
                  observation(2, 'lamp', 'yellow', (2, 0.2, 0.7), (0.3, 0.3, 1.4)),
                  observation(3, 'plant', 'green', (4, 0, 0.4), (0.4, 0.4, 0.8)),
                  observation(4, 'box', 'red', (2, 3, 0.2), (0.4, 0.4, 0.4))])
    chair, lamp, plant, box = (graph.get(i) for i in (1, 2, 3, 4))
    assert graph.between(lamp, chair, plant)
    assert not graph.between(box, chair, plant)
    assert not graph.between(chair, lamp, plant)


@pytest.mark.parametrize(('viewer', 'expected'), [((0.0, -3.0), 'left'), ((0.0, 3.0), 'right')])
def test_left_and_right_depend_on_the_viewpoint(viewer, expected):
    graph = SceneGraph()
    graph.update([observation(1, 'table', 'brown', (0, 0, 0.4), (1, 1, 0.8)),
                  observation(2, 'chair', 'red', (-1.0, 0, 0.4), (0.4, 0.4, 0.8))])
    chair, table = graph.get(2), graph.get(1)
    # Looking north from (0, -3), west (-x) is on the left; looking south from (0, 3) it is on the right.
    assert graph.side(chair, table, viewer) == expected
    assert graph.side(table, table, viewer) == ''


def test_reobserved_object_merges_instead_of_duplicating():
    graph = SceneGraph()
    graph.update([observation(10, 'chair', 'red', (1, 1, 0.45), (0.45, 0.45, 0.9))])
    # The same chair seen again under another instance id, partially (a shifted, smaller box).
    stats = graph.update([observation(11, 'chair', 'red', (1.1, 1.0, 0.45), (0.3, 0.45, 0.9))])
    assert (stats.added, stats.merged) == (0, 1)
    assert len(graph) == 1
    chair = graph.objects[0]
    assert set(chair.sources) == {10, 11}
    # A different chair 2 m away and a table overlapping the chair are new objects.
    graph.update([observation(12, 'chair', 'blue', (3, 1, 0.45), (0.45, 0.45, 0.9)),
                  observation(13, 'table', 'brown', (1, 1.3, 0.4), (1.2, 0.8, 0.75))])
    assert len(graph) == 3
    # The map re-sends instance 10 with a better box: the object updates in place, keeping its id.
    stats = graph.update([observation(10, 'chair', 'red', (1.02, 1, 0.45), (0.5, 0.5, 0.9))])
    assert stats.updated == 1 and len(graph) == 3 and graph.get(chair.id) is not None


def test_incremental_updates_grow_the_graph_and_keep_old_objects():
    graph = SceneGraph()
    v0 = graph.version
    graph.update([observation(1, 'sofa', 'red', (1, 1, 0.4), (2, 0.9, 0.85))])
    graph.update([observation(2, 'tv', 'black', (4, 1, 0.55), (1.1, 0.3, 1.1))])  # first map message lacks 1
    assert [n.label for n in graph.objects] == ['sofa', 'tv'] and graph.version > v0


def test_room_layout_from_house_json_is_flagged_ground_truth():
    layout = RoomLayout.from_house_json({'rooms': [{'name': 'kitchen', 'kind': 'kitchen', 'bounds': [0, 0, 3, 3]},
                                                   {'name': 'bedroom_2', 'kind': 'bedroom', 'bounds': [3, 0, 6, 3]}]})
    assert layout.source == 'sim_ground_truth'
    assert layout.room_of((1, 1)) == 'kitchen' and layout.room_of((4, 1)) == 'bedroom_2'
    assert layout.room_of((3.1, 1)) == 'bedroom_2'
    assert layout.room_of((20, 20)) == ''


def test_footprint_distance_of_rotated_boxes():
    a = Box3D((0, 0, 0.5), (1, 1, 1))
    b = Box3D((2, 0, 0.5), (1, 1, 1), math.pi / 4)
    assert footprint_distance(a, b) == pytest.approx(2 - 0.5 - math.sqrt(0.5))
    assert footprint_distance(a, Box3D((0.2, 0, 0.5), (1, 1, 1), 0.3)) == 0.0


def test_oracle_detector_lifts_a_labelled_patch_into_a_box():
    # A camera at the origin looking along +x (optical z = map x); instance 5 fills a patch 2 m ahead.
    k = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    t = np.eye(4)
    t[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # optical x right, y down, z forward -> map
    depth = np.full((100, 100), np.nan, np.float32)
    inst = np.full((100, 100), -1, np.int32)
    depth[40:60, 30:70], inst[40:60, 30:70] = 2.0, 5
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[..., 0] = 200
    detector = OracleSegmentationDetector({5: 'box'}, stride=1)

    obs = detector.detect(Frame(rgb, depth, k, t, inst))

    assert len(obs) == 1 and obs[0].label == 'box' and obs[0].source_id == 5
    assert obs[0].box.center[0] == pytest.approx(2.0, abs=0.02)
    assert max(obs[0].box.size[:2]) == pytest.approx(0.78, abs=0.05)  # 40 px at 2 m / 100 px focal
    graph = SceneGraph()
    graph.integrate(Frame(rgb, depth, k, t, inst), detector)
    assert graph.objects[0].color_name == 'red'
