"""The navigation node with its default inputs, as a real process over real DDS: the live map, not ground truth.

The test client plays the robot (a kinematic base integrating cmd_vel into odom; a disk the body's width that slides
along walls and furniture and never passes through them), the mapping node (a growing
map/occupancy and map/objects from what a forward camera has seen, groundfm.bench.revealed_map) and the sim's
sim/scene. The sim/scene it latches is a DECOY: every object there is relabelled, so a node that took objects or the
map from the ground truth would drive somewhere else, or not start; only the floor plan's rooms (room_source
sim_scene) are true.
"""

import copy
import json
import math
import os
import sys
import threading
import time
from array import array

import pytest
from geometry_msgs.msg import Point, Pose, Quaternion, Twist, Vector3
from nav_msgs.msg import MapMetaData, OccupancyGrid, Odometry
from proc_utils import DiskBody, NodeProcess, RosClient, next_domain_id, wait_until
from rclpy.action import ActionClient
from std_msgs.msg import Header, String

from groundfm.bench.revealed_map import RevealedMap
from groundfm.ros import qos
from groundfm.ros.convert import planar_odometry, stamp_from_seconds
from groundfm.sim.house import House, generate_house, point_polygon_distance
from groundfm_interfaces.action import Navigate
from groundfm_interfaces.msg import Object3D, Object3DArray

SEED = 100
COMMAND_TIMEOUT_S = 0.5  # like control's watchdog: no cmd_vel for this long and the robot stands [s]
ID_OFFSET = 500  # map instance ids differ from the ground truth's, as a segmenter's would


class FakeRobotAndMap:
    """Integrates cmd_vel into odom at 50 Hz; publishes the revealed grid and objects at 2 Hz.

    The robot is a disk of the body's width: a step that would bring its centre nearer than that to a wall or a piece of
    furniture slides along one axis or is dropped, and turning is always free. Without this a loaded machine (a late
    cmd_vel runs on for up to COMMAND_TIMEOUT_S) once drove it into a wall, from where no path leads out; with the
    bench's full body rectangle, a turn near a door frame could pin it, which this test (no depth) is not about."""

    def __init__(self, client: RosClient, house: House, publish_map: bool = True) -> None:
        self.house = house_json = house.to_json()
        spawn = house_json['spawn']
        self.pose = [spawn['x'], spawn['y'], spawn['yaw']]
        self.body = DiskBody(house)
        self.twist = Twist()
        self.twist_time = -math.inf
        self.commands = 0
        self.lock = threading.Lock()
        self.mapper = RevealedMap(house_json)
        self.map_publications = 0
        node = client.node
        self._odom = node.create_publisher(Odometry, 'odom', qos.STATE)
        self._grid = node.create_publisher(OccupancyGrid, 'map/occupancy', qos.LATCHED)
        self._objects = node.create_publisher(Object3DArray, 'map/objects', qos.LATCHED)
        scene = node.create_publisher(String, 'sim/scene', qos.LATCHED)
        scene.publish(String(data=json.dumps(decoy(house_json))))
        node.create_subscription(Twist, 'cmd_vel', self._on_cmd, qos.COMMAND)
        node.create_timer(0.02, self._step)
        if publish_map:
            node.create_timer(0.5, self._publish_map)

    def _on_cmd(self, msg: Twist) -> None:
        with self.lock:
            self.twist = msg
            self.twist_time = time.monotonic()
            self.commands += 1

    def _step(self) -> None:
        with self.lock:
            if time.monotonic() - self.twist_time > COMMAND_TIMEOUT_S:  # the control node's watchdog: stand still
                self.twist = Twist()
            self.pose = self.body.step(self.pose, self.twist.linear.x, self.twist.angular.z, 0.02)
            x, y, yaw = self.pose
        self._odom.publish(planar_odometry(x, y, yaw, time.time()))

    def _publish_map(self) -> None:
        with self.lock:
            pose = tuple(self.pose)
        self.mapper.observe(pose)
        grid = self.mapper.grid()
        header = Header(stamp=stamp_from_seconds(time.time()), frame_id='map')
        info = MapMetaData(resolution=float(grid.resolution), width=grid.shape[1], height=grid.shape[0],
                           origin=Pose(position=Point(x=float(grid.origin[0]), y=float(grid.origin[1])),
                                       orientation=Quaternion(w=1.0)))
        msg = OccupancyGrid(header=header, info=info)
        data = array('b')
        data.frombytes(grid.data.tobytes())
        msg.data = data
        self._grid.publish(msg)
        objects = Object3DArray(header=header)
        for o in self.mapper.seen_objects():
            yaw = float(o['yaw'])
            objects.objects.append(Object3D(
                id=ID_OFFSET + int(o['id']), label=o['label'], confidence=1.0, color_name=o['color_name'],
                center=Pose(position=Point(x=float(o['center'][0]), y=float(o['center'][1]), z=float(o['center'][2])),
                            orientation=Quaternion(z=math.sin(yaw / 2), w=math.cos(yaw / 2))),
                size=Vector3(x=float(o['size'][0]), y=float(o['size'][1]), z=float(o['size'][2]))))
        self._objects.publish(objects)
        self.map_publications += 1


def decoy(house_json: dict) -> dict:
    """The house with true walls and rooms but every object's label rotated to another object's label."""
    out = copy.deepcopy(house_json)
    labels = [o['label'] for o in out['objects']]
    shift = next(k for k in range(1, len(labels)) if all(a != b for a, b in zip(labels, labels[k:] + labels[:k],
                                                                               strict=True)))
    for o, label in zip(out['objects'], labels[shift:] + labels[:shift], strict=True):
        o['label'] = label
    return out


def _run_goal(client: RosClient, action: ActionClient, instruction: str, timeout: float,
              feedback: list | None = None):
    handle = client.send_goal(action, Navigate.Goal(instruction=instruction),
                              (lambda fb: feedback.append(fb.feedback)) if feedback is not None else None, 10.0)
    assert handle.accepted
    result = handle.get_result_async()
    assert wait_until(result.done, timeout), 'no result in time'
    return result.result().result


def _start(node_args: tuple[str, ...], publish_map: bool = True):
    domain = next_domain_id()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
    proc = NodeProcess([sys.executable, '-m', 'groundfm.navigation.node', '--ros-args', *node_args], env=env)
    client = RosClient('nav_live_tester', domain_id=domain)
    world = FakeRobotAndMap(client, generate_house(SEED), publish_map)
    action = ActionClient(client.node, Navigate, 'navigate')
    return proc, client, world, action


def _stop(proc, client, action) -> None:
    action.destroy()
    client.close()
    code = proc.stop()
    assert code == 0, f'navigation exited with {code}:\n{proc.output()}'


def test_default_inputs_are_mapping_and_the_depth_node_and_ground_truth_is_not_used():
    # Default parameters except short waits: no stand-in may fill in for a missing map or missing depth.
    proc, client, world, action = _start(('-p', 'inputs_wait_s:=1.5', '-p', 'stale_abort_s:=1.0'), publish_map=False)
    try:
        line = proc.wait_for_line('navigate ready', timeout=30)
        assert action.wait_for_server(timeout_sec=20)
        assert 'map: map/occupancy; objects: map/objects; rooms: STAND-IN sim/scene floor plan; depth: depth/image' \
            in line, line
        assert 'ground truth' not in line

        # sim/scene is latched, map/occupancy is not
        no_map = _run_goal(client, action, 'go to the kitchen', timeout=15)

        assert not no_map.success and 'no occupancy map on map/occupancy' in no_map.message, no_map.message
        assert no_map.path_length == 0.0

        world._publish_map()  # now the map is there, but nothing publishes depth/image
        no_depth = _run_goal(client, action, 'go to the kitchen', timeout=15)

        assert not no_depth.success and 'no depth on depth/image' in no_depth.message, no_depth.message
        assert no_depth.path_length == 0.0
    finally:
        _stop(proc, client, action)


@pytest.fixture(scope='module')
def live():
    proc, client, world, action = _start(('-p', 'use_depth:=false', '-p', 'max_speed:=1.0', '-p',
                                          'inputs_wait_s:=3.0'))
    try:
        proc.wait_for_line('navigate ready', timeout=30)
        assert action.wait_for_server(timeout_sec=20)
        assert wait_until(lambda: world.map_publications >= 2, 10)
        yield proc, client, world, action
    finally:
        _stop(proc, client, action)


# Back in the default suite: it failed 3 of 7 runs on 2026-11-30 ("no unexplored frontier is left"); with the
# look-around before exploring, room priors and frontier hysteresis it passed 6 of 6 the next day, under load.
def test_unseen_object_is_found_by_exploring_the_live_map_not_from_ground_truth(live):
    proc, client, world, action = live
    house = world.house
    with world.lock:
        pose = tuple(world.pose)
    seen = {o['id'] for o in world.mapper.seen_objects()}
    labels = [o['label'] for o in house['objects']]
    target = max((o for o in house['objects'] if labels.count(o['label']) == 1 and o['id'] not in seen),
                 key=lambda o: math.dist(o['center'][:2], pose[:2]))
    feedback: list = []

    result = _run_goal(client, action, f'go to the {target["label"]}', timeout=150, feedback=feedback)

    assert result.success, f'{result.message}\n' + '\n'.join(sorted({fb.reasoning for fb in feedback}))
    assert f'#{ID_OFFSET + target["id"]}' in result.message  # the mapping instance, not a sim/scene id
    phases = [fb.phase for fb in feedback]
    assert Navigate.Feedback.PHASE_EXPLORING in phases, phases
    assert phases.index(Navigate.Feedback.PHASE_EXPLORING) < phases.index(Navigate.Feedback.PHASE_NAVIGATING)
    assert any(fb.current_subgoal.startswith(('frontier:', 'search:', 'near:', 'scan')) for fb in feedback)
    final = result.final_pose.pose.position
    from groundfm.navigation.reasoner import ObjectNode

    footprint = ObjectNode(0, '', '', target['center'], target['size'], target['yaw']).footprint()
    assert point_polygon_distance((final.x, final.y), footprint) <= 1.0
    assert proc.output().count('STAND-IN room layout') >= 1


def test_room_goal_on_the_live_map(live):  # shares the live fixture's robot with the test above: inherits its state
    _proc, client, world, action = live
    with world.lock:
        pose = tuple(world.pose)
    room = max((r for r in world.house['rooms'] if sum(q['kind'] == r['kind'] for q in world.house['rooms']) == 1),
               key=lambda r: math.dist(pose[:2], ((r['bounds'][0] + r['bounds'][2]) / 2,
                                                  (r['bounds'][1] + r['bounds'][3]) / 2)))

    feedback: list = []
    result = _run_goal(client, action, f'go to the {room["kind"].replace("_", " ")}', timeout=150, feedback=feedback)

    assert result.success, f'{result.message}\n' + '\n'.join(dict.fromkeys(fb.reasoning for fb in feedback))
    x0, y0, x1, y1 = room['bounds']
    final = result.final_pose.pose.position
    assert x0 <= final.x <= x1 and y0 <= final.y <= y1
