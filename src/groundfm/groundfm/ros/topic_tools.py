"""`groundfm topic list|echo|hz`: the `ros2 topic` verbs groundfm needs, on plain rclpy (no ros2cli on PyPI).

Example:  groundfm topic echo /joint_command --once
"""

import argparse
import math
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from groundfm.ros.introspection import (
    absolute_topic,
    compatible_qos,
    get_message_type,
    message_to_yaml,
    wait_for_topic,
)


@contextmanager
def cli_node(prefix: str) -> Iterator[tuple[Node, SingleThreadedExecutor]]:
    """A hidden node and executor on a private context; Ctrl-C stays a KeyboardInterrupt."""
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = Node(f'_groundfm_{prefix}_{os.getpid()}', context=context, enable_rosout=False,
                start_parameter_services=False)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()


def _error(message: str) -> int:
    """Print one error line to stderr; returns exit code 1."""
    print(f'error: {message}', file=sys.stderr)
    return 1


def run_list(args: argparse.Namespace) -> int:
    """Print the topic names in the graph, with types when -t."""
    with cli_node('topic') as (node, _):
        time.sleep(args.spin_time)  # discovery runs in the background; no daemon caches it for us
        for name, types in sorted(node.get_topic_names_and_types()):
            print(f'{name} [{", ".join(types)}]' if args.show_types else name)
    return 0


def run_echo(args: argparse.Namespace) -> int:
    """Print messages of a topic as YAML separated by '---'."""
    count = 1 if args.once else args.count
    with cli_node('topic') as (node, executor):
        try:
            type_name = wait_for_topic(node, args.topic, args.timeout)
            msg_type = get_message_type(type_name)
        except (TimeoutError, ValueError) as err:
            return _error(str(err))
        truncate = None if args.full else args.truncate_length
        received = 0

        def on_msg(msg: object) -> None:
            nonlocal received
            received += 1
            sys.stdout.write(message_to_yaml(msg, truncate) + '---\n')
            sys.stdout.flush()

        node.create_subscription(msg_type, absolute_topic(args.topic), on_msg, compatible_qos(node, args.topic))
        deadline = time.monotonic() + args.timeout
        try:
            while count is None or received < count:
                executor.spin_once(timeout_sec=0.1)
                if received == 0 and time.monotonic() > deadline:
                    return _error(f'no message on {absolute_topic(args.topic)} within {args.timeout:g} s')
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
    return 0


@dataclass(frozen=True)
class RateStats:
    """Receive-rate statistics over a window of arrival times, as `ros2 topic hz` prints them."""

    rate_hz: float
    min_s: float
    max_s: float
    std_s: float
    window: int  # arrivals in the window

    def __str__(self) -> str:
        return (f'average rate: {self.rate_hz:.3f}\n\tmin: {self.min_s:.3f}s max: {self.max_s:.3f}s '
                f'std dev: {self.std_s:.5f}s window: {self.window}')


def rate_stats(arrivals_s: list[float]) -> RateStats | None:
    """Statistics of the gaps between arrival times [s]; None with fewer than two arrivals."""
    if len(arrivals_s) < 2:
        return None
    gaps = [b - a for a, b in zip(arrivals_s, arrivals_s[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    return RateStats(1.0 / mean if mean > 0 else math.inf, min(gaps), max(gaps), std, len(arrivals_s))


def run_hz(args: argparse.Namespace) -> int:
    """Print the receive rate of a topic every second (wall clock)."""
    if args.window < 2:
        return _error(f'--window must be >= 2, got {args.window}')
    arrivals: deque[float] = deque(maxlen=args.window)
    with cli_node('topic') as (node, executor):
        try:
            type_name = wait_for_topic(node, args.topic, args.timeout)
            msg_type = get_message_type(type_name)
        except (TimeoutError, ValueError) as err:
            return _error(str(err))
        total = 0

        def on_msg(_: bytes) -> None:
            nonlocal total
            total += 1
            arrivals.append(time.monotonic())

        # raw: the rate needs no deserialisation
        node.create_subscription(msg_type, absolute_topic(args.topic), on_msg, compatible_qos(node, args.topic),
                                 raw=True)
        start = time.monotonic()
        next_print, printed = start + 1.0, 0
        try:
            while args.duration is None or time.monotonic() - start < args.duration:
                executor.spin_once(timeout_sec=0.05)
                if time.monotonic() >= next_print:
                    next_print += 1.0
                    stats = rate_stats(list(arrivals))
                    print(stats if stats and total != printed else 'no new messages', flush=True)
                    printed = total
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
    final = rate_stats(list(arrivals))
    if args.duration is not None:
        if final is None:
            return _error(f'fewer than two messages on {absolute_topic(args.topic)} in {args.duration:g} s')
        if total != printed:  # the last arrivals are not in a printed line yet
            print(final, flush=True)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `topic` with its sub-verbs list, echo and hz."""
    parser = subparsers.add_parser('topic', help='list, echo and time topics', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='topic_verb', metavar='SUBVERB', required=True)

    p = sub.add_parser('list', help='topic names (and types with -t)')
    p.add_argument('-t', '--show-types', action='store_true', help='print each topic type after its name')
    p.add_argument('--spin-time', type=float, default=1.0, help='seconds to wait for discovery (default 1.0)')
    p.set_defaults(func=run_list)

    p = sub.add_parser('echo', help='print messages of a topic as YAML')
    p.add_argument('topic', help='topic name, e.g. /joint_command')
    p.add_argument('--once', action='store_true', help='print one message, then exit')
    p.add_argument('-n', '--count', type=int, default=None, help='print N messages, then exit')
    p.add_argument('--full', action='store_true', help='print arrays and strings in full')
    p.add_argument('--truncate-length', type=int, default=128, help='longer arrays/strings end in ... (default 128)')
    p.add_argument('--timeout', type=float, default=10.0,
                   help='seconds to wait for the topic and its first message (default 10)')
    p.set_defaults(func=run_echo)

    p = sub.add_parser('hz', help='receive rate of a topic (wall clock)')
    p.add_argument('topic', help='topic name, e.g. /odom')
    p.add_argument('--window', type=int, default=10000, help='arrivals the statistics use (default 10000)')
    p.add_argument('--duration', type=float, default=None, help='stop after S seconds and print the final rate')
    p.add_argument('--timeout', type=float, default=10.0, help='seconds to wait for the topic (default 10)')
    p.set_defaults(func=run_hz)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `topic` on its own (python -m groundfm.ros.topic_tools list)."""
    parser = argparse.ArgumentParser(prog='groundfm')
    add_parser(parser.add_subparsers(dest='verb', required=True))
    args = parser.parse_args(['topic', *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
