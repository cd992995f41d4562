"""`groundfm demo`: bring up the robot dog in the sim headless, send it one instruction, write a run report.

It launches `robot_dog.launch.py` (the same launch file users start), waits for the stereo cameras, odometry, the
house ground truth and the robot standing up, then sends one natural-language instruction to the `navigate` action
and follows it to its result, and finally asks the scene QA node one question about what the map holds. The walk is
the real stack: navigation (Nav-R1 fast-in-slow) -> cmd_vel -> control (trot gait) -> joint_command -> the sim's
motor PD, while depth (stereo) -> mapping (Gaussian map, occupancy, objects) -> navigation and scene QA run alongside:
navigation plans on mapping's live map/occupancy, grounds objects in map/objects and guards on depth/image. Stand-ins,
flagged in the report: object classes come from the sim's oracle segmentation, and rooms (names and extents) from its
floor plan, since nothing in the stack names rooms from perception.

Output folder: report.json (what happened, measured), topdown.png (floor plan + trajectory), stereo.png
(left | right | ground-truth depth).
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from groundfm.io import atomic_write_bytes, atomic_write_json

STANDING_HEIGHT_M = 0.25  # the base above this counts as standing


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `demo` verb."""
    parser = subparsers.add_parser('demo', help='bring up the sim and the stack headless and write a run report',
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='runs/demo', help='report folder (default: runs/demo)')
    parser.add_argument('--seed', type=int, default=0, help='house seed (default: 0)')
    parser.add_argument('--instruction', default='go to the kitchen', help='what to tell the robot')
    parser.add_argument('--question', default='how many chairs are there?',
                        help='what to ask about the mapped scene after the walk')
    parser.add_argument('--timeout', type=float, default=180.0, help='wall seconds to wait for the result')
    parser.add_argument('--startup-timeout', type=float, default=120.0, help='wall seconds to wait for the stack')
    parser.set_defaults(func=run)
    return parser


class _Observer:
    """Background rclpy client that keeps what the report needs."""

    def __init__(self, quiet: bool = False) -> None:
        from nav_msgs.msg import OccupancyGrid, Odometry
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from groundfm.ros import qos
        from groundfm.ros.background import BackgroundNode

        self.lock = threading.Lock()
        self.sim_time = None
        self.scene: dict | None = None
        self.map_cells = 0  # cells of the latest map/occupancy (0 before mapping publishes)
        self.map_msg = None  # the latest map/occupancy (nav_msgs/OccupancyGrid)
        self.images: dict[str, object] = {}
        self.stamps: dict[str, list[float]] = {}
        self.trajectory: list[tuple[float, float, float, float, float]] = []  # t, x, y, z [s, m], yaw [rad]
        self.pose: tuple[float, float, float] | None = None  # latest (x, y, yaw) [m, rad]
        self.control_mode = ''  # the controller's latest mode on control/state ('fallen' once it has damped the joints)
        self.quiet = quiet  # do not print navigation feedback
        self._navigate = None  # the Navigate action client, made on the first goal (destroyed with the node)
        self._background = BackgroundNode('groundfm_demo')
        self.node = self._background.node
        self.node.create_subscription(Clock, '/clock', self._on_clock, qos.CLOCK)
        self.node.create_subscription(String, 'sim/scene', self._on_scene, qos.LATCHED)
        self.node.create_subscription(Odometry, 'odom', self._on_odom, qos.STATE)
        self.node.create_subscription(OccupancyGrid, 'map/occupancy', self._on_map, qos.LATCHED)
        self.node.create_subscription(String, 'control/state', self._on_control_state, 10)
        for topic in ('stereo/left/image_rect', 'stereo/right/image_rect', 'sim/depth_gt'):
            self.node.create_subscription(Image, topic, lambda m, t=topic: self._on_image(t, m), qos.SENSOR)

    def _stamp(self, topic: str, header) -> None:
        from groundfm.ros.convert import seconds_from_stamp

        self.stamps.setdefault(topic, []).append(seconds_from_stamp(header.stamp))

    def _on_clock(self, msg) -> None:
        from groundfm.ros.convert import seconds_from_stamp

        self.sim_time = seconds_from_stamp(msg.clock)

    def _on_map(self, msg) -> None:
        self.map_cells = int(msg.info.width * msg.info.height)
        self.map_msg = msg

    def _on_scene(self, msg) -> None:
        self.scene = json.loads(msg.data)

    def _on_odom(self, msg) -> None:
        from groundfm.geometry.rotations import yaw_of
        from groundfm.ros.convert import seconds_from_stamp

        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        yaw = float(yaw_of(np.array([q.x, q.y, q.z, q.w])))
        with self.lock:
            self.trajectory.append((seconds_from_stamp(msg.header.stamp), p.x, p.y, p.z, yaw))
            self.pose = (p.x, p.y, yaw)
            self._stamp('odom', msg.header)

    def _on_control_state(self, msg) -> None:
        try:
            mode = json.loads(msg.data).get('mode', '')
        except (ValueError, AttributeError):
            return
        with self.lock:
            self.control_mode = str(mode)

    def height(self) -> float:
        """Latest base height [m] (0 before any odometry)."""
        with self.lock:
            return self.trajectory[-1][3] if self.trajectory else 0.0

    def _on_image(self, topic: str, msg) -> None:
        with self.lock:
            self.images[topic] = msg
            self._stamp(topic, msg.header)

    def wait(self, what: str, ready, timeout: float) -> None:
        """Block until `ready()` is true; raise TimeoutError naming `what`."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f'no {what} within {timeout:g} s')
            time.sleep(0.05)

    def navigate(self, instruction: str, timeout: float, timeout_s: float = 0.0) -> tuple[object, list[str]]:
        """Send one Navigate goal (timeout_s: the goal's own limit in sim seconds, 0 = the node's default) and wait
        up to timeout wall seconds for its result; returns (result, feedback lines: each change of phase or sub-goal,
        and each new reasoning text indented by four spaces, which is not printed)."""
        from rclpy.action import ActionClient

        from groundfm.navigation.navigator import FeedbackLog
        from groundfm_interfaces.action import Navigate

        if self._navigate is None:
            self._navigate = ActionClient(self.node, Navigate, 'navigate')
        client = self._navigate
        if not client.wait_for_server(timeout_sec=30.0):
            raise RuntimeError('no navigate action server: is the navigation node running (navigation:=true)?')
        feedback = FeedbackLog()

        def on_feedback(msg) -> None:
            fb = msg.feedback
            line = feedback.add(fb.phase, fb.current_subgoal, fb.distance_remaining, fb.reasoning)
            if line and not self.quiet:
                print(line, flush=True)

        handle = self._background.send_goal(client, Navigate.Goal(instruction=instruction, timeout_s=float(timeout_s)),
                                            on_feedback, timeout=30.0)
        if not handle.accepted:
            raise RuntimeError(f'the navigation node rejected {instruction!r} (see its log for the reason)')
        result_future = handle.get_result_async()
        try:
            self.wait('a navigation result', result_future.done, timeout)
        except TimeoutError:
            handle.cancel_goal_async()
            time.sleep(1.0)  # let the cancel reach the node: the robot stops
            raise
        return result_future.result().result, feedback.lines

    def ask(self, question: str) -> dict:
        """Ask the scene QA node one question about the map built so far."""
        from groundfm_interfaces.srv import AskScene

        client = self.node.create_client(AskScene, 'ask_scene')
        if not client.wait_for_service(timeout_sec=30.0):
            raise RuntimeError('no ask_scene service: is the scene node running (scene:=true)?')
        future = client.call_async(AskScene.Request(question=question))
        self.wait('an answer from ask_scene', future.done, 30.0)
        reply = future.result()
        print(f'Q: {question}\nA: {reply.answer} (confidence {reply.confidence:.2f})', flush=True)
        return {'question': question, 'success': bool(reply.success), 'answer': reply.answer,
                'reasoning': reply.reasoning, 'confidence': round(float(reply.confidence), 3),
                'boxes': [{'id': b.id, 'label': b.label, 'color': b.color_name,
                           'center': [round(b.center.position.x, 3), round(b.center.position.y, 3),
                                      round(b.center.position.z, 3)]} for b in reply.boxes]}

    def close(self) -> None:
        """Stop spinning and shut the client's context down."""
        self._background.close()


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when the robot reached its goal and every stream flowed."""
    from groundfm.ros.launcher import LaunchSession

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f'groundfm demo: house seed {args.seed}, instruction {args.instruction!r}, report in {out}/', flush=True)
    wall_start = time.monotonic()
    capabilities = dict.fromkeys(('depth', 'mapping', 'scene', 'navigation', 'control'), 'true')
    session = LaunchSession('robot_dog', {'scene_seed': str(args.seed), **capabilities})
    observer = None
    try:
        session.start()
        observer = _Observer()
        observer.wait('house ground truth on sim/scene', lambda: observer.scene is not None, args.startup_timeout)
        observer.wait('stereo images', lambda: 'stereo/right/image_rect' in observer.images, args.startup_timeout)
        observer.wait('the robot standing up', lambda: observer.height() > STANDING_HEIGHT_M, args.startup_timeout)
        observer.wait('the first map on map/occupancy (mapping)', lambda: observer.map_cells > 1, args.startup_timeout)
        startup_s = time.monotonic() - wall_start
        sim_start, run_start = observer.sim_time, time.monotonic()
        print(f'stack up and standing after {startup_s:.1f} s; sending {args.instruction!r}', flush=True)
        result, feedback = observer.navigate(args.instruction, args.timeout)
        time.sleep(1.5)  # odometry after the stop, and the map's next publication
        answer = observer.ask(args.question)
        report = _report(args, observer, sim_start, time.monotonic() - run_start, startup_s, result, feedback)
        report['scene_qa'] = answer
        ready = next((line for line in session.lines if 'navigate ready' in line), '')
        report['navigation']['inputs'] = ready.split('m/s; ', 1)[-1].strip() if ready else 'unknown'
    except (TimeoutError, RuntimeError) as err:
        print(f'error: {err}', file=sys.stderr)
        print('last launch output:', *session.lines[-25:], sep='\n  ', file=sys.stderr)
        return 1
    finally:
        if observer is not None:
            observer.close()
        session.stop()
    _write_pictures(out, observer, report)
    atomic_write_json(out / 'report.json', report)
    nav = {k: v for k, v in report['navigation'].items() if k != 'feedback'}
    print(json.dumps({'ok': report['ok'], 'navigation': nav, 'answer': report['scene_qa']['answer'],
                      'base_height_m': report['base_height_m'], 'real_time_factor': report['real_time_factor']},
                     indent=1))
    print(f'wrote {out / "report.json"}, {out / "topdown.png"}, {out / "stereo.png"}')
    return 0 if report['ok'] else 1


def _report(args: argparse.Namespace, observer: _Observer, sim_start: float, run_wall: float, startup_s: float,
            result, feedback: list[str]) -> dict:
    with observer.lock:
        trajectory = np.array(observer.trajectory)
        stamps = {k: np.array(v) for k, v in observer.stamps.items()}
    window = {k: v[v >= sim_start] for k, v in stamps.items()}
    rates = {k: float((len(v) - 1) / (v[-1] - v[0])) if len(v) > 1 and v[-1] > v[0] else 0.0
             for k, v in window.items()}
    sim_elapsed = observer.sim_time - sim_start
    height = float(trajectory[-1, 3]) if len(trajectory) else float('nan')
    walked = trajectory[trajectory[:, 0] >= sim_start] if len(trajectory) else trajectory
    path = float(np.linalg.norm(np.diff(walked[:, 1:3], axis=0), axis=1).sum()) if len(walked) > 1 else 0.0
    scene = observer.scene
    streams_ok = rates.get('stereo/left/image_rect', 0) >= 5 and rates.get('odom', 0) >= 50
    pose = result.final_pose.pose.position
    return {
        'ok': bool(result.success and height > STANDING_HEIGHT_M and streams_ok),
        'seed': args.seed,
        'house': {'rooms': [r['name'] for r in scene['rooms']], 'objects': len(scene['objects']),
                  'classes': sorted({o['label'] for o in scene['objects']})},
        'navigation': {'instruction': args.instruction, 'success': bool(result.success), 'message': result.message,
                       'final_pose': [round(pose.x, 3), round(pose.y, 3)],
                       'path_length_m': round(float(result.path_length), 3),
                       'elapsed_s': round(float(result.elapsed_s), 2), 'feedback': feedback},
        'startup_s': round(startup_s, 2),
        'sim_seconds': round(sim_elapsed, 3),
        'wall_seconds': round(run_wall, 3),
        'real_time_factor': round(sim_elapsed / run_wall, 3) if run_wall > 0 else None,
        'rates_hz': {k: round(v, 2) for k, v in rates.items()},
        'base_height_m': round(height, 4),
        'odometry_path_m': round(path, 3),
        'stand_ins': ('navigation plans on the live map/occupancy, grounds objects in map/objects and guards on '
                      'depth/image (the depth node, SGBM backend by default); room names and extents (navigation '
                      'and scene QA) come from the sim floor plan; the map uses oracle instance labels (sim/labels)'),
    }


def _write_pictures(out: Path, observer: _Observer, report: dict) -> None:
    from groundfm.report import floor_plan, stereo_panel
    from groundfm.ros.convert import image_to_numpy

    trajectory = np.array(observer.trajectory)[:, 1:3] if observer.trajectory else None
    plan = floor_plan(observer.scene, trajectory)
    atomic_write_bytes(out / 'topdown.png', cv2.imencode('.png', plan)[1].tobytes())
    images = observer.images
    depth = image_to_numpy(images['sim/depth_gt']) if 'sim/depth_gt' in images else None
    panel = stereo_panel(image_to_numpy(images['stereo/left/image_rect']),
                         image_to_numpy(images['stereo/right/image_rect']), depth)
    atomic_write_bytes(out / 'stereo.png', cv2.imencode('.png', panel)[1].tobytes())
    report['files'] = ['report.json', 'topdown.png', 'stereo.png']
