"""`groundfm navigate "<instruction>"`: send a Navigate goal, print feedback and the result.

The same goal can be sent with `ros2 action send_goal /navigate groundfm_interfaces/action/Navigate
"{instruction: 'go to the kitchen'}" --feedback` on a machine with the ros2 CLI.
"""

import argparse
import sys

import rclpy
from rclpy.action import ActionClient

from groundfm.ros.interrupt import SigintLatch, run_client
from groundfm_interfaces.action import Navigate


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `navigate` verb."""
    parser = subparsers.add_parser('navigate', help='send a natural-language navigation instruction',
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('instruction', help='e.g. "go to the kitchen"')
    parser.add_argument('--max-speed', type=float, default=0.0, help='speed limit [m/s]; 0 = the node default')
    parser.add_argument('--timeout', type=float, default=0.0, help='give up after this long [s]; 0 = node default')
    parser.add_argument('--action', default='navigate', help='action name (default: navigate)')
    parser.add_argument('--wait', type=float, default=5.0, help='how long to wait for the action server [s]')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Send the goal and block until its result; Ctrl-C cancels it (exit 130). Returns 0 on success."""
    if not args.instruction.strip():
        print('error: the instruction is empty', file=sys.stderr)
        return 2
    return run_client('groundfm_navigate', lambda node, ctrl_c: _navigate(node, args, ctrl_c))


def _navigate(node, args: argparse.Namespace, ctrl_c: SigintLatch) -> int:
    """Wait for the server, send the goal, print its feedback and result; cancel it on Ctrl-C."""
    client = ActionClient(node, Navigate, args.action)
    if not client.wait_for_server(timeout_sec=args.wait):
        if ctrl_c.pressed:
            return 130
        print(f'error: no Navigate action server on {args.action!r} after {args.wait:g} s. Start the stack: '
              '`groundfm launch robot_dog` (navigation:=true is the default), or `python -m '
              'groundfm.navigation.node`.', file=sys.stderr)
        return 1
    goal = Navigate.Goal(instruction=args.instruction, max_speed=args.max_speed, timeout_s=args.timeout)
    sent = client.send_goal_async(goal, feedback_callback=lambda fb: _print_feedback(fb.feedback))
    ctrl_c.spin_until(node, sent)
    if ctrl_c.pressed and not sent.done():  # the goal may still be accepted: wait a moment, then cancel it
        rclpy.spin_until_future_complete(node, sent, timeout_sec=2.0)
    goal_handle = sent.result() if sent.done() else None
    if goal_handle is not None and not goal_handle.accepted:
        print('goal rejected by the navigation server (see its log for the reason)', file=sys.stderr)
        return 1
    if not ctrl_c.pressed:
        result_future = goal_handle.get_result_async()
        ctrl_c.spin_until(node, result_future)
        if result_future.done():
            result = result_future.result().result
            pose = result.final_pose.pose.position
            print(f'result: {"success" if result.success else "failure"}: {result.message}\n'
                  f'  final pose ({pose.x:.2f}, {pose.y:.2f}) in {result.final_pose.header.frame_id or "?"}, '
                  f'path {result.path_length:.2f} m, {result.elapsed_s:.1f} s')
            return 0 if result.success else 1
    if goal_handle is not None:
        cancel = goal_handle.cancel_goal_async()
        rclpy.spin_until_future_complete(node, cancel, timeout_sec=2.0)
        if cancel.done() and cancel.result().goals_canceling:
            print('goal cancelled')
        else:
            print('error: the navigation server did not confirm the cancel within 2 s', file=sys.stderr)
    return 130


def _print_feedback(fb: Navigate.Feedback) -> None:
    remaining = f'{fb.distance_remaining:.2f} m' if fb.distance_remaining >= 0 else '?'
    print(f'[{fb.phase}] {fb.current_subgoal} ({remaining} left) {fb.reasoning}', flush=True)
