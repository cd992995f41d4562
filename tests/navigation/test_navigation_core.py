"""Unit tests of the ROS-free navigation core: instructions, planner, fast system, slow system, navigator."""

import math

import numpy as np
import pytest

from groundfm.navigation import local
from groundfm.navigation.config import NavigationConfig
from groundfm.navigation.instructions import InstructionError, Referent, parse_instruction
from groundfm.navigation.navigator import CRAMPED_YAW_RATE, SCAN_STALL_S, STOP_SHORT_MARGIN_M, Navigator
from groundfm.navigation.planner import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    Frontier,
    Grid,
    _reference_dijkstra,
    astar,
    build_costmap,
    find_frontiers,
    grid_from_house,
    path_costs,
    plan,
    polygon_distance,
    select_frontier,
)
from groundfm.navigation.reasoner import (
    LOOSE_AFTER_S,
    DoorNode,
    ObjectNode,
    Observation,
    ParseError,
    RoomNode,
    SceneGraph,
    SlowSystem,
    VlmReasoner,
    ground,
    parse_output,
)

# --- instructions ---------------------------------------------------------------------------------------------------


def test_room_object_and_relational_instructions():
    room, = parse_instruction('Go to the kitchen')
    rel, = parse_instruction('walk to the red chair next to the table')
    qualified, = parse_instruction('find the blue couch in the living room')

    assert room.target == Referent('room', 'kitchen')
    assert rel.target == Referent('object', 'chair', 'red') and rel.relation == 'near'
    assert rel.anchor == Referent('object', 'table')
    assert qualified.target == Referent('object', 'sofa', 'blue', room='living_room') and qualified.anchor is None


def test_multi_step_instruction_keeps_order():
    steps = parse_instruction('go to the sofa, then come back to the door. Then return')

    assert [s.target.kind for s in steps] == ['object', 'door', 'start']
    assert steps[0].target.label == 'sofa'


@pytest.mark.parametrize('text, reason', [('', 'empty'), ('   ', 'empty'), ('go to the moon', "'moon'"),
                                          ('go to the kitchen then fly', "'fly'")])
def test_unparseable_instructions_are_rejected_with_a_reason(text, reason):
    with pytest.raises(InstructionError, match=reason):
        parse_instruction(text)


# --- planner --------------------------------------------------------------------------------------------------------


def _corridor_grid() -> Grid:
    """5 m x 3 m free box with a wall at x = 2.5 m leaving a 1 m gap at the top (0.1 m cells)."""
    data = np.zeros((30, 50), np.int8)
    data[0, :] = data[-1, :] = data[:, 0] = data[:, -1] = OCCUPIED
    data[:20, 25] = OCCUPIED  # wall from y = 0 to 2 m, gap from 2 to 2.9 m
    return Grid(data, (0.0, 0.0), 0.1)


def test_astar_detours_through_the_gap_and_matches_the_reference():
    grid = _corridor_grid()
    costmap = build_costmap(grid, robot_radius=0.2, clearance_weight=0.0)
    goal = np.zeros(grid.shape, bool)
    goal[5, 40] = True

    result = astar(costmap, (1.05, 0.55), goal)

    assert result.path is not None
    assert result.path[:, 1].max() > 2.0  # went through the gap above the wall
    assert result.cost == pytest.approx(_reference_dijkstra(costmap, (1.05, 0.55), goal), rel=1e-9)


def test_inflation_closes_a_gap_narrower_than_the_robot():
    grid = _corridor_grid()
    goal = np.zeros(grid.shape, bool)
    goal[10, 40] = True  # 1 m from every wall; the gap is 0.9 m wide

    narrow = plan(grid, (1.05, 1.05), goal, robot_radius=0.6)
    ok = plan(grid, (1.05, 1.05), goal, robot_radius=0.3)

    assert narrow.path is None and 'no' in narrow.reason
    assert ok.path is not None


def test_unknown_cells_block_only_when_configured():
    grid = _corridor_grid()
    grid.data[20:29, 25] = UNKNOWN  # the gap is unobserved
    goal = np.zeros(grid.shape, bool)
    goal[5, 40] = True

    assert plan(grid, (1.05, 0.55), goal, 0.2, unknown_is_free=True).path is not None
    blocked = plan(grid, (1.05, 0.55), goal, 0.2, unknown_is_free=False)
    assert blocked.path is None and 'unknown' in blocked.reason


def test_frontiers_lie_between_free_and_unknown_space():
    data = np.full((40, 40), UNKNOWN, np.int8)
    data[5:35, 5:20] = FREE  # an observed 3 x 1.5 m patch in unknown space
    data[5:35, 20] = OCCUPIED  # its east side is a wall, so no frontier there
    grid = Grid(data, (0.0, 0.0), 0.1)

    frontiers = find_frontiers(grid, min_cells=5)
    chosen = select_frontier(frontiers, (1.0, 2.0))
    skipped = select_frontier(frontiers, (1.0, 2.0), visited=[chosen.center], exclude_radius=10.0)

    assert len(frontiers) == 1 and frontiers[0].size == 30 + 2 * 14  # west column + north and south rows
    cx, cy = frontiers[0].center
    assert grid.data[grid.cell_of((cx, cy))] == FREE and min(abs(cx - 0.55), abs(cy - 0.55), abs(cy - 3.45)) < 1e-6
    assert chosen == frontiers[0] and skipped is None


def test_ground_truth_grid_marks_walls_and_furniture():
    from groundfm.sim.house import generate_house

    house = generate_house(3)
    grid = grid_from_house(house.to_json(), 0.05)
    obj = house.objects[0]

    assert grid.data[grid.cell_of(obj.center[:2])] == OCCUPIED
    assert grid.data[grid.cell_of(house.spawn[:2])] == FREE


# --- fast system ----------------------------------------------------------------------------------------------------


def test_velocity_limiter_enforces_speed_and_acceleration():
    limiter = local.VelocityLimiter(max_speed=0.5, max_yaw_rate=1.0, max_accel=1.0, max_yaw_accel=2.0)

    first = limiter(5.0, -5.0, dt=0.05)
    for _ in range(40):
        last = limiter(5.0, -5.0, dt=0.05)

    assert first == pytest.approx((0.05, -0.1))
    assert last == pytest.approx((0.5, -1.0))


def test_pure_pursuit_turns_in_place_toward_a_path_behind():
    path = np.array([[0.0, 0.0], [-1.0, 0.0], [-2.0, 0.0]])

    v, w = local.pure_pursuit((0.0, 0.0, 0.0), path, 0.5, 0.5, 1.0)

    assert v == 0.0 and abs(w) == pytest.approx(1.0)


def test_depth_guard_stops_before_a_wall_and_allows_a_clear_path():
    guard = local.DepthGuard(stop_clearance=0.25, slow_clearance=0.8)
    wall = np.stack([np.full(20, 0.55), np.linspace(-0.5, 0.5, 20)], axis=1)  # 0.2 m in front of the nose

    guard.update(wall, 0.0)
    v_blocked, _, note = guard.filter((0.0, 0.0, 0.0), 0.5, 0.0)
    guard.update(wall + (3.0, 0.0), 0.0)
    v_free, _, _ = guard.filter((0.0, 0.0, 0.0), 0.5, 0.0)

    assert v_blocked == 0.0 and 'blocked' in note
    assert v_free == 0.5


def test_depth_to_points_recovers_a_wall_in_front():
    k = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])
    depth = np.full((48, 64), 2.0, np.float32)
    world_from_camera = np.eye(4)
    world_from_camera[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]  # optical z forward -> world x forward
    world_from_camera[2, 3] = 0.4

    pts = local.depth_to_points(depth, k, world_from_camera, stride=4)
    obstacles = local.obstacle_points(pts)

    in_band = (pts[:, 2] >= 0.06) & (pts[:, 2] <= 0.75)
    assert np.allclose(pts[:, 0], 2.0)
    assert 0 < len(obstacles) == in_band.sum() < len(pts)
    assert pts[:, 2].max() > 0.75 and pts[:, 2].min() < 0.06  # the image spans the band on both sides


def test_discrete_actions_follow_nav_r1_steps():
    path = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # straight north; the robot faces east

    chunk = local.discrete_chunk((0.0, 0.0, 0.0), path, n=5)
    pose = (0.0, 0.0, 0.0)
    for action in chunk:
        pose = local.apply_discrete(pose, action)

    assert chunk[:3] == [local.TURN_LEFT] * 3 and chunk[3:] == [local.FORWARD] * 2
    assert pose[2] == pytest.approx(math.pi / 2) and pose[1] == pytest.approx(0.5)
    assert local.discrete_action((0.0, 2.0, 0.0), path) == local.STOP
    with pytest.raises(ValueError, match='unknown discrete action'):
        local.apply_discrete(pose, 'jump')


# --- slow system ----------------------------------------------------------------------------------------------------


def _scene() -> SceneGraph:
    objects = [ObjectNode(1, 'chair', 'red', (1.0, 1.0, 0.45), (0.45, 0.45, 0.9)),
               ObjectNode(2, 'chair', 'red', (6.0, 1.0, 0.45), (0.45, 0.45, 0.9)),
               ObjectNode(3, 'table', 'brown', (6.0, 2.0, 0.4), (1.2, 0.8, 0.75)),
               ObjectNode(4, 'sofa', 'blue', (2.0, 5.0, 0.4), (2.0, 0.9, 0.85))]
    rooms = [RoomNode('living_room', 'living_room', (0.0, 0.0, 4.0, 8.0)),
             RoomNode('kitchen', 'kitchen', (4.0, 0.0, 8.0, 8.0))]
    return SceneGraph(objects, rooms, [], 'test')


def test_relational_grounding_picks_the_chair_next_to_the_table():
    goal, = parse_instruction('walk to the red chair next to the table')

    target, why = ground(goal, _scene(), (0.5, 0.5), (0.5, 0.5))

    assert target.ref == '2', why  # chair 1 is nearer the robot, but chair 2 is next to the table


def test_rule_trace_has_nav_r1_format_and_parses():
    slow = SlowSystem(parse_instruction('go to the kitchen'))

    decision = slow.decide(_scene(), Observation((1.0, 1.0, 0.0), (1.0, 1.0)))
    think, action = parse_output(decision.trace)

    assert decision.trace.startswith('<think>') and decision.trace.endswith('</action>')
    assert (action.verb, action.kind, action.arg) == ('goto', 'room', 'kitchen')
    assert 'kitchen' in think and decision.target.kind == 'room'


@pytest.mark.parametrize('text', ['no tags here', '<think>x</think><action>fly away</action>',
                                  '<think>x</think>'])
def test_parser_rejects_malformed_outputs(text):
    with pytest.raises(ParseError):
        parse_output(text)


def test_parser_reads_every_action_form():
    forms = {'goto object 12': ('goto', 'object', '12'), 'explore 1.5 -2.25': ('explore', 'frontier', '1.5 -2.25'),
             'goto pose 3 4': ('goto', 'pose', '3 4'), 'stop': ('stop', '', ''),
             'explore room bedroom_2': ('explore', 'search', 'bedroom_2'), 'explore object 7': ('explore', 'near', '7')}
    for action, expected in forms.items():
        _, parsed = parse_output(f'<think>because</think> <action> {action} </action>')
        assert (parsed.verb, parsed.kind, parsed.arg) == expected


def test_an_unseen_target_is_searched_for_room_by_room_then_at_frontiers():
    slow = SlowSystem(parse_instruction('go to the lamp'))  # lamps are found in many rooms: no room prior
    frontiers = [Frontier((3.0, 3.0), 40), Frontier((9.0, 9.0), 10)]

    here_seen = slow.decide(_scene(), Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers,
                                                  room_coverage={'living_room': 0.9, 'kitchen': 0.1}))
    all_seen = slow.decide(_scene(), Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers,
                                                 room_coverage={'living_room': 0.9, 'kitchen': 0.9}))
    here_unseen = slow.decide(_scene(), Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers,
                                                    room_coverage={'living_room': 0.5, 'kitchen': 0.1}))
    here_looked = slow.decide(_scene(), Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers,
                                                    room_coverage={'living_room': 0.5, 'kitchen': 0.1},
                                                    looked_around=('living_room',)))

    assert here_seen.exploring and here_seen.action == 'explore room kitchen' and here_seen.target.kind == 'search'
    assert 'not seen a lamp' in here_seen.think and 'any room' in here_seen.think
    assert all_seen.exploring and all_seen.action == 'explore 3.00 3.00'  # every room seen: frontiers
    assert here_unseen.action == 'explore 3.00 3.00'  # the room it stands in comes first, at its frontiers
    assert here_looked.action == 'explore room kitchen'  # ... unless it looked around in it already
    assert 'searched living_room (50% of its floor seen)' in here_looked.think  # how much of it the map has


def test_an_unseen_room_bound_object_is_searched_for_in_its_room_first():
    slow = SlowSystem(parse_instruction('go to the fridge'))
    frontiers = [Frontier((3.0, 3.0), 40)]
    obs = Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers, room_coverage={'living_room': 0.9, 'kitchen': 0.1})

    search = slow.decide(_scene(), obs)
    slow.mark_frontier_visited(search.target.center)  # the navigator does this once it has looked around there
    after = slow.decide(_scene(), obs)

    assert search.exploring and search.action == 'explore room kitchen' and search.target.kind == 'search'
    assert 'usually in a kitchen' in search.think
    np.testing.assert_allclose(search.target.polygon.min(axis=0), [4.0, 0.0])
    assert after.action == 'explore 3.00 3.00'  # searched already: back to frontiers
    named = SlowSystem(parse_instruction('go to the table in the living room'))
    scene = _scene()
    scene.objects = [o for o in scene.objects if o.label != 'table']
    fresh = Observation((5.0, 1.0, 0.0), (5.0, 1.0), frontiers)
    assert named.decide(scene, fresh).action == 'explore room living_room'  # named, though the kitchen is nearer
    obs.unseen_beside = {1: None, 2: None}  # all around both chairs is seen, and no bed is there
    assert SlowSystem(parse_instruction('go to the chair next to the bed')).decide(scene, obs).action == \
        'explore room kitchen'  # the bed's room (bedroom) is not in this scene: any room not looked around in


def test_a_room_whose_way_in_failed_is_searched_again_after_the_others_then_given_up():
    scene = _scene()
    scene.rooms.append(RoomNode('bedroom', 'bedroom', (8.0, 0.0, 12.0, 8.0)))
    slow = SlowSystem(parse_instruction('go to the lamp'))  # no room prior; no lamp in the scene
    frontiers = [Frontier((3.0, 3.0), 40)]

    def decide():
        return slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers, looked_around=('living_room',),
                                              room_coverage={'living_room': 0.9, 'kitchen': 0.1, 'bedroom': 0.1}))

    first = decide()
    slow.mark_failed(first.target)  # stuck on the way into the kitchen
    second = decide()
    slow.mark_frontier_visited(second.target.center)  # searched the bedroom
    retry = decide()
    slow.mark_failed(retry.target)  # stuck again
    last = decide()

    assert first.action == 'explore room kitchen'  # the nearest
    assert second.action == 'explore room bedroom'  # the kitchen failed: the other room first ...
    assert retry.action == 'explore room kitchen' and 'failed before' in retry.think  # ... then the kitchen again
    assert last.action == 'explore 3.00 3.00'  # failed twice: the frontiers
    slow.mark_failed(last.target)
    assert len(slow.visited_frontiers) == 3 and slow.deferred_rooms == ['kitchen']  # a frontier fails once


def test_with_the_anchor_seen_but_no_candidate_near_it_it_looks_around_the_anchor():
    scene = _scene()
    scene.objects.append(ObjectNode(9, 'desk', 'brown', (1.0, 7.0, 0.4), (1.3, 0.65, 0.75)))  # chairs are 4+ m away
    slow = SlowSystem(parse_instruction('walk to the chair next to the desk'))
    obs = Observation((1.0, 1.0, 0.0), (1.0, 1.0), [Frontier((3.0, 3.0), 40)],
                      room_coverage={'living_room': 0.9, 'kitchen': 0.9},
                      unseen_beside={1: None, 2: None, 9: (1.0, 7.0)})  # the floor round the chairs is all seen

    near = slow.decide(scene, obs)
    slow.mark_frontier_visited(near.target.center)
    after = slow.decide(scene, obs)

    assert near.exploring and near.action == 'explore object 9' and near.target.kind == 'near', near.think
    assert 'should be next to a desk' in near.think
    assert near.target.distance((1.0, 7.0)) == 0.0  # the desk's footprint: stop beside it and look around
    assert after.action == 'explore 3.00 3.00'  # looked around it already (and no office in this scene): frontiers


def test_with_a_candidate_seen_but_no_anchor_near_it_it_looks_around_the_candidate():
    scene = _scene()
    scene.objects.append(ObjectNode(9, 'shelf', 'brown', (1.0, 6.5, 0.9), (1.0, 0.33, 1.9)))  # seen from afar
    scene.objects.append(ObjectNode(10, 'box', 'brown', (6.5, 6.5, 0.2), (0.5, 0.4, 0.4)))  # a box, 5 m from it
    slow = SlowSystem(parse_instruction('walk to the shelf next to the box'))
    obs = Observation((5.0, 5.0, 0.0), (5.0, 5.0), [Frontier((3.0, 3.0), 40)],
                      room_coverage={'living_room': 0.9, 'kitchen': 0.9}, unseen_beside={9: (1.0, 6.0), 10: (6.5, 6.0)})

    box = slow.decide(scene, obs)
    slow.mark_frontier_visited(box.target.center)  # looked around the box: no shelf beside it
    elsewhere = slow.decide(scene, obs)  # the shelf is in the living room, the robot in the kitchen
    obs.pose = (2.0, 5.0, 0.0)  # walked into the living room
    shelf = slow.decide(scene, obs)
    slow.mark_frontier_visited(shelf.target.center)
    obs.unseen_beside = {9: None, 10: None}
    after = slow.decide(scene, obs)

    assert box.action == 'explore object 10' and 'The shelf should be next to a box' in box.think  # the anchor first
    assert elsewhere.action == 'explore 3.00 3.00', elsewhere.think  # not a detour to another room for it ...
    assert shelf.action == 'explore object 9', shelf.think  # ... but in its room: the box may be hidden beside it
    assert 'A box should be next to the shelf: look around shelf #9' in shelf.think
    assert after.action == 'explore 3.00 3.00'  # both ends looked around: on to the frontiers
    fresh = Observation((1.0, 1.0, 0.0), (1.0, 1.0), [Frontier((3.0, 3.0), 40)],
                        room_coverage={'living_room': 0.9, 'kitchen': 0.1}, unseen_beside={9: (1.0, 6.0)})
    fridge = SlowSystem(parse_instruction('walk to the shelf next to the fridge')).decide(scene, fresh)
    lamp = SlowSystem(parse_instruction('walk to the shelf next to the lamp')).decide(scene, fresh)
    assert fridge.action == 'explore room kitchen', fridge.think  # a fridge is usually in a kitchen: that room first
    assert lamp.action == 'explore object 9', lamp.think  # a lamp has no usual room: the shelf it saw


def test_candidates_looked_around_in_other_rooms_do_not_use_up_the_search_of_this_one():
    # House 1002: shelves were looked around in the living room and the office (no cabinet beside either); in the
    # bedroom, the third shelf, with the black cabinet hidden beside it, was never approached.
    scene = _scene()
    scene.rooms.append(RoomNode('bedroom', 'bedroom', (8.0, 0.0, 12.0, 8.0)))
    scene.objects += [ObjectNode(9, 'shelf', 'brown', (1.0, 6.5, 0.9), (1.0, 0.33, 1.9)),
                      ObjectNode(10, 'shelf', 'white', (5.0, 6.5, 0.9), (1.0, 0.33, 1.9)),
                      ObjectNode(11, 'shelf', 'white', (11.0, 2.0, 0.9), (1.0, 0.33, 1.9))]
    slow = SlowSystem(parse_instruction('walk to the shelf next to the cabinet'))
    slow.mark_frontier_visited((1.0, 6.0))  # looked around shelf 9 ...
    slow.mark_frontier_visited((5.0, 6.0))  # ... and shelf 10
    unseen = {9: None, 10: None, 11: (10.5, 1.0)}
    obs = Observation((9.0, 4.0, 0.0), (9.0, 4.0), [Frontier((3.0, 3.0), 40)], unseen_beside=unseen,
                      room_coverage={'living_room': 0.9, 'kitchen': 0.9, 'bedroom': 0.9})

    bedroom = slow.decide(scene, obs)
    slow.mark_frontier_visited((11.0, 2.6))
    obs.unseen_beside = {9: None, 10: None, 11: None}
    after = slow.decide(scene, obs)

    assert bedroom.action == 'explore object 11', bedroom.think
    assert after.action == 'explore 3.00 3.00', after.think  # every shelf looked around: on to the frontiers


def test_a_candidate_a_metre_and_more_from_the_anchor_is_taken_only_when_nothing_is_left_to_search():
    scene = _scene()
    # A grey chair 1.2 m from a desk (footprint to footprint): not "next to" it, unless nothing else turns up.
    scene.objects.append(ObjectNode(9, 'desk', 'brown', (1.0, 7.0, 0.4), (1.0, 0.6, 0.75)))
    scene.objects.append(ObjectNode(10, 'chair', 'grey', (2.95, 7.0, 0.4), (0.5, 0.5, 0.9)))
    goal = parse_instruction('walk to the chair next to the desk')
    slow = SlowSystem(goal)
    slow.mark_frontier_visited((1.0, 7.0))  # looked around the desk already

    seen = {1: None, 2: None, 9: None, 10: None}  # the floor round every chair and the desk is all seen
    first = slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), [Frontier((3.0, 3.0), 40)],
                                           unseen_beside=seen))  # not looked around in the living room yet:
    # explores its frontiers before other rooms
    last = slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), [], unseen_beside=seen))

    assert first.exploring and first.action == 'explore 3.00 3.00', first.think
    assert last.action == 'goto object 10' and 'Nothing is left to search' in last.think, last.think

    # ... or once the step has searched LOOSE_AFTER_S, with frontiers still left: a timeout fails for sure.
    slow = SlowSystem(goal)
    slow.mark_frontier_visited((1.0, 7.0))
    frontiers_left = [Frontier((3.0, 3.0), 40)]
    early = slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers_left, unseen_beside=seen, stamp=10.0))
    late = slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers_left, unseen_beside=seen,
                                          stamp=10.0 + LOOSE_AFTER_S))
    assert early.exploring, early.think
    assert late.action == 'goto object 10' and f'searched for {LOOSE_AFTER_S:.0f} s' in late.think, late.think


def test_a_colour_read_second_is_taken_only_once_the_search_has_run_long():
    scene = _scene()
    # A yellow chair (colour name yellow, brown ranked second for its measured colour) and no brown chair seen yet.
    scene.objects.append(ObjectNode(10, 'chair', 'yellow', (2.0, 1.0, 0.4), (0.5, 0.5, 0.9), rgb=(0.41, 0.36, 0.05)))
    slow = SlowSystem(parse_instruction('go to the brown chair'))
    frontiers_left = [Frontier((3.0, 3.0), 40)]

    early = slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers_left, stamp=10.0))
    late = slow.decide(scene, Observation((1.0, 1.0, 0.0), (1.0, 1.0), frontiers_left, stamp=10.0 + LOOSE_AFTER_S))
    done = SlowSystem(parse_instruction('go to the brown chair')).decide(scene, Observation((1.0, 1.0, 0.0),
                                                                                          (1.0, 1.0), []))

    assert early.exploring, early.think  # the chair beside the robot reads yellow: look for a brown one first
    assert late.action == 'goto object 10' and 'its colour reads yellow' in late.think, late.think
    assert done.action == 'goto object 10' and 'Nothing is left to search' in done.think, done.think


def test_replan_when_the_target_estimate_moves():
    slow = SlowSystem(parse_instruction('go to the sofa'), replan_distance_m=0.3)
    scene = _scene()
    obs = Observation((1.0, 1.0, 0.0), (1.0, 1.0))

    first = slow.decide(scene, obs)
    same = slow.decide(scene, obs)
    scene.objects[3] = ObjectNode(4, 'sofa', 'blue', (2.0, 6.0, 0.4), (2.0, 0.9, 0.85))  # the map moved it 1 m
    moved = slow.decide(scene, obs)

    assert first.replan and not same.replan
    assert moved.replan and 'moved 1.00 m' in moved.think
    assert moved.target.center[1] == pytest.approx(6.0)


def test_vlm_backend_loads_a_local_model_and_goes_through_the_parser(tmp_path):
    torch = pytest.importorskip('torch')
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok = Tokenizer(models.BPE(unk_token='<unk>'))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(['<think>go</think><action>goto room kitchen</action>', 'robot at 1.0 2.0'] * 20,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=['<unk>', '<eos>']))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token='<unk>', eos_token='<eos>', pad_token='<eos>')
    fast.save_pretrained(tmp_path)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=2048, n_embd=16, n_layer=1, n_head=2)
                    ).save_pretrained(tmp_path)
    vlm = VlmReasoner(str(tmp_path), max_new_tokens=8)
    slow = SlowSystem(parse_instruction('go to the kitchen'), backend=vlm)

    decision = slow.decide(_scene(), Observation((1.0, 1.0, 0.0), (1.0, 1.0)))

    # A random model writes no valid trace: the shared parser refuses it and the rule backend answers, flagged.
    assert decision.backend == 'vlm->rule' and 'vlm output unusable' in decision.think
    assert decision.target.ref == 'kitchen'


# --- navigator: both systems together on a kinematic base ---------------------------------------------------------


def _drive(nav: Navigator, pose, seconds: float, dt: float = 0.05):
    t, last_slow = 0.0, -math.inf
    while not nav.status.done and t < seconds:
        if nav.wants_slow_update or t - last_slow >= 1.0 / nav.cfg.slow_rate_hz:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, dt)
        if cmd.discrete:
            pose = local.apply_discrete(pose, cmd.discrete)
        else:
            pose = (pose[0] + cmd.v * math.cos(pose[2]) * dt, pose[1] + cmd.v * math.sin(pose[2]) * dt,
                    pose[2] + cmd.w * dt)
        t += dt
    return pose, t


@pytest.mark.parametrize('action_space', ['continuous', 'discrete'])
def test_navigator_reaches_a_multi_step_goal(action_space):
    from groundfm.sim.house import generate_house

    house = generate_house(100).to_json()
    cfg = NavigationConfig(action_space=action_space)
    spawn = (house['spawn']['x'], house['spawn']['y'], house['spawn']['yaw'])
    nav = Navigator(cfg, parse_instruction('go to the kitchen, then come back'), spawn)
    nav.set_map(grid_from_house(house))
    nav.set_scene(SceneGraph.from_house_json(house))

    pose, t = _drive(nav, spawn, 120.0)

    assert nav.status.success, nav.status.message
    assert math.dist(pose[:2], spawn[:2]) <= cfg.goal_tolerance_m
    assert nav.slow_updates >= 2 and nav.chunks >= cfg.fast_per_slow * (nav.slow_updates - 2)


@pytest.mark.parametrize('inside_m, reached', [(0.05, False), (0.12, True)])
def test_a_room_goal_is_reached_just_past_the_doorway(inside_m, reached):
    """Success is the robot's centre in the room: walking on to the planned cells deeper inside only adds path."""
    from groundfm.sim.house import generate_house

    house = generate_house(100).to_json()  # the living room / kitchen doorway is at (8.78, 3.63), kitchen to the south
    pose = (8.78, 3.63 - inside_m, -math.pi / 2)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the kitchen'), pose)
    nav.set_map(grid_from_house(house))
    nav.set_scene(SceneGraph.from_house_json(house))
    nav.slow_update(pose, 0.0)
    nav.fast_tick(pose, 0.0, 0.05)

    assert nav.status.done == reached and nav.status.success == reached, nav.status.message


@pytest.mark.parametrize('away_m, reached', [(0.7, True), (0.8, False)])
def test_coming_back_is_done_within_the_success_radius_less_the_margin(away_m, reached):
    """A pose goal has no mapped box to be off: it is reached at goal_tolerance_m less STOP_SHORT_MARGIN_M (0.75 m),
    not at the 0.3 m the path aims for."""
    from groundfm.sim.house import generate_house

    house = generate_house(100).to_json()
    spawn = (house['spawn']['x'], house['spawn']['y'], house['spawn']['yaw'])
    nav = Navigator(NavigationConfig(), parse_instruction('come back'), spawn)
    nav.set_map(grid_from_house(house))
    nav.set_scene(SceneGraph.from_house_json(house))
    pose = (spawn[0] + away_m, spawn[1], spawn[2])
    nav.slow_update(pose, 0.0)
    nav.fast_tick(pose, 0.0, 0.05)

    assert nav.status.done == reached and nav.status.success == reached, nav.status.message


# --- a live map that grows (mapping's map/occupancy and map/objects) -----------------------------------------------


def test_grow_to_cover_pads_with_unknown_and_keeps_cells_in_place():
    from groundfm.navigation.planner import grow_to_cover

    grid = Grid(np.zeros((10, 20), np.int8), (1.0, 2.0), 0.1)
    grid.data[3, 4] = OCCUPIED

    same = grow_to_cover(grid, [(1.5, 2.5)], margin=0.2)
    grown = grow_to_cover(grid, [(0.0, 2.5), (3.5, 4.0)], margin=0.5)

    assert same is grid
    assert grown.origin[0] == pytest.approx(-0.5) and grown.origin[1] == pytest.approx(2.0)
    assert grown.shape[1] * 0.1 >= 4.0 - (-0.5) - 1e-9 and grown.shape[0] * 0.1 >= 4.5 - 2.0 - 1e-9
    x, y = grid.center_of((3, 4))
    assert grown.data[grown.cell_of((x, y))] == OCCUPIED  # the same world cell, shifted index
    assert (grown.data == UNKNOWN).sum() == grown.data.size - grid.data.size


def _live_scene(mapper, house) -> SceneGraph:
    """What the node builds: seen objects (as map/objects) + the floor plan's rooms (room_source sim_scene)."""
    layout = SceneGraph.from_house_json(house)
    objects = [ObjectNode(500 + o['id'], o['label'], o['color_name'], tuple(o['center']), tuple(o['size']),
                          float(o['yaw'])) for o in mapper.seen_objects()]
    return SceneGraph(objects, layout.rooms, layout.doors, 'mapping')


def _drive_live(nav: Navigator, mapper, house, pose, seconds: float, dt: float = 0.05, trail: list | None = None):
    """Kinematic base; every 0.5 s the revealed map grows by the view from the pose and the navigator gets it.
    trail, when given, collects every pose."""
    t, last_slow, last_map, phases = 0.0, -math.inf, -math.inf, []
    while not nav.status.done and t < seconds:
        if t - last_map >= 0.5:
            mapper.observe(pose)
            nav.set_map(mapper.grid(t))
            nav.set_scene(_live_scene(mapper, house))
            last_map = t
        if nav.wants_slow_update or t - last_slow >= 1.0 / nav.cfg.slow_rate_hz:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, dt)
        pose = (pose[0] + cmd.v * math.cos(pose[2]) * dt, pose[1] + cmd.v * math.sin(pose[2]) * dt,
                pose[2] + cmd.w * dt)
        if not phases or phases[-1] != nav.status.phase:
            phases.append(nav.status.phase)
        if trail is not None:
            trail.append(pose)
        t += dt
    return pose, t, phases


def test_explores_a_growing_map_until_the_unseen_target_appears():
    from groundfm.bench.revealed_map import RevealedMap
    from groundfm.sim.house import generate_house

    house = generate_house(100).to_json()
    spawn = (house['spawn']['x'], house['spawn']['y'], house['spawn']['yaw'])
    mapper = RevealedMap(house)
    mapper.observe(spawn)
    seen_at_start = {o['id'] for o in mapper.seen_objects()}
    labels = [o['label'] for o in house['objects']]
    target = max((o for o in house['objects'] if labels.count(o['label']) == 1 and o['id'] not in seen_at_start),
                 key=lambda o: math.dist(o['center'][:2], spawn[:2]))
    nav = Navigator(NavigationConfig(), parse_instruction(f'go to the {target["label"]}'), spawn)

    pose, _t, phases = _drive_live(nav, mapper, house, spawn, 240.0)

    assert nav.status.success, nav.status.message
    assert phases.index('exploring') < phases.index('navigating'), phases
    assert f'#{500 + target["id"]}' in nav.status.message  # the map's instance, not the ground truth's
    footprint = np.array(ObjectNode(0, '', '', target['center'], target['size'], target['yaw']).footprint())
    assert float(polygon_distance(np.array([pose[:2]]), footprint)[0]) <= 1.0
    assert nav.plans >= 2


@pytest.mark.parametrize('look_around_first', [True, False])
def test_a_target_behind_the_robot_is_found_by_turning_before_walking(look_around_first):
    from groundfm.bench.revealed_map import RevealedMap
    from groundfm.sim.house import generate_house

    house = generate_house(101).to_json()  # its only lamp is 1.9 m from the spawn, behind the camera's 90 deg view
    spawn = (house['spawn']['x'], house['spawn']['y'], house['spawn']['yaw'])
    mapper = RevealedMap(house)
    mapper.observe(spawn)
    assert 'lamp' not in {o['label'] for o in mapper.seen_objects()}
    cfg = NavigationConfig(look_around_first=look_around_first, look_around_each_room=look_around_first)
    nav = Navigator(cfg, parse_instruction('go to the lamp'), spawn)
    trail = [spawn]

    _drive_live(nav, mapper, house, spawn, 240.0, trail=trail)

    assert nav.status.success, nav.status.message
    xy = np.array([p[:2] for p in trail])
    walked = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
    if look_around_first:
        assert nav.scans == 1 and walked < 1.6, walked  # turned, saw the lamp, went (its stop point is < 1.5 m away)
    else:
        assert walked > 3.0, walked  # no turn first: walked to frontiers (it turns later, on searching a room)


@pytest.mark.parametrize('first', [True, False])
def test_a_look_around_turn_waits_for_room_to_turn(first):
    rooms = [RoomNode('living_room', 'living_room', (0.0, 0.0, 4.0, 4.0)),
             RoomNode('kitchen', 'kitchen', (4.0, 0.0, 8.0, 4.0))]
    scene = SceneGraph([], rooms, [], 'test')
    cfg = NavigationConfig(look_around_first=first, look_around_each_room=not first)
    nav = Navigator(cfg, parse_instruction('go to the fridge'), (2.0 if first else 1.0, 2.0, 0.0))
    nav.set_scene(scene)
    seen = np.full((80, 160), FREE, np.int8)
    seen[:, 100:] = UNKNOWN  # the kitchen's far side not seen yet
    nav.set_map(Grid(seen, (0.0, 0.0), 0.05))
    pose = (2.0 if first else 4.1, 2.0, 0.0)  # at the start, or just through the kitchen's doorway
    jambs = np.array([[pose[0], pose[1] - 0.3], [pose[0], pose[1] + 0.3]])  # in the body's 0.38 m turning sweep
    nav.set_depth_obstacles(jambs, 0.0)

    nav.slow_update(pose, 0.0)
    cramped = (nav.status.subgoal, nav.status.reasoning)
    nav.set_depth_obstacles(np.zeros((0, 2)), 1.0)  # walked on: room to turn now
    nav.slow_update((pose[0] + 0.8, pose[1], 0.0), 1.0)

    assert cramped[0] != 'scan' and 'no room to turn' in cramped[1].lower(), cramped
    assert nav.status.subgoal == 'scan' and nav.scans == 1, nav.status.reasoning


def test_room_goal_beyond_the_mapped_area_is_planned_through_unknown_space():
    from groundfm.bench.revealed_map import RevealedMap
    from groundfm.sim.house import generate_house

    house = generate_house(100).to_json()
    spawn = (house['spawn']['x'], house['spawn']['y'], house['spawn']['yaw'])
    mapper = RevealedMap(house)
    mapper.observe(spawn)
    first = mapper.grid()
    room = max(house['rooms'], key=lambda r: math.dist(spawn[:2], ((r['bounds'][0] + r['bounds'][2]) / 2,
                                                                   (r['bounds'][1] + r['bounds'][3]) / 2)))
    x0, y0, x1, y1 = room['bounds']
    fx0, fy0 = first.origin
    fx1, fy1 = fx0 + first.shape[1] * first.resolution, fy0 + first.shape[0] * first.resolution
    assert not (fx0 <= x0 and x1 <= fx1 and fy0 <= y0 and y1 <= fy1), 'the room is already inside the first map'
    nav = Navigator(NavigationConfig(), parse_instruction(f'go to the {room["kind"].replace("_", " ")}'), spawn)

    pose, _t, _phases = _drive_live(nav, mapper, house, spawn, 240.0)

    assert nav.status.success, nav.status.message
    assert x0 <= pose[0] <= x1 and y0 <= pose[1] <= y1
    assert mapper.grid().data.size > first.data.size  # the map grew on the way


def test_with_nothing_seen_and_no_frontier_it_looks_around_once_then_gives_up():
    cfg = NavigationConfig()
    nav = Navigator(cfg, parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(Grid(np.full((1, 1), UNKNOWN, np.int8), (0.0, 0.0), 0.05))  # mapping has seen nothing yet

    nav.slow_update((0.0, 0.0, 0.0), 0.0)
    assert not nav.status.done and nav.status.subgoal == 'scan' and nav.status.phase == 'exploring'
    pose, t, turning = (0.0, 0.0, 0.0), 0.0, []
    while not nav.wants_slow_update and t < 30.0:
        cmd = nav.fast_tick(pose, t, 0.05)
        turning.append(cmd.w)
        assert cmd.v == 0.0
        pose = (0.0, 0.0, pose[2] + cmd.w * 0.05)
        t += 0.05
    nav.slow_update(pose, t)

    assert max(turning) > 0.3 and sum(turning) * 0.05 >= 2 * math.pi - 0.3  # one full turn in place
    assert nav.status.done and not nav.status.success and 'gave up' in nav.status.message


def test_shaded_map_colours_still_ground_colour_words():
    from groundfm.colors import rank_colors as colour_ranking
    from groundfm.navigation.reasoner import colour_matches

    # Mean colours that mapping measured in the sim (shaded): a purple bed, a yellow lamp, a white desk, a black tv.
    assert colour_ranking((0.23, 0.08, 0.28))[0] == 'purple'
    assert colour_ranking((0.41, 0.36, 0.05))[0] == 'yellow'
    assert set(colour_ranking((0.47, 0.47, 0.46))[:2]) == {'white', 'grey'}
    assert colour_ranking((0.09, 0.09, 0.09))[0] == 'black'
    bed = ObjectNode(1, 'bed', 'black', (0.0, 0.0, 0.3), (2.0, 1.5, 0.6), rgb=(0.23, 0.08, 0.28))
    assert colour_matches(bed, 'purple') and colour_matches(bed, 'black') and not colour_matches(bed, 'yellow')


def test_the_best_colour_match_wins_over_a_nearer_weaker_one():
    near_green = ObjectNode(13, 'chair', 'black', (1.0, 0.0, 0.4), (0.5, 0.5, 0.9), rgb=(0.1, 0.27, 0.11))
    far_grey = ObjectNode(4, 'chair', 'black', (6.0, 0.0, 0.4), (0.5, 0.5, 0.9), rgb=(0.21, 0.21, 0.22))
    scene = SceneGraph([near_green, far_grey])

    target, _why = ground(parse_instruction('go to the grey chair')[0], scene, (0.0, 0.0), (0.0, 0.0))
    green, _ = ground(parse_instruction('go to the green chair')[0], scene, (6.0, 0.0), (6.0, 0.0))

    assert target.ref == '4' and green.ref == '13'


def _unicycle(pose, cmd, dt: float = 0.05):
    """The pose (x, y, yaw) after driving a velocity command (v ahead, vy to the left, w) for dt [s]."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    return (pose[0] + (cmd.v * c - cmd.vy * s) * dt, pose[1] + (cmd.v * s + cmd.vy * c) * dt, pose[2] + cmd.w * dt)


def _drive_to_fridge(fridge: ObjectNode, depth_points: np.ndarray, seconds: float, trail: list | None = None,
                     grid: Grid | None = None):
    """Drive to the fridge on grid (default: an empty map) while the depth always shows depth_points (n, 2) [m];
    trail, when given, collects every (pose, command). Returns (navigator, final pose, time [s])."""
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(grid if grid is not None else Grid(np.zeros((120, 200), np.int8), (-2.0, -3.0), 0.05))
    nav.set_scene(SceneGraph([fridge]))
    pose, t, last_slow = (0.0, 0.0, 0.0), 0.0, -math.inf
    while not nav.status.done and t < seconds:
        nav.set_depth_obstacles(depth_points, t)
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        if trail is not None:
            trail.append((pose, cmd))
        pose = _unicycle(pose, cmd)
        t += 0.05
    return nav, pose, t


def _held_by_a_phantom(object_x: float, phantom_x: float, trail: list | None = None, half_width: float = 3.0,
                       grid: Grid | None = None):
    """Drive to a fridge while stereo noise that never clears stands across the corridor at phantom_x (|y| <=
    half_width); trail, when given, collects every (pose, command)."""
    phantom = np.stack([np.full(200, phantom_x), np.linspace(-half_width, half_width, 200)], axis=1)
    fridge = ObjectNode(1, 'fridge', 'white', (object_x, 0.0, 0.9), (0.4, 0.4, 1.8))
    return _drive_to_fridge(fridge, phantom, 120.0, trail, grid)


def _corridor() -> Grid:
    """A map with a corridor along +x, 1.2 m wide, closed 0.5 m behind (0, 0)."""
    corridor = Grid(np.zeros((120, 200), np.int8), (-2.0, -3.0), 0.05)
    for x0, y0, x1, y1 in ((-0.6, 0.6, 8.0, 0.7), (-0.6, -0.7, 8.0, -0.6), (-0.6, -0.7, -0.5, 0.7)):
        (r0, c0), (r1, c1) = corridor.cell_of((x0, y0)), corridor.cell_of((x1, y1))
        corridor.data[r0:r1 + 1, c0:c1 + 1] = OCCUPIED
    return corridor


def test_held_short_of_the_stop_point_but_within_tolerance_counts_as_reached():
    nav, pose, _t = _held_by_a_phantom(object_x=2.0, phantom_x=1.7, grid=_corridor())
    farther, farther_pose, _t = _held_by_a_phantom(object_x=2.0, phantom_x=1.6, grid=_corridor())

    assert nav.status.success and 'way ahead is blocked' in nav.status.message, nav.status.message
    assert 1.8 - pose[0] <= nav.cfg.goal_tolerance_m - STOP_SHORT_MARGIN_M
    # Held within the tolerance but not its margin: a mapped box can be that far off, so it is not called reached.
    assert nav.cfg.goal_tolerance_m - STOP_SHORT_MARGIN_M < 1.8 - farther_pose[0] < nav.cfg.goal_tolerance_m
    assert not farther.status.success and 'cut off' in farther.status.message, farther.status.message


def _approach_fridge(depth_points: np.ndarray) -> tuple:
    """Drive to a fridge whose front face is at x = 2.8 m while the depth shows depth_points (n, 2) [m]; returns
    (navigator, final pose)."""
    nav, pose, _t = _drive_to_fridge(ObjectNode(1, 'fridge', 'white', (3.0, 0.0, 0.9), (0.4, 0.4, 1.8)),
                                     depth_points, 30.0)
    return nav, pose


def test_it_stops_when_the_depth_shows_the_object_within_reach_not_only_at_the_mapped_box():
    face = np.stack([np.full(9, 2.8), np.linspace(-0.2, 0.2, 9)], axis=1)  # depth points on the fridge's front face
    beside = np.stack([np.full(9, 1.9), np.linspace(0.6, 1.0, 9)], axis=1)  # something else, beside the path

    blind, blind_pose = _approach_fridge(np.zeros((0, 2)))
    seen, seen_pose = _approach_fridge(np.concatenate([face, beside]))

    assert blind.status.success and seen.status.success
    assert 2.8 - blind_pose[0] < 0.7  # the mapped box only: on to about stop_distance_m (0.5 m)
    assert 2.8 - seen_pose[0] == pytest.approx(seen.cfg.seen_stop_distance_m, abs=0.08)  # the face seen at 0.8 m
    assert "surface in view" in seen.status.message and "surface" not in blind.status.message


def test_depth_points_a_neighbours_box_claims_do_not_stop_it_at_the_neighbour():
    fridge = ObjectNode(1, 'fridge', 'white', (3.0, 0.0, 0.9), (1.0, 1.0, 1.8))  # mapped too big: x 2.5 .. 3.5
    cabinet = ObjectNode(2, 'cabinet', 'grey', (2.6, -0.3, 0.4), (0.2, 0.4, 0.8))  # inside the fridge's box
    face = np.stack([np.full(9, 3.0), np.linspace(-0.2, 0.2, 9)], axis=1)  # the fridge itself, at x = 3.0
    cabinet_face = np.stack([np.full(9, 2.52), np.linspace(-0.45, -0.15, 9)], axis=1)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(Grid(np.zeros((120, 200), np.int8), (-2.0, -3.0), 0.05))
    nav.set_scene(SceneGraph([fridge, cabinet]))
    pose, t = (0.0, 0.0, 0.0), 0.0
    while not nav.status.done and t < 30.0:
        nav.set_depth_obstacles(np.concatenate([face, cabinet_face]), t)
        if nav.wants_slow_update or t % 1.0 < 0.05:
            nav.slow_update(pose, t)
        pose = _unicycle(pose, nav.fast_tick(pose, t, 0.05))
        t += 0.05

    assert nav.status.success and 'surface in view' not in nav.status.message, nav.status.message
    assert pose[0] > 1.85  # on to the mapped box's stop point, not 0.8 m short of the cabinet's face (x 1.7)


def test_it_plans_to_the_objects_own_room_when_an_unmapped_wall_hides_which_side_it_is_on():
    data = np.zeros((80, 80), np.int8)  # 4 x 4 m; the wall at y 2.0 .. 2.1 not mapped yet (unknown)
    data[40:42, :] = UNKNOWN
    data[42:48, 30:50] = OCCUPIED  # the tv, mapped
    tv = ObjectNode(2, 'tv', 'black', (2.0, 2.25, 0.4), (1.0, 0.3, 0.6), room='living_room')  # on the north face
    rooms = [RoomNode('living_room', 'living_room', (0.0, 2.1, 4.0, 4.0)),
             RoomNode('office', 'office', (0.0, 0.0, 4.0, 2.0))]
    cfg = NavigationConfig(floor_plan_walls=False)  # no doorways known: only the own-room goal cells act
    nav = Navigator(cfg, parse_instruction('go to the tv'), (2.0, 0.8, math.pi / 2))
    nav.set_map(Grid(data, (0.0, 0.0), 0.05))
    nav.set_scene(SceneGraph([tv], rooms, [], 'test'))

    nav.slow_update((2.0, 0.8, math.pi / 2), 0.0)
    nav.fast_tick((2.0, 0.8, math.pi / 2), 0.0, 0.05)

    assert nav.path is not None and nav.path[-1][1] > 2.15  # beside the tv in its room, not just south of the wall


def test_held_far_from_the_goal_with_no_way_round_it_looks_around_then_gives_up_with_a_reason():
    # In open space it now steps aside and walks round the end of the phantom; in a corridor there is no way round.
    nav, pose, t = _held_by_a_phantom(object_x=4.0, phantom_x=1.45, grid=_corridor())

    assert not nav.status.success and 'cut off' in nav.status.message, nav.status.message
    assert nav.scans >= 1 and pose[0] < 1.45 and t < 60.0


def test_wedged_against_an_obstacle_it_backs_up_before_turning_to_look():
    trail: list = []
    nav, pose, _t = _held_by_a_phantom(object_x=4.0, phantom_x=0.4, trail=trail, half_width=0.6)  # cannot even turn

    backing = [i for i, (_p, cmd) in enumerate(trail) if cmd.v < 0]
    assert nav.backups == 1 and backing, nav.status.message
    assert min(p[0] for p, _ in trail) <= -0.25  # it reversed about BACKUP_M along the way it came
    after = trail[backing[-1] + 1:]
    assert any(abs(cmd.w) > 0.3 and cmd.v == 0.0 for _p, cmd in after)  # then turned in place to look again
    assert all(cmd.v >= 0 for _p, cmd in trail[:backing[0]])  # never reverses while it can still make progress
    assert nav.status.success, nav.status.message  # then found the way around the obstacle
    assert math.dist(pose[:2], (4.0, 0.0)) <= nav.cfg.goal_tolerance_m + 0.2


def test_side_step_leaves_a_corner_the_way_with_the_most_room():
    wall_behind = np.stack([np.full(40, -0.42), np.linspace(-1.0, 1.0, 40)], axis=1)
    box_ahead = np.stack([np.full(20, 0.42), np.linspace(-0.5, 0.1, 20)], axis=1)  # ahead and to the right
    corner = np.concatenate([wall_behind, box_ahead])

    assert local.body_gaps((0.0, 0.0, 0.0), corner).min() == pytest.approx(0.07)
    assert local.body_gaps((0.0, 0.0, 0.0), np.array([[0.1, 0.05]]))[0] == pytest.approx(-0.105)  # inside: how deep
    steps = local.side_steps((0.0, 0.0, 0.0), corner, 0.25)
    # Left only: ahead is the box, behind the wall, and right, along the box, touches nothing but is more crowded.
    assert steps == pytest.approx([math.pi / 2])
    open_floor = local.side_steps((0.0, 0.0, 0.0), wall_behind, 0.25)  # only the wall: away from it is roomiest
    assert open_floor[0] == pytest.approx(0.0) and len(open_floor) == 5  # ahead, the diagonals and the sides
    # The same corner seen from a turned body: the answer turns with it (body frame).
    turned = corner @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # rotated +90 deg
    assert local.side_steps((0.0, 0.0, math.pi / 2), turned, 0.25) == pytest.approx(steps)
    closed = np.concatenate([corner, np.stack([np.linspace(-0.5, 0.5, 40), np.full(40, 0.2)], axis=1),
                             np.stack([np.linspace(-0.5, 0.5, 40), np.full(40, -0.2)], axis=1)])
    assert local.side_steps((0.0, 0.0, 0.0), closed, 0.25) == []  # boxed in: every step touches something
    # A point 0.245 m to the left, which a step left would touch by 0.005 m: no step touches nothing, but with 0.1 m of
    # give (the footprint is a box round splayed legs, the map's cells are coarse) left is one to try.
    tight = np.concatenate([corner, [[0.0, 0.40]]])
    assert local.side_steps((0.0, 0.0, 0.0), tight, 0.25) == []
    assert any(abs(a - math.pi / 2) < 1e-6 for a in local.side_steps((0.0, 0.0, 0.0), tight, 0.25, give=0.1))
    # Already 0.15 m into one point: that depth is no licence to walk into another point that is clear now.
    inside_one = np.array([[0.2, 0.0], [0.0, -0.2]])
    assert not any(abs(a - 3 * math.pi / 2) < 1e-6 for a in local.side_steps((0.0, 0.0, 0.0), inside_one, 0.25))


def _caught_until(frees, boxes, fridge_xy=(3.0, 1.0), hold_in_step_s: float = 0.0):
    """Go to a fridge from (0, 0) facing +x on a map with boxes [(x0, y0, x1, y1) [m]] occupied; a leg is caught, so
    no command moves the body until frees(command) is true for one. hold_in_step_s: once, 0.5 s into the first side
    step, a safety hold skips the servo this long (the node resets the limiter and sends zero). Returns (navigator,
    final pose, commands)."""
    data = np.zeros((120, 200), np.int8)
    grid = Grid(data, (-2.0, -3.0), 0.05)
    for x0, y0, x1, y1 in boxes:
        (r0, c0), (r1, c1) = grid.cell_of((x0, y0)), grid.cell_of((x1, y1))
        data[r0:r1 + 1, c0:c1 + 1] = OCCUPIED
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(grid)
    nav.set_scene(SceneGraph([ObjectNode(1, 'fridge', 'white', (*fridge_xy, 0.9), (0.4, 0.4, 1.8))]))
    pose, t, last_slow, freed, commands = (0.0, 0.0, 0.0), 0.0, -math.inf, False, []
    while not nav.status.done and t < 90.0:
        nav.set_depth_obstacles(np.zeros((0, 2)), t)
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        commands.append(cmd)
        freed = freed or frees(cmd)
        pose = _unicycle(pose, cmd) if freed else pose
        t += 0.05
        if hold_in_step_s and sum(c.vy != 0.0 for c in commands) == 10:  # 0.5 s into the step
            t += hold_in_step_s
            nav.limiter.reset()
            commands.append(local.Command(note='safety hold'))
    return nav, pose, commands


WALL_BEHIND = (-0.5, -3.0, -0.42, 3.0)  # a wall 0.07 m behind the body's back [m]


@pytest.mark.parametrize('hold_s', [0.0, 3.0])
def test_caught_in_a_corner_with_no_way_back_it_steps_aside_then_goes_on(hold_s):
    # A goal starts with the body against a wall behind it and a box ahead and to the right; a leg is caught, so
    # nothing it commands moves the body until it steps aside. There is no walked trail and the map shows no room
    # straight back: before, it turned in place (held), asked again, and gave up stuck. A safety hold during the step
    # is not the step being held.
    nav, pose, commands = _caught_until(lambda cmd: cmd.vy != 0.0, [WALL_BEHIND, (0.42, -0.5, 0.8, 0.1)],
                                        hold_in_step_s=hold_s)

    aside = [cmd for cmd in commands if cmd.vy != 0.0]
    assert nav.side_steps == 1 and nav.backups == 0, nav.status.message
    assert all(cmd.vy > 0.0 and abs(cmd.v) < 1e-9 and cmd.w == 0.0 for cmd in aside)  # straight to the left
    assert max(abs(cmd.vy) for cmd in aside) <= 0.15 + 1e-9
    # Ramped in and out at the acceleration limit (a safety hold zeroes the command at once, as for v and w).
    holds = [i for i, cmd in enumerate(commands) if cmd.note == 'safety hold']
    runs = np.split(np.array([cmd.vy for cmd in commands] + [0.0]), holds)
    assert max(np.abs(np.diff(np.r_[0.0, run])).max() for run in runs) <= nav.cfg.max_accel * 0.05 + 1e-9
    assert len(holds) == (hold_s > 0)
    assert nav.status.success, nav.status.message
    assert math.dist(pose[:2], (3.0, 1.0)) <= nav.cfg.goal_tolerance_m + 0.2


def test_a_held_side_step_tries_the_next_roomiest_direction():
    # Only the wall behind is on the map, so ahead is the roomiest step; but what holds the leg is off the map and
    # lets go only of a step that goes to the right (forward-right is the third direction in order of room).
    nav, pose, commands = _caught_until(lambda cmd: cmd.vy < 0.0, [WALL_BEHIND], fridge_xy=(3.0, -1.0))

    notes = [cmd.note for cmd in commands]
    assert nav.side_steps == 3, nav.status.message
    first, second = notes.index('side step held; stepping forward-left'), notes.index('side step held; stepping '
                                                                                       'forward-right')
    assert any(cmd.v > 0.0 and 'aside' in cmd.note for cmd in commands[:first])  # it tried straight ahead first
    assert first < second < next(i for i, cmd in enumerate(commands) if cmd.vy < 0.0)
    assert nav.status.success, nav.status.message


def test_a_goal_cut_off_by_a_diagonal_pinch_is_approached_from_the_robots_side():
    # A wall at x = 4 m with a 0.4 m doorway at y 1.75-2.15 m and a 10 cm box 0.2 m past its lower jamb: at the body's
    # half width the free cells join across the doorway only corner to corner, which the path search does not step
    # through, so the fridge beyond is cut off. The approach must head for the doorway on the robot's side (a cell the
    # search reaches), not for cells past the pinch that only a corner-cutting flood fill joins to the robot (then
    # it found no path to them and gave up where it stood). Cells it walks stay passable, so from the doorway it gets
    # through.
    data = np.full((80, 160), FREE, np.int8)
    data[:, 80] = OCCUPIED
    data[35:43, 80] = FREE
    data[36:38, 84:86] = OCCUPIED
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (1.0, 2.0, 0.0))
    nav.set_map(Grid(data, (0.0, 0.0), 0.05))
    nav.set_scene(SceneGraph([ObjectNode(1, 'fridge', 'white', (6.5, 2.0, 0.9), (0.6, 0.6, 1.8))]))
    pose, t, last_slow, closest = (1.0, 2.0, 0.0), 0.0, -math.inf, math.inf
    while not nav.status.done and t < 60.0:
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        pose = _unicycle(pose, nav.fast_tick(pose, t, 0.05))
        closest = min(closest, math.dist(pose[:2], (4.0, 1.95)))
        t += 0.05

    assert closest < 0.3, closest  # walked up to the doorway (it stood 3 m from it before the fix)
    assert nav.status.success, nav.status.message
    assert pose[0] > 4.5


def _snag_until_it_reverses(nav: Navigator, on_caught=None, snag_x: float = 1.45, seconds: float = 90.0):
    """Drive nav from (0, 0) with nothing in the depth view; once the robot reaches x >= snag_x, a command that does
    not reverse leaves the body where it is (a leg caught below the camera's view) until it first reverses.
    on_caught(pose) runs once, when it is caught. Returns (final pose, time caught [s], pose caught, time it
    reversed [s], least x [m] while it did its first back-up)."""
    pose, t, last_slow = (0.0, 0.0, 0.0), 0.0, -math.inf
    caught_t = caught_pose = reversed_at = None
    lowest = math.inf
    while not nav.status.done and t < seconds:
        nav.set_depth_obstacles(np.zeros((0, 2)), t)
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        if caught_t is None and pose[0] >= snag_x:
            caught_t, caught_pose = t, pose
            if on_caught is not None:
                on_caught(pose)
        if caught_t is not None and reversed_at is None:
            if cmd.v >= 0:  # snagged: neither forward nor turning moves the body, only backing out of it does
                cmd = local.Command(0.0, 0.0)
            else:
                reversed_at = t
        if reversed_at is not None and nav.backups == 1:
            lowest = min(lowest, pose[0])
        pose = _unicycle(pose, cmd)
        t += 0.05
    return pose, caught_t, caught_pose, reversed_at, lowest


def test_caught_in_a_doorway_the_map_shows_it_backs_up_though_the_depth_sees_nothing():
    # A wall at x 1.5 .. 1.6 m with a 0.7 m doorway: in it the jambs are inside the circle the body sweeps turning.
    data = np.zeros((120, 200), np.int8)
    data[:, 70:72] = OCCUPIED
    data[53:67, 70:72] = FREE
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(Grid(data, (-2.0, -3.0), 0.05))
    nav.set_scene(SceneGraph([ObjectNode(1, 'fridge', 'white', (3.0, 0.0, 0.9), (0.4, 0.4, 1.8))]))
    pose, caught, _at, reversed_at, _lowest = _snag_until_it_reverses(nav)  # a leg on the door frame

    assert caught is not None and reversed_at is not None, nav.status.message
    # Backed out as soon as commanded motion showed the body held, well before STUCK_S without progress.
    assert nav.backups == 1 and reversed_at - caught < 4.0, reversed_at - caught
    assert nav.status.success, nav.status.message  # then through the doorway to the fridge
    assert pose[0] > 2.0


def test_snagged_with_stereo_noise_mapped_behind_it_backs_out_along_the_way_it_came():
    # Caught by a leg at x ~1.45 m on open floor; as it is caught, stereo noise appears on the map on the floor it
    # has just walked, inside the strip the body would sweep straight back. The map alone leaves no room to back up
    # (before, it only turned in place, held, twice, and gave up stuck); the walked trail is free whatever the map
    # shows, so it backs out along it.
    empty = Grid(np.zeros((120, 200), np.int8), (-2.0, -3.0), 0.05)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(empty)
    nav.set_scene(SceneGraph([ObjectNode(1, 'fridge', 'white', (4.0, 0.0, 0.9), (0.4, 0.4, 1.8))]))

    def noise_behind(pose):
        noisy = Grid(empty.data.copy(), empty.origin, empty.resolution)
        (r0, c0), (r1, c1) = noisy.cell_of((pose[0] - 0.5, -0.1)), noisy.cell_of((pose[0] - 0.4, 0.1))
        noisy.data[r0:r1 + 1, c0:c1 + 1] = OCCUPIED
        nav.set_map(noisy)

    pose, _t, caught, reversed_at, lowest = _snag_until_it_reverses(nav, noise_behind)

    assert caught is not None and reversed_at is not None, nav.status.message
    assert nav.backups == 1 and caught[0] - lowest >= 0.45, (nav.backups, caught, lowest)  # RETREAT_M, over the noise
    assert nav.status.success, nav.status.message
    assert pose[0] > 3.0


def _two_doorways_map() -> Grid:
    """A 7 m x 6 m house at (0, 0) in an 11 m x 10 m map (5 cm cells), split by a wall at x = 3 m with a doorway
    straight ahead of (1, 2) at y 1.6-2.4 m and one a long way round at y 5.0-5.8 m; the kitchen is east of it."""
    data = np.full((200, 220), UNKNOWN, np.int8)
    data[38:162, 38:182] = OCCUPIED  # outer walls ...
    data[40:160, 40:180] = FREE  # ... round the floor
    data[40:160, 100:102] = OCCUPIED
    data[72:88, 100:102] = FREE
    data[140:156, 100:102] = FREE
    return Grid(data, (-2.0, -2.0), 0.05)


def _walk_to_the_kitchen_past_a_hidden_blocker(depth_sees_it: bool):
    """Something the map never shows (below the mapped band, or glass) stands in the near doorway at x = 2.9 m, and
    mapping publishes a fresh map every second. Returns the navigator and the final pose."""
    blocker = np.stack([np.full(40, 2.9), np.linspace(1.5, 2.5, 40)], axis=1)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the kitchen'), (1.0, 2.0, 0.0))
    nav.set_scene(SceneGraph([], [RoomNode('kitchen', 'kitchen', (4.0, 0.0, 7.0, 6.0))]))
    pose, t, last_slow, last_map = (1.0, 2.0, 0.0), 0.0, -math.inf, -math.inf
    while not nav.status.done and t < 120.0:
        if t - last_map >= 1.0:
            nav.set_map(_two_doorways_map())
            last_map = t
        nav.set_depth_obstacles(blocker if depth_sees_it else np.zeros((0, 2)), t)
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        new = _unicycle(pose, cmd)
        half = local.BODY_LENGTH_M / 2
        nose = (new[0] + half * math.cos(new[2]), new[1] + half * math.sin(new[2]))
        if nose[0] > 2.9 > pose[0] - 0.5 and 1.5 <= nose[1] <= 2.5:  # the body bumps into it: no translation
            new = (pose[0], pose[1], new[2])
        pose = new
        t += 0.05
    return nav, pose


def test_where_the_depth_guard_held_the_robot_stays_marked_when_a_new_map_arrives():
    nav, pose = _walk_to_the_kitchen_past_a_hidden_blocker(depth_sees_it=True)

    assert nav.status.success, nav.status.message  # a re-plan on each new map must not lead back into the doorway
    assert pose[1] > 3.0  # through the far doorway


def test_stuck_with_nothing_in_view_the_blocked_stretch_is_marked_and_avoided():
    nav, pose = _walk_to_the_kitchen_past_a_hidden_blocker(depth_sees_it=False)

    assert nav.status.success, nav.status.message
    assert pose[1] > 3.0  # through the far doorway, after being stuck in the near one


def test_exploring_for_an_unseen_target_it_looks_around_once_in_each_room_it_enters():
    def seen_up_to(x: float) -> Grid:  # 8 m x 4 m, 5 cm cells: the floor is mapped 1.5 m ahead of the robot
        data = np.full((80, 160), UNKNOWN, np.int8)
        data[:, :int(min(x + 1.5, 8.0) / 0.05)] = FREE
        return Grid(data, (0.0, 0.0), 0.05)

    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (1.0, 2.0, 0.0))
    nav.set_scene(SceneGraph([], [RoomNode('den', 'living_room', (0.0, 0.0, 4.0, 4.0)),
                                  RoomNode('study', 'office', (4.0, 0.0, 8.0, 4.0))]))
    pose, t, last_slow, turned_in = (1.0, 2.0, 0.0), 0.0, -math.inf, {}
    while not nav.status.done and t < 60.0:
        if t - last_slow >= 1.0:
            nav.set_map(seen_up_to(pose[0]))
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        room = 'den' if pose[0] < 4.0 else 'study'
        if cmd.v == 0.0:
            turned_in[room] = turned_in.get(room, 0.0) + abs(cmd.w) * 0.05
        pose = _unicycle(pose, cmd)
        t += 0.05

    assert turned_in.get('den', 0.0) > 2 * math.pi - 0.5  # the first look-around, where it starts
    assert turned_in.get('study', 0.0) > 2 * math.pi - 0.5, turned_in  # one more on entering the study
    assert nav.scans == 2


def test_once_its_room_is_looked_around_it_searches_the_next_room_before_the_frontiers_left_in_its_own():
    def seen_up_to(x: float) -> Grid:  # 8 m x 4 m, 5 cm cells; an unseen strip along the den's west wall
        data = np.full((80, 160), UNKNOWN, np.int8)
        data[:, 8:int(min(max(x + 1.5, 4.5), 8.0) / 0.05)] = FREE
        return Grid(data, (0.0, 0.0), 0.05)

    lamp = ObjectNode(7, 'lamp', 'white', (7.0, 2.0, 0.5), (0.3, 0.3, 1.0))  # a lamp: no room prior
    rooms = [RoomNode('den', 'living_room', (0.0, 0.0, 4.0, 4.0)), RoomNode('study', 'office', (4.0, 0.0, 8.0, 4.0))]
    nav = Navigator(NavigationConfig(), parse_instruction('go to the lamp'), (1.8, 2.0, 0.0))
    pose, t, last_slow, west, thoughts = (1.8, 2.0, 0.0), 0.0, -math.inf, 1.8, set()
    while not nav.status.done and t < 60.0:
        if t - last_slow >= 1.0:
            nav.set_map(seen_up_to(pose[0]))
            nav.set_scene(SceneGraph([lamp] if pose[0] > 4.0 else [], rooms))  # in view from inside the study
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
            thoughts.add(nav.status.reasoning)
        pose = _unicycle(pose, nav.fast_tick(pose, t, 0.05))
        west = min(west, pose[0])
        t += 0.05

    assert nav.status.success, nav.status.message
    assert west > 1.5  # never went to the frontier along the den's west wall (1.4 m away; the study's is 2.7 m)
    assert any('could be in any room' in thought and 'study' in thought for thought in thoughts), thoughts


def test_a_detour_around_noise_is_left_once_the_direct_way_clears():
    def house_map(phantom: bool) -> Grid:
        data = np.zeros((120, 140), np.int8)  # 7 m x 6 m, origin (0, 0), 5 cm cells
        data[:, 60:62] = OCCUPIED  # a wall at x = 3 m ...
        data[32:48, 60:62] = FREE  # ... with a doorway at y 1.6-2.4 m (straight ahead)
        data[100:116, 60:62] = FREE  # ... and one at y 5.0-5.8 m (a long way round)
        if phantom:
            data[32:48, 56:58] = OCCUPIED  # stereo noise across the near doorway, cleared by later views
        return Grid(data, (0.0, 0.0), 0.05)

    def walk(clear_after_s: float) -> float:
        nav = Navigator(NavigationConfig(), parse_instruction('go to the kitchen'), (1.0, 2.0, 0.0))
        nav.set_scene(SceneGraph([], [RoomNode('kitchen', 'kitchen', (4.0, 0.0, 7.0, 6.0))]))
        nav.set_map(house_map(phantom=True))
        pose, t, last_slow, walked = (1.0, 2.0, 0.0), 0.0, -math.inf, 0.0
        while not nav.status.done and t < 60.0:
            if t >= clear_after_s and nav.grid.data[40, 57] == OCCUPIED:
                nav.set_map(house_map(phantom=False))
            if nav.wants_slow_update or t - last_slow >= 1.0:
                nav.slow_update(pose, t)
                last_slow = t
            cmd = nav.fast_tick(pose, t, 0.05)
            new = _unicycle(pose, cmd)
            walked += math.dist(pose[:2], new[:2])
            pose, t = new, t + 0.05
        assert nav.status.success, nav.status.message
        return walked

    detour, cleared_early = walk(clear_after_s=math.inf), walk(clear_after_s=1.5)

    assert detour > 4.3  # the way round, when the noise stays (the direct way is 3.4 m)
    assert cleared_early < detour - 1.0  # took the direct doorway once it cleared, not the planned detour


def test_the_frontier_being_explored_is_kept_while_it_lasts():
    near, far = Frontier((2.0, 0.0), 10), Frontier((3.0, 0.0), 200)

    assert select_frontier([near, far], (0.0, 0.0)) is far  # the bigger one scores better from here
    assert select_frontier([near, far], (0.0, 0.0), keep=(2.2, 0.1)) is near  # ... but the robot is heading to near
    assert select_frontier([near, far], (0.0, 0.0), visited=[(2.0, 0.0)], keep=(2.2, 0.1)) is far  # reached: drop it
    assert select_frontier([], (0.0, 0.0), keep=(1.2, 0.1)) is None


def test_frontiers_are_ranked_by_the_path_to_them_not_the_straight_line():
    # A 6 x 4 m observed room; a wall at x = 3 m splits it except for a gap at its north end. Unknown space lies
    # just beyond the wall's east side close to the robot (reached only round the wall) and to the west, further
    # in a straight line but in the robot's own half.
    data = np.full((50, 80), UNKNOWN, np.int8)
    data[5:45, 5:75] = FREE
    data[5:40, 40] = OCCUPIED  # the wall, open at its north end (rows 40-44)
    data[5:45, 5] = OCCUPIED  # the west wall ...
    data[20:30, 5] = FREE  # ... with an opening onto unknown space
    data[5, 5:75] = OCCUPIED
    data[44, 5:75] = OCCUPIED
    data[5:45, 74] = OCCUPIED
    data[8:16, 42] = UNKNOWN  # an unseen patch just east of the wall
    grid = Grid(data, (0.0, 0.0), 0.1)
    robot = (3.7, 1.2)  # west of the wall, 0.5 m from the east patch as the crow flies
    costmap = build_costmap(grid, 0.2)

    straight = find_frontiers(grid, min_cells=5)
    ranked = find_frontiers(grid, min_cells=5, costs=path_costs(costmap, robot))

    east = min(ranked, key=lambda f: math.dist(f.center, (4.2, 1.2)))
    west = min(ranked, key=lambda f: math.dist(f.center, (0.6, 2.5)))
    assert east.path_cost > 5.0 > west.path_cost  # round the wall's north end vs straight across the room
    assert math.dist(select_frontier(straight, robot).center, east.center) < 0.2  # by straight line: the wrong one
    assert select_frontier(ranked, robot) == west


def test_a_big_frontier_is_not_worth_any_detour_and_a_cut_off_one_comes_last():
    near, huge = Frontier((1.0, 0.0), 10, 1.0), Frontier((6.0, 0.0), 600, 6.0)
    cut_off = Frontier((0.5, 0.0), 50, math.inf)

    assert select_frontier([near, huge], (0.0, 0.0)) is near  # 600 cells earn no more than FRONTIER_SIZE_CAP
    assert select_frontier([near, huge, cut_off], (0.0, 0.0)) is near
    assert select_frontier([cut_off], (0.0, 0.0)) is cut_off  # still a candidate: map noise may open the way


def test_the_room_the_robot_stands_in_is_searched_before_another_rooms_frontier():
    # House 1002 (legged run): in the bedroom (x > 6.1 m) the nearest frontier lay back in the living room, so the
    # robot walked off before seeing the cabinet 1.5 m away, and timed out.
    bedroom = (6.13, 0.0, 11.1, 4.19)
    back_west = Frontier((5.8, 0.8), 90, 3.2)
    east = Frontier((10.5, 3.8), 116, 3.9)
    east_cut_off = Frontier((10.8, 1.0), 200, math.inf)

    assert select_frontier([back_west, east], (8.7, 3.7)) is back_west  # nearest overall
    assert select_frontier([back_west, east], (8.7, 3.7), within=bedroom) is east
    assert select_frontier([back_west, east_cut_off], (8.7, 3.7), within=bedroom) is back_west  # no way in: no pull
    assert select_frontier([back_west, east], (8.7, 3.7), keep=(5.9, 0.9), within=bedroom) is back_west  # heading


def test_the_slow_system_explores_the_frontiers_of_the_room_it_stands_in_first():
    scene = _scene()  # living room x < 4 m, kitchen x > 4 m; no lamp anywhere
    obs = Observation((3.5, 4.0, 0.0), (3.5, 4.0), [Frontier((4.6, 4.0), 60, 1.1), Frontier((1.0, 7.0), 60, 3.9)],
                      room_coverage={'living_room': 0.3, 'kitchen': 0.3})

    decision = SlowSystem(parse_instruction('go to the lamp')).decide(scene, obs)

    assert decision.action == 'explore 1.00 7.00', decision.think  # not the kitchen's, though it is nearer
    assert 'in living_room, the room I am searching' in decision.think


def test_a_failed_plan_is_retried_at_the_next_chunk_not_at_every_servo_tick():
    cfg = NavigationConfig()
    rows, cols = np.mgrid[0:60, 0:100]
    ring = np.hypot((cols + 0.5) * 0.05 - 1.0, (rows + 0.5) * 0.05 - 1.5)
    data = np.where((ring > 0.35) & (ring < 0.5), OCCUPIED, FREE).astype(np.int8)  # boxed in: no way out
    nav = Navigator(cfg, parse_instruction('go to the kitchen'), (1.0, 1.5, 0.0))
    nav.set_map(Grid(data, (0.0, 0.0), 0.05))
    nav.set_scene(SceneGraph([], [RoomNode('kitchen', 'kitchen', (3.0, 0.0, 5.0, 3.0))]))
    t, ticks = 0.0, 0
    while not nav.status.done and t < 20.0:
        if ticks == 0 or nav.wants_slow_update:
            nav.slow_update((1.0, 1.5, 0.0), t)
        nav.fast_tick((1.0, 1.5, 0.0), t, 1.0 / cfg.fast_rate_hz)
        t, ticks = t + 1.0 / cfg.fast_rate_hz, ticks + 1

    assert nav.status.done and not nav.status.success and 'no path' in nav.status.message
    assert nav.scans == 1  # one look-around turn (held in place here: it ends as blocked) before giving up
    assert nav.chunks <= 8 and ticks >= 4 * cfg.chunk_period_s * cfg.fast_rate_hz  # 3 tries a round, one per chunk


def test_a_step_reached_while_the_slow_system_decides_is_not_decided_again():
    from groundfm.navigation.reasoner import RuleReasoner

    class ReachedMeanwhile(RuleReasoner):
        """The fast system (another thread in the node) reaches the step while this backend is generating."""

        def generate(self, goals, step, scene, obs):
            text = super().generate(goals, step, scene, obs)
            nav.slow.advance()
            return text

    nav = Navigator(NavigationConfig(), parse_instruction('go to the sofa, then go to the kitchen'), (1.0, 1.0, 0.0),
                    backend=ReachedMeanwhile())
    nav.set_map(Grid(np.zeros((160, 160), np.int8), (0.0, 0.0), 0.05))
    nav.set_scene(_scene())

    assert nav.slow_update((1.0, 1.0, 0.0), 0.0) is None and nav.wants_slow_update  # stale: ask again, no crash
    assert nav.decision is None and not nav.status.done
    assert nav.slow_update((1.0, 1.0, 0.0), 0.1) is None and not nav.wants_slow_update  # both steps done meanwhile


def test_the_benchmark_scores_a_trajectory_with_a_gap_in_odometry():
    from groundfm.bench.nav import Episode, evaluate_trajectory
    from groundfm.navigation.reasoner import point_target

    grid = Grid(np.zeros((100, 100), np.int8), (0.0, 0.0), 0.05)
    ep = Episode(0, 'multi', 'come back', [point_target('pose', 'pose: end', (4.0, 1.0), 'end')])
    t = np.r_[np.arange(0.0, 2.0, 0.02), np.arange(4.0, 6.0, 0.02)]  # no odometry from 2 s to 4 s
    x = 1.0 + 3.0 * t / t[-1]
    trajectory = np.stack([t, x, np.ones_like(t), np.zeros_like(t)], axis=1)
    far_away = [np.array([[20.0, 20.0], [21.0, 20.0], [21.0, 21.0], [20.0, 21.0]])]

    out = evaluate_trajectory(ep, trajectory, grid, far_away, 1.0, 0.2, 6.0, 'done')

    assert out.success and math.isfinite(out.length) and 2.5 < out.length < 3.1


def test_the_benchmark_does_not_count_a_fall_inside_the_success_region_as_a_success():
    from groundfm.bench.nav import Episode, evaluate_trajectory
    from groundfm.navigation.navigator import FELL_MESSAGE
    from groundfm.navigation.reasoner import point_target

    grid = Grid(np.zeros((100, 100), np.int8), (0.0, 0.0), 0.05)
    ep = Episode(0, 'multi', 'come back', [point_target('pose', 'pose: end', (4.0, 1.0), 'end')])
    t = np.arange(0.0, 6.0, 0.02)
    trajectory = np.stack([t, 1.0 + 2.8 * t / t[-1], np.ones_like(t), np.zeros_like(t)], axis=1)  # ends 0.2 m short
    far_away = [np.array([[20.0, 20.0], [21.0, 20.0], [21.0, 21.0], [20.0, 21.0]])]

    stopped = evaluate_trajectory(ep, trajectory, grid, far_away, 1.0, 0.2, 6.0, 'reached pose: end')
    fell = evaluate_trajectory(ep, trajectory, grid, far_away, 1.0, 0.2, 6.0,
                               f'{FELL_MESSAGE} (tilt: roll 0.83 rad beyond 0.8 rad); stand it up before the next goal')

    assert stopped.success and stopped.spl > 0.5
    assert not fell.success and fell.spl == 0.0


def test_the_benchmark_does_not_count_a_stop_behind_a_wall_as_reaching_the_object():
    from groundfm.bench.nav import Episode, evaluate_trajectory, geodesic
    from groundfm.navigation.reasoner import object_target

    data = np.zeros((80, 160), np.int8)  # 4 x 8 m; a wall at x = 4 m with a doorway at y = 3.5 m
    data[:60, 79:81] = OCCUPIED
    grid = Grid(data, (0.0, 0.0), 0.05)
    tv = ObjectNode(1, 'tv', 'black', (3.5, 1.0, 0.5), (0.4, 0.4, 0.5), 0.0, 'living_room')
    ep = Episode(0, 'object', 'go to the tv', [object_target(tv)])
    behind = np.array([[t, 6.0 - t, 1.0, math.pi] for t in np.arange(0.0, 1.6, 0.05)])  # ends at x 4.5, 0.8 m away
    walls = [np.array([[3.95, 0.0], [4.05, 0.0], [4.05, 3.0], [3.95, 3.0]])]

    out = evaluate_trajectory(ep, behind, grid, walls, 1.0, 0.2, 1.6, 'done')
    ell, _ = geodesic(grid, (6.0, 1.0), ep.targets, 1.0, 0.2)

    assert out.ne < 1.0 and not out.success  # 0.8 m in a straight line, but the wall is between
    assert ell > 4.0  # the shortest way to a place beside the tv runs through the doorway

def test_rescore_scores_saved_legged_traces_again_and_skips_changed_instructions(tmp_path, capsys):
    from groundfm.bench import nav as bench
    from groundfm.navigation.planner import build_costmap
    from groundfm.sim.house import generate_house

    cfg = NavigationConfig()
    house = generate_house(3)
    grid = grid_from_house(house.to_json(), cfg.map_resolution)
    start = tuple(house.spawn[:2])
    ep, = bench.make_episodes(3, 1, grid, build_costmap(grid, bench.BODY_RADIUS_M), start=start, offset=1)
    rows = [[0.0, start[0], start[1], 0.0], [1.0, start[0] + 0.01, start[1], 0.0]]  # stood still: a failure
    stayed = bench.Outcome(True, 1.0, 0.0, 0, 1.0, 0.0, 1.0, 'reached')  # as an older success test scored it
    bench._write_trace(str(tmp_path), '3_0', ep, stayed, rows, [], offset=1)
    bench._write_trace(str(tmp_path), '3_1', bench.Episode(3, ep.kind, 'go to the moon', ep.targets), stayed, rows,
                       [], offset=2)
    from nav_msgs.msg import OccupancyGrid

    live = OccupancyGrid()  # mapping's map at the episode's end, saved beside the trace
    live.info.width, live.info.height, live.info.resolution = 3, 2, 0.05
    live.info.origin.position.x, live.info.origin.position.y = -1.0, 2.0
    live.data = [-1, 0, 100, 0, 0, 100]
    bench._write_map(str(tmp_path), '3_0', live)

    outcomes = bench.rescore(str(tmp_path), cfg)

    assert len(outcomes['all']['groundfm']) == 1 and not outcomes['all']['groundfm'][0].success
    assert outcomes['all']['groundfm'][0].geodesic > 0.5
    assert "skipped" in capsys.readouterr().out
    saved = np.load(tmp_path / 'episode_3_0_map.npz')
    assert saved['occupancy'].tolist() == [[-1, 0, 100], [0, 0, 100]]
    assert saved['origin'].tolist() == [-1.0, 2.0] and float(saved['resolution']) == pytest.approx(0.05)


def test_relational_episodes_pair_objects_in_one_room_and_name_one_object():
    from groundfm.bench.nav import RIVAL_MARGIN_M, make_episodes
    from groundfm.navigation.planner import build_costmap
    from groundfm.navigation.reasoner import NEAR_M
    from groundfm.sim.house import generate_house

    relational = 0
    for seed in (100, 102, 1002, 2188):
        house = generate_house(seed)
        grid = grid_from_house(house.to_json(), 0.05)
        costmap = build_costmap(grid, 0.22)
        for offset in range(2, 22, 4):  # KINDS[2] is relational
            for ep in make_episodes(seed, 1, grid, costmap, offset=offset):
                if ep.kind != 'relational':
                    continue
                relational += 1
                target = next(o for o in house.objects if str(o.id) == ep.targets[0].ref)
                anchor_label = ep.instruction.rsplit('next to the ', 1)[1]
                anchor = min((a for a in house.objects if a.label == anchor_label),
                             key=lambda a: float(polygon_distance(target.footprint(), a.footprint()).min()))
                assert anchor.room == target.room, (seed, ep.instruction, target.room, anchor.room)
                gap = float(polygon_distance(target.footprint(), anchor.footprint()).min())
                rivals = [float(polygon_distance(p.footprint(), a.footprint()).min()) for p in house.objects
                          if p.label == target.label and p.id != target.id
                          for a in house.objects if a.label == anchor_label]
                assert gap <= NEAR_M and min(rivals) > max(NEAR_M, gap + RIVAL_MARGIN_M), (seed, ep.instruction)
    assert relational >= 10


def test_no_episode_starts_inside_its_success_region():
    from groundfm.bench import nav as bench
    from groundfm.navigation.planner import build_costmap
    from groundfm.sim.house import generate_house

    # House 1001: a legged run ended one episode at (5.02, 7.01), 1.5 m from the centre of a 1 m shelf but 0.7 m from
    # its footprint, and the next one asked for that shelf: it "succeeded" without a step.
    house = generate_house(1001)
    grid = grid_from_house(house.to_json(), 0.05)
    costmap = build_costmap(grid, bench.BODY_RADIUS_M)
    made = 0
    start = (5.02, 7.01)
    for offset in range(8):
        for ep in bench.make_episodes(1001, 1, grid, costmap, start=start, offset=offset):
            made += 1
            assert not bench.SuccessRegions(grid, ep.targets, 1.0).reached(0, start), ep.instruction
    assert made >= 6


def test_unseen_beside_points_at_the_hidden_far_side_of_an_object_until_it_is_seen():
    from groundfm.navigation.planner import build_costmap, path_costs, unseen_beside

    data = np.full((80, 120), FREE, np.int8)  # 6 x 4 m from (0, 0); a desk at x 2.7 .. 3.3, y 1.4 .. 2.6
    desk = np.array([[2.7, 1.4], [3.3, 1.4], [3.3, 2.6], [2.7, 2.6]])
    data[28:52, 54:66] = OCCUPIED
    data[20:60, 66:90] = UNKNOWN  # seen from the west: the floor east of it is hidden
    grid = Grid(data, (0.0, 0.0), 0.05)
    costs = path_costs(build_costmap(grid, 0.22), (1.0, 2.0))

    x, y = unseen_beside(grid, desk, 1.0, costs)
    data[20:60, 66:90] = FREE
    seen = Grid(data, (0.0, 0.0), 0.05)

    assert 3.3 < x < 4.3 and 1.0 < y < 3.0  # beside the desk on its hidden side, within 1 m of it
    assert unseen_beside(seen, desk, 1.0, path_costs(build_costmap(seen, 0.22), (1.0, 2.0))) is None


def _desk_pocket_map() -> tuple[Grid, np.ndarray]:
    """A 10 x 4 m map (5 cm cells) with a desk at x 2.7-3.3, y 1.4-2.6 and walls along y 1.3 and y 2.7 east of it:
    the unseen floor east of the desk opens only at x 9.5, 15+ m of walking from (1, 2). Returns (grid, desk
    footprint (4, 2) [m])."""
    data = np.full((80, 200), FREE, np.int8)
    data[28:52, 54:66] = OCCUPIED
    data[26:28, 54:200] = OCCUPIED
    data[52:54, 54:190] = OCCUPIED
    data[28:52, 66:86] = UNKNOWN
    return Grid(data, (0.0, 0.0), 0.05), np.array([[2.7, 1.4], [3.3, 1.4], [3.3, 2.6], [2.7, 2.6]])


def test_unseen_beside_skips_a_hidden_patch_that_only_a_long_detour_reaches():
    from groundfm.navigation.planner import build_costmap, path_costs, unseen_beside

    grid, desk = _desk_pocket_map()
    costs = path_costs(build_costmap(grid, 0.22), (1.0, 2.0))

    anywhere = unseen_beside(grid, desk, 1.0, costs)
    worth_it = unseen_beside(grid, desk, 1.0, costs, robot_xy=(1.0, 2.0))

    assert anywhere is not None and anywhere[0] > 3.4  # reachable round the wall ...
    assert worth_it is None  # ... but not worth the walk: the anchor counts as seen


def test_the_slow_system_walks_round_an_anchor_whose_far_side_is_unseen():
    scene = _scene()
    scene.objects.append(ObjectNode(9, 'desk', 'brown', (1.0, 7.0, 0.4), (1.3, 0.65, 0.75)))  # chairs are 4+ m away
    slow = SlowSystem(parse_instruction('walk to the chair next to the desk'))
    obs = Observation((1.0, 1.0, 0.0), (1.0, 1.0), [Frontier((3.0, 3.0), 40)],
                      room_coverage={'living_room': 0.9, 'kitchen': 0.9}, unseen_beside={9: (1.2, 7.8)})

    up_to = slow.decide(scene, obs)
    slow.mark_frontier_visited(up_to.target.center)
    behind = slow.decide(scene, obs)
    slow.mark_frontier_visited(behind.target.center)
    after = slow.decide(scene, obs)
    obs.unseen_beside = {9: None}
    seen = SlowSystem(parse_instruction('walk to the chair next to the desk')).decide(scene, obs)

    assert up_to.action == 'explore object 9', up_to.think  # first walk up to it and look around
    assert behind.exploring and behind.action == 'explore 1.20 7.80', behind.think  # then look behind it
    assert 'beside desk #9 is not all seen' in behind.think
    assert after.action == 'explore 3.00 3.00'  # been there: on to the frontiers
    assert seen.action == 'explore 3.00 3.00'  # all around the desk is seen from afar and no chair is there


def test_known_fraction_counts_observed_cells_of_a_room_and_unseen_area_outside_the_map():
    from groundfm.navigation.planner import known_fraction

    data = np.full((40, 40), UNKNOWN, np.int8)  # 2 m x 2 m from (0, 0)
    data[:, :20] = FREE  # the west half observed
    grid = Grid(data, (0.0, 0.0), 0.05)

    assert known_fraction(grid, (0.0, 0.0, 2.0, 2.0), inset=0.0) == pytest.approx(0.5, abs=0.03)
    assert known_fraction(grid, (0.0, 0.0, 1.0, 2.0), inset=0.0) == pytest.approx(1.0, abs=0.03)
    assert known_fraction(grid, (0.0, 0.0, 4.0, 2.0), inset=0.0) == pytest.approx(0.25, abs=0.03)  # half off the map


def test_a_cut_off_room_is_approached_through_its_doorway_not_through_the_wall():
    # House 2085: the kitchen was cut off on the live map, and the approach led to the living room's side of the wall
    # the two rooms share (the straight-line nearest cell), where the robot pressed on until it gave up.
    rooms = [RoomNode('living_room', 'living_room', (0.0, 0.0, 5.0, 3.0)),
             RoomNode('kitchen', 'kitchen', (5.0, 0.0, 10.0, 3.0)),  # shares x = 5 with the living room: no door
             RoomNode('hall', 'hall', (0.0, 3.0, 10.0, 6.0))]
    doors = [DoorNode(0, ('living_room', 'hall'), (1.0, 3.0), 1.0), DoorNode(1, ('hall', 'kitchen'), (8.5, 3.0), 1.0)]
    data = np.full((160, 240), UNKNOWN, np.int8)  # 12 m x 8 m from (-1, -1), 5 cm cells
    data[18:142, 18:222] = OCCUPIED
    data[20:140, 20:220] = FREE
    data[20:80, 119:121] = OCCUPIED  # the shared wall at x = 5
    data[79:81, 20:220] = OCCUPIED  # y = 3, open at both doorways ...
    data[79:81, 30:50] = FREE
    data[79:81, 180:200] = FREE
    data[76:84, 178:202] = OCCUPIED  # ... but the map shows the kitchen's doorway shut (stereo noise, a phantom)
    grid = Grid(data, (-1.0, -1.0), 0.05)
    pose = (4.0, 1.5, 0.0)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the kitchen'), pose)
    nav.set_map(grid)
    nav.set_scene(SceneGraph([], rooms, doors, 'test'))

    nav.slow_update(pose, 0.0)
    nav.fast_tick(pose, 0.0, 0.05)

    assert nav.path is not None, nav.status.reasoning
    end = nav.path[-1]
    assert end[1] > 3.1 and abs(end[0] - 8.5) < 1.2, f'the approach ends at {end}, not in the hall by the doorway'


@pytest.mark.parametrize('gap_m, leaves', [(0.40, True), (0.25, False)])
def test_a_pocket_left_only_by_a_gap_between_furniture_is_explored_through_the_gap(gap_m, leaves):
    # House 2178: the start was walled in by a table, a tv stand, a sofa and a shelf with gaps of about 0.5 m; the
    # map's noise narrowed them below the 0.44 m the planning radius needs, and the robot gave up with no frontier.
    data = np.full((120, 200), UNKNOWN, np.int8)  # 10 m x 6 m from (-2, -3), 5 cm cells

    def fill(x0, y0, x1, y1, value):
        data[round((y0 + 3) / 0.05):round((y1 + 3) / 0.05), round((x0 + 2) / 0.05):round((x1 + 2) / 0.05)] = value

    fill(-0.8, -0.8, 1.3, 0.8, OCCUPIED)  # the pocket's furniture ring ...
    fill(-0.7, -0.7, 1.0, 0.7, FREE)  # ... its floor ...
    fill(1.0, -gap_m / 2, 1.3, gap_m / 2, FREE)  # ... and the one gap, east
    fill(1.3, -1.5, 2.5, 1.5, FREE)  # the floor beyond, seen up to x = 2.5 m
    nav = Navigator(NavigationConfig(look_around_first=False), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(Grid(data, (-2.0, -3.0), 0.05))
    nav.set_scene(SceneGraph([]))

    for k in range(4):  # each frontier the full radius cannot reach costs one slow update
        nav.slow_update((0.0, 0.0, 0.0), float(k))
        nav.fast_tick((0.0, 0.0, 0.0), float(k), 0.05)
        if nav.path is not None or nav.status.done:
            break

    if leaves:
        assert nav.path is not None and nav.path[-1][0] > 1.3, nav.status.reasoning
        assert nav.status.phase == 'exploring' and not nav.status.done
    else:  # narrower than the body: no way out, whatever the radius
        assert nav.path is None


def _pocket(shut: bool) -> Grid:
    """A 1.6 m x 1.4 m walled pocket round (0, 0) that opens east at x = 1.0 m onto a hall, unless a phantom (stereo
    noise) shuts the opening."""
    data = np.zeros((120, 200), np.int8)  # 10 m x 6 m from (-2, -3), 5 cm cells
    for x0, y0, x1, y1 in ((-0.7, 0.7, 1.0, 0.8), (-0.7, -0.8, 1.0, -0.7), (-0.8, -0.8, -0.7, 0.8)):
        data[int((y0 + 3) / 0.05):int((y1 + 3) / 0.05), int((x0 + 2) / 0.05):int((x1 + 2) / 0.05)] = OCCUPIED
    if shut:
        data[int(2.3 / 0.05):int(3.7 / 0.05), int(2.85 / 0.05):int(2.95 / 0.05)] = OCCUPIED  # x 0.85 .. 0.95
    return Grid(data, (-2.0, -3.0), 0.05)


@pytest.mark.parametrize('clears', [True, False])
def test_a_goal_the_map_shows_cut_off_is_looked_at_again_before_it_is_given_up(clears):
    fridge = ObjectNode(1, 'fridge', 'white', (3.0, 0.0, 0.9), (0.4, 0.4, 1.8))
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(_pocket(shut=True))
    nav.set_scene(SceneGraph([fridge]))
    pose, t, last_slow, turned = (0.0, 0.0, 0.0), 0.0, -math.inf, 0.0
    while not nav.status.done and t < 120.0:
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        turned += abs(cmd.w) * 0.05
        if clears and turned > math.pi:  # halfway round, fresh views have seen through the phantom
            nav.set_map(_pocket(shut=False))
        pose = _unicycle(pose, cmd)
        t += 0.05

    assert nav.scans == 1 and turned > 2 * math.pi - 0.5  # one whole turn in place first
    if clears:
        assert nav.status.success and math.dist(pose[:2], (3.0, 0.0)) < 1.0, nav.status.message
    else:
        message = nav.status.message
        assert not nav.status.success and message.startswith('no path to object: white fridge'), message


def test_an_object_against_a_wall_is_approached_from_its_own_side():
    from groundfm.navigation.navigator import goal_mask
    from groundfm.navigation.reasoner import Target

    data = np.zeros((80, 80), np.int8)  # 4 m x 4 m from (0, 0)
    data[40:42, :] = OCCUPIED  # a 0.10 m wall along y = 2.0 .. 2.1
    tv = np.array([[1.5, 2.1], [2.5, 2.1], [2.5, 2.4], [1.5, 2.4]])  # a tv flush against its north face
    grid = Grid(data, (0.0, 0.0), 0.05)

    mask = goal_mask(Target('object', 'object: tv #2', tv, '2'), grid, NavigationConfig())
    ys = grid.center_of(np.argwhere(mask & ~grid.occupied()))[:, 1]

    assert (ys > 2.1).all() and (ys > 2.6).any()  # only the tv's side (no free cell south of the wall), to 0.5 m
    ringed = data.copy()
    ringed[41:51, 28:52] = OCCUPIED  # mapping drew the tv larger than its box on every side
    fallback = goal_mask(Target('object', 'object: tv #2', tv, '2'), Grid(ringed, (0.0, 0.0), 0.05), NavigationConfig())
    assert fallback.sum() > mask.sum()  # nothing free joins it: every cell in reach, as before


def test_the_next_room_to_search_is_the_nearest_by_path_not_through_the_wall():
    slow = SlowSystem(parse_instruction('go to the lamp'))
    scene = _scene()
    scene.rooms.append(RoomNode('study', 'office', (0.0, 8.0, 4.0, 12.0)))  # just north of the living room's wall
    obs = Observation((1.0, 7.5, 0.0), (1.0, 7.5), [Frontier((3.0, 3.0), 40)], looked_around=('living_room',),
                      room_coverage={'living_room': 0.9, 'kitchen': 0.1, 'study': 0.0},
                      room_path_costs={'living_room': 0.0, 'kitchen': 3.5, 'study': 9.0})  # its door is far

    assert slow.decide(scene, obs).action == 'explore room kitchen'
    assert slow.decide(scene, Observation(obs.pose, obs.start, obs.frontiers, looked_around=obs.looked_around,
                                          room_coverage=obs.room_coverage)).action == 'explore room study'


def test_the_room_being_walked_to_stays_the_choice_unless_another_gets_much_cheaper():
    scene = _scene()
    scene.rooms.append(RoomNode('study', 'office', (0.0, 8.0, 4.0, 12.0)))
    slow = SlowSystem(parse_instruction('go to the lamp'))

    def choose(kitchen: float, study: float) -> str:
        obs = Observation((1.0, 7.5, 0.0), (1.0, 7.5), [Frontier((3.0, 3.0), 40)], looked_around=('living_room',),
                          room_coverage={'living_room': 0.9, 'kitchen': 0.1, 'study': 0.0},
                          room_path_costs={'living_room': 0.0, 'kitchen': kitchen, 'study': study})
        return slow.decide(scene, obs).action

    first = choose(kitchen=3.5, study=4.0)
    noisy = choose(kitchen=4.5, study=3.5)  # map noise makes the study look 1 m nearer: keep walking to the kitchen
    cheaper = choose(kitchen=6.0, study=3.5)  # 2.5 m nearer: switch

    assert (first, noisy, cheaper) == ('explore room kitchen', 'explore room kitchen', 'explore room study')


def test_an_anchor_whose_unseen_floor_is_too_far_round_stays_searched_for_the_goal():
    from groundfm.navigation.planner import build_costmap, path_costs, unseen_beside

    grid, _ = _desk_pocket_map()
    desk = ObjectNode(9, 'desk', 'brown', (3.0, 2.0, 0.4), (0.6, 1.2, 0.75))  # the same footprint, as an anchor
    nav = Navigator(NavigationConfig(), parse_instruction('walk to the chair next to the desk'), (1.0, 2.0, 0.0))
    costs = path_costs(build_costmap(grid, 0.22), (1.0, 2.0))

    from_afar = nav._unseen_beside(grid, desk, costs, None, (1.0, 2.0, 0.0))
    from_anywhere = nav._unseen_beside(grid, desk, costs, None, (12.0, 2.0, 0.0))  # a pose where the bound passes

    assert unseen_beside(grid, desk.footprint(), 1.0, costs) is not None  # the pocket is there ...
    assert from_afar is None and from_anywhere is None  # ... but once not worth the walk, it stays so


def test_the_kinematic_benchmark_explores_a_revealed_map_and_writes_a_trace(tmp_path):
    import argparse
    import json

    from groundfm.bench import nav as bench
    from groundfm.navigation.planner import build_costmap
    from groundfm.sim.house import generate_house

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(['--map', 'revealed', '--no-depth', '--trace', str(tmp_path)])
    house = generate_house(100)
    cfg = NavigationConfig()
    grid = grid_from_house(house.to_json(), cfg.map_resolution)
    episode = bench.make_episodes(100, 1, grid, build_costmap(grid, bench.BODY_RADIUS_M))[0]

    out = bench.run_episode('groundfm', episode, house, grid, cfg, args, name='100_0')
    trace = json.loads((tmp_path / 'episode_100_0.json').read_text())

    assert out.success, out.message
    assert trace['instruction'] == episode.instruction and len(trace['odometry_t_x_y_yaw']) > 10
    assert any('not in view: first turn in place' in line for line in trace['feedback'])  # it started blind


def test_the_kinematic_base_slides_along_a_wall_it_is_driven_into():
    from types import SimpleNamespace

    from groundfm.bench.nav import KinematicBase
    from groundfm.sim.house import Wall

    house = SimpleNamespace(walls=[Wall((0.0, 1.0), (6.0, 1.0), 0.1, 2.5)], objects=[])  # a wall along y = 1
    base = KinematicBase(house, (1.0, 0.55, math.radians(30)), render_depth=False)  # heading into it at 30 deg

    for _ in range(40):
        base.step(0.5, 0.0, 0.05)

    assert base.collisions == 1  # one contact, held
    assert base.pose[0] > 1.8 and base.pose[1] < 1.0  # it slid along the wall, not through it and not stuck
    assert not base._collides(base.pose)

    sideways = KinematicBase(house, (1.0, 0.0, math.pi / 2), render_depth=False)  # facing the wall, 0.6 m off it
    for _ in range(20):
        sideways.step(0.0, 0.0, 0.05, vy=0.2)  # to its left: -x
    assert sideways.pose == pytest.approx((0.8, 0.0, math.pi / 2))


@pytest.mark.parametrize('shaking', [False, True])
def test_a_blocked_look_around_turn_ends_and_the_slow_system_is_asked_again(shaking):
    grid = Grid(np.full((80, 80), FREE, np.int8), (0.0, 0.0), 0.05)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the lamp'), (2.0, 2.0, 0.0))
    nav.set_map(grid)
    nav.set_scene(SceneGraph([], [RoomNode('den', 'living_room', (0.0, 0.0, 4.0, 4.0))]))
    nav.slow_update((2.0, 2.0, 0.0), 0.0)  # nothing seen: it starts with a look-around turn
    yaw, t, notes, tick = 0.0, 0.0, [], 0
    while t < 8.0 and nav._scan is not None:
        t, tick = t + 0.05, tick + 1
        # A body corner against furniture: the turn stops at 0.3 rad; a legged body held there shakes in yaw.
        jitter = 0.06 * (-1) ** tick if shaking else 0.0
        notes.append(nav.fast_tick((2.0, 2.0, yaw + jitter), t, 0.05).note)
        yaw = min(yaw + 0.03, 0.3)

    assert nav._scan is None and 'look-around turn blocked' in notes, notes[-3:]
    assert SCAN_STALL_S <= t < SCAN_STALL_S + 1.5  # SCAN_STALL_S after the turn stopped gaining
    assert nav.wants_slow_update and 'turn is blocked' in nav.status.reasoning


def test_floor_plan_walls_close_unseen_room_edges_but_doorways_and_the_mapped_floor():
    from groundfm.navigation.planner import floor_plan_walls

    data = np.full((100, 160), UNKNOWN, np.int8)  # 8 m x 5 m; rooms x 0..4 and x 4..8 (y 0..4) meeting at x = 4
    data[60:80, :] = FREE  # the strip y 3..4 m is mapped free, across the edge
    grid = Grid(data, (0.0, 0.0), 0.05)

    walled = floor_plan_walls(grid, [(0.0, 0.0, 4.0, 4.0), (4.0, 0.0, 8.0, 4.0)], [(4.0, 1.0, 0.8)])

    column = walled.data[:80, 79:81]  # the cells either side of x = 4 m, inside the house
    assert (column[:12] == OCCUPIED).all() and (column[28:60] == OCCUPIED).all()  # the unseen edge is wall ...
    assert (column[12:28] == UNKNOWN).all()  # ... except the doorway (y 0.6..1.4 m), still unknown
    assert (column[60:] == FREE).all()  # observed cells keep what the map says
    assert (walled.data[:80, :78] == grid.data[:80, :78]).all()  # the rooms' unseen floor stays unknown
    assert (walled.data[83:] == OCCUPIED).all()  # outside every room (beyond y 4.15 m): wall
    seen = Grid(np.zeros((80, 160), np.int8), (0.0, 0.0), 0.05)
    assert floor_plan_walls(seen, [(0.0, 0.0, 4.0, 4.0)], []) is seen  # nothing unknown: nothing to change


@pytest.mark.parametrize('walls', [True, False, 'no doors'])
def test_a_plan_into_the_next_room_goes_through_its_door_not_an_unseen_wall(walls):
    data = np.full((80, 160), UNKNOWN, np.int8)  # nothing mapped but the robot's own surroundings
    data[30:50, 50:75] = FREE
    rooms = [RoomNode('den', 'living_room', (0.0, 0.0, 4.0, 4.0)), RoomNode('study', 'office', (4.0, 0.0, 8.0, 4.0))]
    doors = [] if walls == 'no doors' else [DoorNode(0, ('den', 'study'), (4.0, 0.6), 0.9)]
    cfg = NavigationConfig(floor_plan_walls=bool(walls))
    nav = Navigator(cfg, parse_instruction('go to the study'), (3.0, 2.0, 0.0))
    nav.set_map(Grid(data, (0.0, 0.0), 0.05))
    nav.set_scene(SceneGraph([], rooms, doors))  # a floor plan without doorways cannot say where the walls open

    nav.slow_update((3.0, 2.0, 0.0), 0.0)
    nav.fast_tick((3.0, 2.0, 0.0), 0.0, 0.05)

    crossing = nav.path[np.argmin(np.abs(nav.path[:, 0] - 4.0))]
    assert nav.path[-1][0] > 4.3  # into the study, not only up to the nearest reachable cell
    if walls is True:
        assert abs(crossing[1] - 0.6) < 0.45, crossing  # through the doorway at y = 0.6 m
    else:
        assert abs(crossing[1] - 2.0) < 0.3, crossing  # straight through where the wall is not mapped yet


def test_stereo_noise_across_a_doorway_does_not_send_the_robot_round_by_the_other_door():
    """House 2410: a few occupied cells smeared across a mapped doorway sent "go to the office" 12.6 m round the house
    for 1.7 m. A floor-plan doorway's opening is taken as open (the depth guard still stops at a real obstacle)."""
    data = np.zeros((80, 160), np.int8)  # 8 m x 4 m, mapped free; rooms x 0..4 and x 4..8 meeting at x = 4
    data[:, 79:81] = OCCUPIED  # the wall between them, mapped ...
    data[3:21, 79:81] = FREE  # ... with a doorway at y 0.15..1.05 m ...
    data[59:77, 79:81] = FREE  # ... and one at y 2.95..3.85 m
    data[10:16, 78:82] = OCCUPIED  # stereo noise across the first doorway: the gaps either side are too narrow
    rooms = [RoomNode('den', 'living_room', (0.0, 0.0, 4.0, 4.0)), RoomNode('study', 'office', (4.0, 0.0, 8.0, 4.0))]
    doors = [DoorNode(0, ('den', 'study'), (4.0, 0.6), 0.9), DoorNode(1, ('den', 'study'), (4.0, 3.4), 0.9)]
    nav = Navigator(NavigationConfig(), parse_instruction('go to the study'), (3.0, 0.6, 0.0))
    nav.set_map(Grid(data, (0.0, 0.0), 0.05))
    nav.set_scene(SceneGraph([], rooms, doors))

    nav.slow_update((3.0, 0.6, 0.0), 0.0)
    nav.fast_tick((3.0, 0.6, 0.0), 0.0, 0.05)

    crossing = nav.path[np.argmin(np.abs(nav.path[:, 0] - 4.0))]
    assert abs(crossing[1] - 0.6) < 0.3, crossing  # not through the other doorway at y = 3.4 m


def test_floor_plan_doorway_openings_are_cleared_only_over_their_width_and_near_the_wall():
    from groundfm.navigation.planner import doorway_opening, floor_plan_walls

    data = np.zeros((80, 160), np.int8)
    data[:, 79:81] = OCCUPIED  # the wall at x = 4 m, mapped whole: a doorway at (4.0, 2.0) closed by noise
    data[38:42, 70:75] = OCCUPIED  # a box in the room, 0.25..0.5 m from the wall line, in front of the doorway
    grid = Grid(data, (0.0, 0.0), 0.05)
    rooms, doors = [(0.0, 0.0, 4.0, 4.0), (4.0, 0.0, 8.0, 4.0)], [(4.0, 2.0, 0.8)]

    opened = floor_plan_walls(grid, rooms, doors, doorway_depth=0.15)

    assert doorway_opening(doors[0], rooms, 0.15) == (3.85, 1.6, 4.15, 2.4)
    assert (opened.data[33:47, 79:81] == FREE).all()  # the opening (y 1.65..2.35 m) is taken as free
    assert (opened.data[:31, 79:81] == OCCUPIED).all() and (opened.data[49:, 79:81] == OCCUPIED).all()  # wall
    assert (opened.data[38:42, 70:75] == OCCUPIED).all()  # the box stays: it is not on the wall line
    assert floor_plan_walls(grid, rooms, doors) is grid  # without a depth: the map as it is


# --- the walked trail -----------------------------------------------------------------------------------------------


def test_trail_keeps_spaced_recent_positions_and_restarts_when_the_clock_goes_back():
    from groundfm.navigation.trail import Trail

    trail = Trail(memory_s=10.0, spacing_m=0.05)
    for i in range(100):  # 0.02 m per step for 2 s: every third position is kept (0.06 m apart)
        trail.add((0.02 * i, 0.0), 0.02 * i)
    assert len(trail) == 34 and np.allclose(np.diff(trail.points()[:, 0]), 0.06)
    trail.add((5.0, 0.0), 11.0)  # 11 s later: the positions from before t = 1 s are forgotten
    assert trail.points()[0, 0] >= 0.5 - 1e-9 and trail.points()[-1, 0] == 5.0
    trail.add((7.0, 0.0), 3.0)  # the clock went back by 8 s (a sim reset)
    assert trail.points().tolist() == [[7.0, 0.0]]
    off = Trail(memory_s=0.0)
    off.add((1.0, 1.0), 0.0)
    assert len(off) == 0


def test_the_way_back_follows_the_trail_out_and_skips_jitter_in_place():
    from groundfm.navigation.trail import Trail

    trail = Trail(memory_s=60.0, spacing_m=0.05)
    t = 0.0
    for x in np.arange(0.0, 1.0, 0.05):  # east along y = 0 ...
        trail.add((x, 0.0), t := t + 0.1)
    for y in np.arange(0.05, 0.6, 0.05):  # ... then north along x = 1
        trail.add((1.0, y), t := t + 0.1)
    for dx in (0.06, -0.06, 0.06):  # held: the body shakes in place
        trail.add((1.0 + dx, 0.55), t := t + 0.1)

    way = trail.way_back((1.0, 0.55), 0.8)
    reach = np.linalg.norm(way - [1.0, 0.55], axis=1)
    assert np.all(np.diff(reach) > 0) and reach[-1] >= 0.8 > reach[-2]  # each point farther, up to the distance
    assert way[-1][1] == 0.0 and way[-1][0] < 1.0  # round the corner onto the east-west leg
    assert trail.way_back((1.0, 0.55), 5.0) is None  # the trail does not reach that far back
    assert trail.way_back((3.0, 3.0), 0.5) is None  # the robot is not where the trail ends
    assert Trail(memory_s=60.0).way_back((0.0, 0.0), 0.5) is None


def test_trail_mask_is_a_corridor_along_the_walk_and_leaves_jumps_open():
    from groundfm.navigation.planner import trail_mask

    grid = Grid(np.zeros((40, 80), np.int8), (0.0, 0.0), 0.05)
    walk = np.stack([np.linspace(0.5, 1.5, 11), np.full(11, 1.0)], axis=1)  # 0.1 m steps along y = 1.0
    jump = np.array([[3.5, 1.0]])  # then 2 m in one step: a relocalisation, not a walk

    mask = trail_mask(grid, np.concatenate([walk, jump]))

    row = grid.cell_of((1.0, 1.0))[0]
    assert mask[row, 10:31].all() and mask[row - 1, 10:31].all() and mask[row + 1, 10:31].all()
    assert not mask[row + 2].any() and not mask[row - 2].any()  # three cells wide
    assert not mask[row, 32:69].any() and mask[row, 70]  # nothing across the jump, only its end


def _dead_end_corridor() -> Grid:
    """A 4 x 3 m map with a dead-end corridor 0.4 m wide along +x (x 0 .. 2.5 m, y -0.2 .. 0.2 m) and two noisy
    occupied cells inside it at x = 1.0 m: the live map shows the corridor closed behind a robot at its end."""
    grid = Grid(np.zeros((60, 100), np.int8), (-2.0, -1.5), 0.05)
    for x0, y0, x1, y1 in ((0.0, 0.2, 2.6, 0.3), (0.0, -0.3, 2.6, -0.2), (2.5, -0.3, 2.6, 0.3)):
        (r0, c0), (r1, c1) = grid.cell_of((x0, y0)), grid.cell_of((x1, y1))
        grid.data[r0:r1, c0:c1] = OCCUPIED
    row, col = grid.cell_of((1.0, 0.1))
    grid.data[row, col:col + 2] = OCCUPIED
    return grid


def _walked_in(memory_s: float = 300.0):
    from groundfm.navigation.trail import Trail

    trail = Trail(memory_s)
    for i, x in enumerate(np.arange(-1.5, 2.0001, 0.05)):
        trail.add((x, 0.0), 0.1 * i)
    return trail


def test_planning_keeps_the_walked_trail_passable_where_the_map_closed_it():
    from groundfm.navigation.planner import plan_on, trail_mask

    grid = _dead_end_corridor()
    outside = np.zeros(grid.shape, bool)
    outside[grid.cell_of((-1.5, 1.0))] = True
    blind = build_costmap(grid, 0.22)
    narrow = build_costmap(grid, 0.175)  # the body's half width + 2 cm: the navigator's fallback
    walked = build_costmap(grid, 0.22, passable=trail_mask(grid, _walked_in().points()))

    assert plan_on(blind, (2.0, 0.0), outside, 0.22).path is None
    assert plan_on(narrow, (2.0, 0.0), outside, 0.175).path is None  # the noise closes it even for the bare body
    result = plan_on(walked, (2.0, 0.0), outside, 0.22)
    assert result.path is not None and result.path[-1][0] < -1.0
    inside = result.path[result.path[:, 0] > 0.1]
    assert np.abs(inside[:, 1]).max() <= 0.1  # back along the trail, off the corridor walls


def _leave_dead_end(trail) -> tuple[Navigator, list]:
    """From the corridor's end (2.0, 0) facing its dead end, go to a fridge outside; returns the navigator and every
    (pose, command)."""
    fridge = ObjectNode(1, 'fridge', 'white', (-1.5, 1.0, 0.9), (0.4, 0.4, 1.8))
    start = (2.0, 0.0, 0.0)
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), start, trail=trail)
    nav.set_map(_dead_end_corridor())
    nav.set_scene(SceneGraph([fridge]))
    walls = nav.grid.center_of(np.argwhere(nav.grid.data == OCCUPIED))
    pose, t, last_slow, steps = start, 20.0, -math.inf, []
    while not nav.status.done and t < 90.0:
        ahead = (walls - pose[:2]) @ np.array([math.cos(pose[2]), math.sin(pose[2])]) > 0.0
        nav.set_depth_obstacles(walls[ahead], t)  # the camera sees what is in front of the body
        if nav.wants_slow_update or t - last_slow >= 1.0:
            nav.slow_update(pose, t)
            last_slow = t
        cmd = nav.fast_tick(pose, t, 0.05)
        steps.append((pose, cmd))
        pose = _unicycle(pose, cmd)
        t += 0.05
    return nav, steps


def test_with_no_room_to_turn_it_reverses_out_along_its_trail():
    nav, steps = _leave_dead_end(_walked_in())
    blind, _ = _leave_dead_end(_walked_in(memory_s=0.0))  # trail_memory_s 0: no trail

    assert nav.status.success, nav.status.message
    assert not blind.status.success and 'no path' in blind.status.message, blind.status.message
    in_corridor = [(p, cmd) for p, cmd in steps if p[0] > 0.4]
    assert all(abs(local.wrap_angle(p[2])) < 0.3 for p, _ in in_corridor)  # never tried to turn in the corridor
    assert all(cmd.v <= 0.0 for _p, cmd in in_corridor) and min(cmd.v for _p, cmd in in_corridor) < -0.1
    assert any('reversing along the trail' in cmd.note for _p, cmd in in_corridor)


@pytest.mark.parametrize('wall_y', [-0.3, -1.0])
def test_it_turns_in_place_slowly_where_the_body_would_sweep_into_an_obstacle(wall_y):
    # House 2080: an in-place turn at 0.88 rad/s between a tv and a chair tipped the robot over. Turning in place
    # 0.24-0.34 m from furniture tipped it over in 7 of 97 spots at 1.0 rad/s, in none at 0.4 rad/s
    # (benchmarks/cramped_turns.py, BENCHMARKS.md).
    fridge = ObjectNode(1, 'fridge', 'white', (0.0, 3.0, 0.9), (0.4, 0.4, 1.8))  # straight to the left
    grid = Grid(np.zeros((120, 120), np.int8), (-3.0, -3.0), 0.05)
    (r0, c0), (r1, c1) = grid.cell_of((-1.0, wall_y - 0.05)), grid.cell_of((1.0, wall_y))
    grid.data[r0:r1 + 1, c0:c1 + 1] = OCCUPIED  # a wall along y = wall_y
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0))
    nav.set_map(grid)
    nav.set_scene(SceneGraph([fridge]))
    pose = (0.0, 0.0, 0.0)
    nav.slow_update(pose, 0.0)

    # 1.5 s at the start pose (longer, and a body that does not turn as commanded counts as held: a recovery)
    commands = [nav.fast_tick(pose, 0.05 * i, 0.05) for i in range(30)]

    turning = [cmd for cmd in commands if cmd.w > 0.0]
    assert turning and all(cmd.v == 0.0 for cmd in turning)
    if wall_y > -0.41:  # within the body's sweep circle (0.38 m) plus its margin
        assert max(cmd.w for cmd in turning) <= CRAMPED_YAW_RATE + 1e-9
        assert any('no room to turn fast' in cmd.note for cmd in turning)
    else:
        assert max(cmd.w for cmd in turning) > 0.9


def test_when_the_depth_leaves_no_room_to_turn_it_reverses_along_its_trail_at_once():
    from groundfm.navigation.trail import Trail

    trail = Trail(300.0)
    for i, x in enumerate(np.arange(-2.0, 0.0001, 0.05)):  # it walked in along y = 0 to (0, 0)
        trail.add((x, 0.0), 0.1 * i)
    fridge = ObjectNode(1, 'fridge', 'white', (-3.0, 0.0, 0.9), (0.4, 0.4, 1.8))
    corners = np.array([[0.3, 0.25], [0.3, -0.25]])  # in view at both front corners: the map shows nothing there
    nav = Navigator(NavigationConfig(), parse_instruction('go to the fridge'), (0.0, 0.0, 0.0), trail=trail)
    nav.set_map(Grid(np.zeros((80, 120), np.int8), (-4.0, -2.0), 0.05))
    nav.set_scene(SceneGraph([fridge]))
    pose, t, steps = (0.0, 0.0, 0.0), 10.0, []
    while not nav.status.done and t < 40.0:
        nav.set_depth_obstacles(corners, t)
        if nav.wants_slow_update or not steps:
            nav.slow_update(pose, t)
        cmd = nav.fast_tick(pose, t, 0.05)
        steps.append((pose, cmd))
        pose = _unicycle(pose, cmd)
        t += 0.05

    assert nav.status.success, nav.status.message
    assert nav.backups == 0 and not any('no room to turn' in cmd.note for _p, cmd in steps)
    reversing = [i for i, (_p, cmd) in enumerate(steps) if cmd.note == 'reversing along the trail']
    assert reversing and reversing[0] * 0.05 < 1.0  # at once, not after STUCK_S of being held
    assert all(abs(p[2]) < 0.1 for p, _cmd in steps[:reversing[-1]])  # no turn until clear of the corners
