"""Scene understanding (issue #6): a 3D scene graph over the map's objects and 3D-R1-style question answering.

graph.py (objects, rooms, relations), grounding.py (open-vocabulary phrases -> objects; navigation uses `resolve`),
qa.py (question types, <think>/<answer> output, one parser), vlm.py (local VLM backend), rewards.py (format, 3-D IoU,
MiniLM semantic rewards for the benchmark and GRPO), node.py (the `scene` node: ask_scene, scene/markers),
client.py (`groundfm ask`). All but node.py and client.py are ROS-free.
"""
