"""Shared scene fixtures: one MiniLM grounder per test session and a hand-built scene graph with known answers."""

import pytest

from groundfm.scene.graph import ObjectObservation, RoomLayout, SceneGraph
from groundfm.scene.rewards import Box3D
from groundfm.sim.house import COLORS

# Four rooms on a 9 x 9 m floor; the robot stands in the living room looking south (-y).
ROOMS = {'rooms': [{'name': 'living_room', 'bounds': [0, 0, 5, 5]}, {'name': 'kitchen', 'bounds': [5, 0, 9, 5]},
                   {'name': 'bedroom', 'bounds': [0, 5, 5, 9]}, {'name': 'bedroom_2', 'bounds': [5, 5, 9, 9]}]}
ROBOT_POSE = (2.0, 4.0, -1.57)


def observation(source_id: int, label: str, color: str, center, size, yaw: float = 0.0) -> ObjectObservation:
    """An observation with the palette colour as its map colour."""
    return ObjectObservation(source_id, label, Box3D(tuple(center), tuple(size), yaw), COLORS[color])


def build_graph() -> SceneGraph:
    """A hand-placed scene whose answers are known (see test_qa.py)."""
    graph = SceneGraph(layout=RoomLayout.from_json(ROOMS, source='test floor plan'))
    graph.update([
        observation(1, 'sofa', 'red', (2, 1, 0.42), (2, 0.9, 0.85)),
        observation(2, 'table', 'brown', (2, 2.5, 0.37), (1.2, 0.8, 0.75)),
        observation(3, 'chair', 'blue', (3.1, 2.5, 0.45), (0.45, 0.45, 0.9)),
        observation(4, 'chair', 'red', (7, 2, 0.45), (0.45, 0.45, 0.9)),
        observation(5, 'fridge', 'white', (8.5, 4, 0.9), (0.7, 0.7, 1.8)),
        observation(6, 'lamp', 'yellow', (0.5, 4.5, 0.75), (0.35, 0.35, 1.5)),
        observation(7, 'bed', 'blue', (2, 7, 0.275), (2, 1.5, 0.55)),
        observation(8, 'box', 'orange', (2, 7, 0.75), (0.5, 0.4, 0.4)),
    ])
    return graph


@pytest.fixture(scope='session')
def grounder():
    """The MiniLM grounder, loaded once per session (~10 s)."""
    from groundfm.scene.grounding import Grounder

    g = Grounder()
    g.warm_up()
    return g


@pytest.fixture
def graph() -> SceneGraph:
    """A fresh copy of the hand-built scene."""
    return build_graph()
