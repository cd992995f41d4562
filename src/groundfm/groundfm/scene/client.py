"""`groundfm ask "<question>"`: ask the scene QA node; prints the answer, the reasoning and the grounded box(es)."""

import argparse
import sys

from groundfm.ros.interrupt import SigintLatch, run_client
from groundfm_interfaces.srv import AskScene


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `ask` verb."""
    parser = subparsers.add_parser('ask', help='ask a question about the scene', description=__doc__)
    parser.add_argument('question', help='e.g. "how many chairs are in the kitchen?"')
    parser.add_argument('--service', default='ask_scene', help='service name (default: ask_scene)')
    parser.add_argument('--wait', type=float, default=5.0, help='how long to wait for the service [s]')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Call AskScene once and print the reply. Returns 0 when the node answered."""
    if not args.question.strip():
        print('error: the question is empty', file=sys.stderr)
        return 2
    return run_client('groundfm_ask', lambda node, ctrl_c: _ask(node, args, ctrl_c))


def _ask(node, args: argparse.Namespace, ctrl_c: SigintLatch) -> int:
    """Call the service once and print the reply; 130 on Ctrl-C."""
    client = node.create_client(AskScene, args.service)
    if not client.wait_for_service(timeout_sec=args.wait):
        if ctrl_c.pressed:
            return 130
        print(f'error: no AskScene service on {args.service!r} after {args.wait:g} s. Start the scene QA node: '
              'groundfm launch robot_dog scene:=true mapping:=true, or python -m groundfm.scene.node.',
              file=sys.stderr)
        return 1
    future = client.call_async(AskScene.Request(question=args.question))
    ctrl_c.spin_until(node, future, timeout_s=30.0)
    if ctrl_c.pressed:
        return 130
    if not future.done():
        print('error: no reply within 30 s', file=sys.stderr)
        return 1
    reply = future.result()
    if not reply.success:
        print(f'error: {reply.message}', file=sys.stderr)
        return 1
    print(f'answer: {reply.answer}  (confidence {reply.confidence:.2f})\nreasoning: {reply.reasoning}')
    for box in reply.boxes:
        c, s = box.center.position, box.size
        print(f'  box #{box.id} {box.color_name} {box.label}: centre ({c.x:.2f}, {c.y:.2f}, {c.z:.2f}) m, '
              f'size {s.x:.2f} x {s.y:.2f} x {s.z:.2f} m')
    return 0
