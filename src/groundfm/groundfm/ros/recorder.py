"""`groundfm record`: record topics into a rosbag2 folder with MCAP storage (rosbag2 is not on PyPI).

Messages are written as received, raw CDR with the receive time as log time; no deserialise/serialise round trip.
Schemas come from rosbags' Kilted typestore, and types it lacks from the installed `share/<pkg>/msg/*.msg` files.
The bag is written to OUT.partial/OUT and moved to OUT once closed, so OUT is always a complete bag; a crash leaves
OUT.partial for inspection.

Example:  groundfm record -o runs/walk --all --exclude '^/rosout' --duration 30
"""

import argparse
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import rclpy
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from groundfm.ros.introspection import absolute_topic, compatible_qos, foreign_publishers, get_message_type

BAG_VERSION = 9  # rosbag2 metadata version written by Jazzy and later
DISCOVERY_FAST_S, DISCOVERY_S = 0.2, 1.0  # graph poll period in the first 2 s, then after


@dataclass
class RecordSummary:
    """What a finished recording holds."""

    path: Path
    duration_s: float  # wall time recorded
    size_bytes: int
    counts: dict[str, int] = field(default_factory=dict)  # topic -> messages
    types: dict[str, str] = field(default_factory=dict)  # topic -> 'pkg/msg/Name'
    missing: list[str] = field(default_factory=list)  # named topics that never appeared

    def __str__(self) -> str:
        lines = [f'recorded {self.duration_s:.1f} s, {sum(self.counts.values())} messages, '
                 f'{self.size_bytes / 2**20:.2f} MiB -> {self.path}']
        width = max((len(t) for t in self.counts), default=0)
        lines += [f'  {t:<{width}}  {self.counts[t]:>7}  {self.types[t]}' for t in sorted(self.counts)]
        return '\n'.join(lines)


def _referenced_types(fields: list) -> Iterable[str]:
    """Type names a rosbags field list refers to (nested messages, also inside arrays)."""
    for _, desc in fields:
        if desc[0] == Nodetype.NAME:
            yield desc[1]
        elif desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE) and desc[1][0][0] == Nodetype.NAME:
            yield desc[1][0][1]


def ensure_type(store: Typestore, type_name: str) -> None:
    """Register type_name (and what it uses) in store from `<share>/<pkg>/msg/<Name>.msg` unless known."""
    if type_name in store.fielddefs:
        return
    pkg, kind, name = type_name.split('/')
    try:
        path = Path(get_package_share_directory(pkg)) / kind / f'{name}.msg'
        types = get_types_from_msg(path.read_text(), type_name)
    except (PackageNotFoundError, OSError) as err:
        raise ValueError(f'no message definition for {type_name}: {err}') from None
    for dep in _referenced_types(types[type_name][1]):
        if dep not in types:
            ensure_type(store, dep)
    store.register(types)


def message_definition(store: Typestore, type_name: str) -> tuple[str, str]:
    """The ros2msg schema text and RIHS01 hash of a type, registering it from its .msg file if needed."""
    ensure_type(store, type_name)
    return store.generate_msgdef(type_name, ros_version=2)[0], store.hash_rihs01(type_name)


def _qos_time(duration: object) -> QosTime:
    """An rclpy Duration as rosbags QosTime (infinite stays rosbag2's 'infinite' value)."""
    sec, nsec = divmod(max(0, duration.nanoseconds), 10**9)
    return QosTime(2147483647, 4294967295) if sec > 2147483647 else QosTime(sec, nsec)


def offered_qos(endpoints: list) -> list[Qos]:
    """Publisher QoS profiles in rosbags' form, for metadata.yaml (lets `ros2 bag play` offer the same)."""
    return [Qos(QosHistory[q.history.name], q.depth, QosReliability[q.reliability.name],
                QosDurability[q.durability.name], _qos_time(q.deadline), _qos_time(q.lifespan),
                QosLiveliness[q.liveliness.name], _qos_time(q.liveliness_lease_duration),
                q.avoid_ros_namespace_conventions)
            for q in (e.qos_profile for e in endpoints)]


def _is_hidden(topic: str) -> bool:
    """Whether a topic is hidden (a name part starts with '_', e.g. action internals)."""
    return any(part.startswith('_') for part in topic.split('/'))


class _BagRecorder:
    """Subscribes to wanted topics as they appear and writes their raw CDR to a rosbags Writer."""

    def __init__(self, node: Node, writer: Writer, topics: list[str], all_topics: bool,
                 exclude: re.Pattern | None, log: Callable[[str], None]) -> None:
        self.node, self.writer, self.log = node, writer, log
        self.topics = [absolute_topic(t) for t in topics]
        self.all_topics = all_topics
        self.exclude = exclude
        self.store = get_typestore(Stores.ROS2_KILTED)
        self.connections: dict[str, object] = {}  # topic -> rosbags Connection
        self.skipped: set[str] = set()  # topics that cannot be recorded (reported once)

    def wanted(self, topic: str) -> bool:
        """Whether a topic in the graph should be recorded."""
        if self.exclude and self.exclude.search(topic):
            return False
        return topic in self.topics or (self.all_topics and not _is_hidden(topic))

    def discover(self) -> None:
        """Subscribe to every wanted topic that now has a publisher."""
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.connections or topic in self.skipped or not self.wanted(topic):
                continue
            publishers = foreign_publishers(self.node, topic)
            if publishers:
                self._subscribe(topic, types[0], publishers)

    def _subscribe(self, topic: str, type_name: str, publishers: list) -> None:
        """Add a connection for the topic and a raw subscription writing into it."""
        try:
            msg_type = get_message_type(type_name)
            msgdef, rihs01 = message_definition(self.store, type_name)
        except Exception as err:  # any unknown type: skip the topic, keep recording
            self.skipped.add(topic)
            self.log(f'warning: not recording {topic}: {err}')
            return
        live_hash = str(publishers[0].topic_type_hash)
        if live_hash.startswith('RIHS01_') and live_hash != rihs01:
            self.log(f'warning: {topic}: schema of {type_name} differs from the publisher\'s ({live_hash})')
            rihs01 = live_hash
        try:
            qos_list = offered_qos(publishers)
        except (KeyError, AttributeError):
            qos_list = []
        conn = self.writer.add_connection(topic, type_name, msgdef=msgdef, rihs01=rihs01,
                                          offered_qos_profiles=qos_list)
        self.connections[topic] = conn
        write = self.writer.write
        self.node.create_subscription(msg_type, topic, lambda data: write(conn, time.time_ns(), data),
                                      compatible_qos(self.node, topic, depth=50), raw=True)
        self.log(f'recording {topic} [{type_name}]')


def default_bag_name() -> str:
    """rosbag2's default folder name, rosbag2_YYYY_MM_DD-HH_MM_SS."""
    return datetime.now().strftime('rosbag2_%Y_%m_%d-%H_%M_%S')


def _dir_size(path: Path) -> int:
    """Total bytes of the files in a folder."""
    return sum(p.stat().st_size for p in path.rglob('*') if p.is_file())


def record(topics: Iterable[str], out_dir: str | Path, duration_s: float | None = None, *, all_topics: bool = False,
           exclude: str | None = None, stop: threading.Event | None = None, context: Context | None = None,
           log: Callable[[str], None] | None = None) -> RecordSummary:
    """Record topics (or all with all_topics) into the rosbag2/MCAP folder out_dir until duration_s or stop.

    Without a context, one is created and SIGINT/SIGTERM (in the main thread) end the recording cleanly; with the
    caller's context, its shutdown ends it. Raises FileExistsError if out_dir or out_dir.partial exists.
    """
    topics = list(topics)
    if not topics and not all_topics:
        raise ValueError('name topics to record, or pass all_topics=True')
    out = Path(out_dir)
    partial = out.with_name(out.name + '.partial')
    if out.exists():
        raise FileExistsError(f'{out} exists already; choose another output name')
    if partial.exists():
        raise FileExistsError(f'{partial} exists (an interrupted recording?); inspect or delete it')
    pattern = re.compile(exclude) if exclude else None  # a bad regex fails before anything is written
    log = log or (lambda _: None)
    stop = stop or threading.Event()

    partial.mkdir(parents=True)
    log(f'recording to {out} (Ctrl-C stops)')
    writer = Writer(partial / out.name, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    own_context, previous, node, executor = context is None, {}, None, None
    start = time.monotonic()
    try:
        if own_context:
            context = Context()
            rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    previous[sig] = signal.signal(sig, lambda *_: stop.set())
        node = Node(f'_groundfm_record_{os.getpid()}', context=context, enable_rosout=False,
                    start_parameter_services=False)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        recorder = _BagRecorder(node, writer, topics, all_topics, pattern, log)
        start = next_poll = time.monotonic()
        while not stop.is_set() and (duration_s is None or time.monotonic() - start < duration_s):
            now = time.monotonic()
            if now >= next_poll:
                recorder.discover()
                next_poll = now + (DISCOVERY_FAST_S if now - start < 2.0 else DISCOVERY_S)
            executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except BaseException:
        writer.close()  # leave a readable OUT.partial behind for inspection
        raise
    finally:
        elapsed = time.monotonic() - start
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with suppress(Exception):
            if executor is not None:
                executor.shutdown()
        with suppress(Exception):
            if node is not None:
                node.destroy_node()
        if own_context and context is not None:
            context.try_shutdown()
    writer.close()
    (partial / out.name).rename(out)
    partial.rmdir()
    counts = {c.topic: writer.counts[c.id] for c in writer.connections}
    return RecordSummary(out, elapsed, _dir_size(out), counts, {c.topic: c.msgtype for c in writer.connections},
                         [absolute_topic(t) for t in topics if absolute_topic(t) not in counts])


def run_record(args: argparse.Namespace) -> int:
    """CLI body of `groundfm record`."""
    if not args.topics and not args.all:
        print('error: name topics to record, or pass --all', file=sys.stderr)
        return 1
    try:
        summary = record(args.topics, args.output or default_bag_name(), args.duration, all_topics=args.all,
                         exclude=args.exclude, log=lambda line: print(line, file=sys.stderr, flush=True))
    except (FileExistsError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    except re.error as err:
        print(f'error: bad --exclude regex: {err}', file=sys.stderr)
        return 1
    for topic in summary.missing:
        print(f'warning: {topic} never appeared; nothing recorded from it', file=sys.stderr)
    print(summary, flush=True)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `record` verb."""
    parser = subparsers.add_parser('record', help='record topics into a rosbag2 (MCAP) folder', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('topics', nargs='*', metavar='TOPIC', help='topics to record')
    parser.add_argument('-o', '--output', default=None, help='bag folder (default rosbag2_<date>-<time>)')
    parser.add_argument('-a', '--all', action='store_true', help='record every (non-hidden) topic, also new ones')
    parser.add_argument('--duration', type=float, default=None, help='stop after S seconds (default: Ctrl-C)')
    parser.add_argument('-x', '--exclude', default=None, metavar='REGEX', help='skip topics matching REGEX')
    parser.set_defaults(func=run_record)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `record` on its own (python -m groundfm.ros.recorder ...)."""
    parser = argparse.ArgumentParser(prog='groundfm')
    add_parser(parser.add_subparsers(dest='verb', required=True))
    args = parser.parse_args(['record', *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
