"""Graph and message introspection shared by `groundfm topic` and `groundfm record` (rosidl_runtime_py stand-in)."""

import importlib
import sys
import time
from array import array

import yaml
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

TRUNCATE_LENGTH = 128  # as `ros2 topic echo`: longer arrays and strings end in '...'


def get_message_type(type_name: str) -> type:
    """The message class for 'pkg/msg/Name' (or 'pkg/Name'); raises ValueError naming the type if unknown."""
    parts = type_name.split('/')
    if len(parts) == 2:
        parts = [parts[0], 'msg', parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"bad message type '{type_name}': expected 'pkg/msg/Name'")
    try:
        return getattr(importlib.import_module(f'{parts[0]}.{parts[1]}'), parts[2])
    except (ImportError, AttributeError) as err:
        raise ValueError(f"unknown message type '{type_name}': {err}") from None


def message_to_dict(msg: object, truncate_length: int | None = TRUNCATE_LENGTH) -> dict:
    """A message as nested plain dicts/lists; arrays and strings longer than truncate_length end in '...'."""
    return {name: _plain(getattr(msg, name), truncate_length) for name in msg.get_fields_and_field_types()}


def _plain(value: object, truncate_length: int | None) -> object:
    """One field value as plain Python data."""
    if hasattr(value, 'get_fields_and_field_types'):
        return message_to_dict(value, truncate_length)
    if isinstance(value, bytes):  # rclpy gives each `byte` as a 1-byte bytes object: show its value
        return value[0] if len(value) == 1 else value.hex()
    if isinstance(value, str):
        long = truncate_length is not None and len(value) > truncate_length
        return value[:truncate_length] + '...' if long else value
    if isinstance(value, (list, tuple, array)) or type(value).__name__ == 'ndarray':
        items = list(value[:truncate_length] if truncate_length is not None else value)
        items = [_plain(v.item() if hasattr(v, 'item') else v, truncate_length) for v in items]
        return items + ['...'] if truncate_length is not None and len(value) > truncate_length else items
    return value


def message_to_yaml(msg: object, truncate_length: int | None = TRUNCATE_LENGTH) -> str:
    """A message as block YAML, in the layout `ros2 topic echo` prints."""
    return yaml.safe_dump(message_to_dict(msg, truncate_length), allow_unicode=True, width=sys.maxsize,
                          default_flow_style=False, sort_keys=False)


def absolute_topic(topic: str) -> str:
    """'/name' for 'name' (the CLI's node lives in the root namespace)."""
    return topic if topic.startswith('/') else '/' + topic


def topic_types(node: Node, topic: str) -> list[str]:
    """The types the graph currently knows for a topic ([] when absent)."""
    return dict(node.get_topic_names_and_types()).get(absolute_topic(topic), [])


def foreign_publishers(node: Node, topic: str) -> list:
    """Publishers on a topic other than the given node itself (TopicEndpointInfo list)."""
    own = (node.get_name(), node.get_namespace())
    return [p for p in node.get_publishers_info_by_topic(absolute_topic(topic))
            if (p.node_name, p.node_namespace) != own]


def wait_for_topic(node: Node, topic: str, timeout_s: float, poll_s: float = 0.05) -> str:
    """Wait until a topic has a publisher; returns its type, raises TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        types = topic_types(node, topic)
        if types and foreign_publishers(node, topic):
            return types[0]
        if time.monotonic() >= deadline:
            raise TimeoutError(f'topic {absolute_topic(topic)} did not appear within {timeout_s:g} s')
        time.sleep(poll_s)


def compatible_qos(node: Node, topic: str, depth: int = 10) -> QoSProfile:
    """A subscription QoS every current publisher matches: best effort if any is, transient local if all are."""
    pubs = foreign_publishers(node, topic)
    best_effort = any(p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for p in pubs)
    latched = bool(pubs) and all(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in pubs)
    return QoSProfile(
        depth=depth,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )
