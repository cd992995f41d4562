"""The scene node as a real process: map/objects in over DDS, ask_scene answered, markers out."""

import json
import math
import subprocess
import sys
import time

import pytest
from proc_utils import NodeProcess, RosClient
from std_msgs.msg import ColorRGBA, String
from visualization_msgs.msg import MarkerArray

from groundfm.ros import qos
from groundfm_interfaces.msg import Object3D, Object3DArray
from groundfm_interfaces.srv import AskScene


def _object(i, label, rgb, xyz, size):
    obj = Object3D(id=i, label=label, confidence=0.9, color=ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0))
    obj.center.position.x, obj.center.position.y, obj.center.position.z = map(float, xyz)  # ints serialise wrong
    obj.center.orientation.w = 1.0
    obj.size.x, obj.size.y, obj.size.z = map(float, size)
    return obj


def _call(client, service, question, timeout=5.0):
    future = service.call_async(AskScene.Request(question=question))
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert future.done(), f'no reply to {question!r} within {timeout} s'
    return future.result()


def test_scene_node_answers_over_dds(ros_domain):
    proc = NodeProcess.python_module('groundfm.scene.node')
    client = RosClient('scene_checker', domain_id=ros_domain)
    try:
        client.record('scene/markers', MarkerArray, qos.LATCHED)
        scene = client.node.create_publisher(String, 'sim/scene', qos.LATCHED)
        objects = client.node.create_publisher(Object3DArray, 'map/objects', qos.LATCHED)
        scene.publish(String(data=json.dumps({'rooms': [
            {'name': 'living_room', 'kind': 'living_room', 'bounds': [0, 0, 5, 5]},
            {'name': 'kitchen', 'kind': 'kitchen', 'bounds': [5, 0, 9, 5]}]})))
        msg = Object3DArray(objects=[
            _object(1, 'sofa', (0.8, 0.12, 0.1), (2, 1, 0.42), (2, 0.9, 0.85)),
            _object(2, 'chair', (0.12, 0.25, 0.8), (6, 2, 0.45), (0.45, 0.45, 0.9)),
            _object(3, 'chair', (0.8, 0.12, 0.1), (7, 3, 0.45), (0.45, 0.45, 0.9)),
        ])
        msg.header.frame_id = 'map'
        objects.publish(msg)
        proc.wait_for_line(r'scene ready', timeout=60)
        ask = client.node.create_client(AskScene, 'ask_scene')
        assert ask.wait_for_service(timeout_sec=20)
        markers = client.wait_for('scene/markers', 1, timeout=20)
        deadline = time.monotonic() + 10  # the layout and the objects may arrive in either order
        while len([m for m in client.messages['scene/markers'][-1].markers if m.ns == 'labels']) < 3 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        markers = client.messages['scene/markers'][-1].markers
        assert {m.ns for m in markers} == {'objects', 'labels'} and len(markers) == 1 + 2 * 3

        start = time.monotonic()
        reply = _call(client, ask, 'What colour is the couch?')
        elapsed = time.monotonic() - start

        assert reply.success and 'red' in reply.answer, reply
        assert elapsed < 1.0, f'ask_scene took {elapsed:.2f} s'
        assert len(reply.boxes) == 1 and reply.boxes[0].label == 'sofa'
        assert reply.boxes[0].center.position.x == pytest.approx(2.0)
        assert reply.raw_output.startswith('<think>') and reply.raw_output.endswith('</answer>')

        reply = _call(client, ask, 'How many chairs are in the kitchen?')
        assert reply.success and 'There are 2 chairs in the kitchen' in reply.answer
        assert {b.room for b in reply.boxes} == {'kitchen'}

        bad = _call(client, ask, '   ')
        assert not bad.success and 'empty' in bad.message
        bad = _call(client, ask, 'x' * 5000)
        assert not bad.success and 'limit' in bad.message
        unknown = _call(client, ask, 'Where is the giraffe?')
        assert unknown.success and unknown.answer.startswith("I don't know") and unknown.confidence == 0.0
        after = _call(client, ask, 'Which room is the blue chair in?')
        assert after.success and 'kitchen' in after.answer and math.isfinite(after.confidence)
        assert proc.proc.poll() is None

        cli = subprocess.run([sys.executable, '-m', 'groundfm.cli', 'ask', 'where is the sofa?'], capture_output=True,
                             text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        assert 'living room' in cli.stdout and 'reasoning: Step 1' in cli.stdout and 'box #' in cli.stdout
    finally:
        client.close()
        code = proc.stop()
    assert code == 0, proc.output()
