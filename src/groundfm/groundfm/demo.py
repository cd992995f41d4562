"""`groundfm demo`: bring up the robot dog in the sim headless, exercise it, and write a run report.

It launches `robot_dog.launch.py` (the same launch file users start), waits for the stereo cameras, odometry and the
house ground truth, then drives the robot for --duration sim seconds. Capabilities that have not landed yet are
listed in the report rather than faked: until the control node (issue #3) lands, the demo holds the Go2's stand pose
itself through `joint_command`; once navigation (issue #7) lands, it sends one instruction.

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

NOT_LANDED = {
    'depth': 'issue #4',
    'mapping': 'issue #5',
    'scene': 'issue #6',
    'navigation': 'issue #7',
    'control': 'issue #3',
}
STAND_HEIGHT_M = 0.30



def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `demo` verb."""
    parser = subparsers.add_parser('demo', help='bring up the sim and the stack headless and write a run report',
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='runs/demo', help='report folder (default: runs/demo)')
    parser.add_argument('--seed', type=int, default=0, help='house seed (default: 0)')
    parser.add_argument('--duration', type=float, default=8.0, help='sim seconds to run after start-up')
    parser.add_argument('--startup-timeout', type=float, default=120.0, help='wall seconds to wait for the sim')
    parser.set_defaults(func=run)
    return parser


class _Observer:
    """Background rclpy client that keeps what the report needs."""

    def __init__(self) -> None:
        from nav_msgs.msg import Odometry
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from groundfm.ros import qos
        from groundfm.ros.background import BackgroundNode
        from groundfm_interfaces.msg import JointCommand

        self.lock = threading.Lock()
        self.sim_time = None
        self.scene: dict | None = None
        self.images: dict[str, object] = {}
        self.stamps: dict[str, list[float]] = {}
        self.trajectory: list[tuple[float, float, float, float]] = []  # t, x, y, z
        self._background = BackgroundNode('groundfm_demo')
        self.node = self._background.node
        self.joint_command_pub = self.node.create_publisher(JointCommand, 'joint_command', qos.COMMAND)
        self.node.create_subscription(Clock, '/clock', self._on_clock, qos.CLOCK)
        self.node.create_subscription(String, 'sim/scene', self._on_scene, qos.LATCHED)
        self.node.create_subscription(Odometry, 'odom', self._on_odom, qos.STATE)
        for topic in ('stereo/left/image_rect', 'stereo/right/image_rect', 'sim/depth_gt'):
            self.node.create_subscription(Image, topic, lambda m, t=topic: self._on_image(t, m), qos.SENSOR)

    def _stamp(self, topic: str, header) -> None:
        from groundfm.ros.convert import seconds_from_stamp

        self.stamps.setdefault(topic, []).append(seconds_from_stamp(header.stamp))

    def _on_clock(self, msg) -> None:
        from groundfm.ros.convert import seconds_from_stamp

        self.sim_time = seconds_from_stamp(msg.clock)

    def _on_scene(self, msg) -> None:
        self.scene = json.loads(msg.data)

    def _on_odom(self, msg) -> None:
        from groundfm.ros.convert import seconds_from_stamp

        p = msg.pose.pose.position
        with self.lock:
            self.trajectory.append((seconds_from_stamp(msg.header.stamp), p.x, p.y, p.z))
            self._stamp('odom', msg.header)

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

    def stand(self) -> None:
        """Publish one stand-pose JointCommand (the control node's job once it lands)."""
        from groundfm.sim import go2
        from groundfm_interfaces.msg import JointCommand

        msg = JointCommand(name=list(go2.JOINT_NAMES), q=go2.stand_joint_positions(STAND_HEIGHT_M).tolist(),
                           dq=[0.0] * 12, kp=[go2.STAND_KP] * 12, kd=[go2.STAND_KD] * 12, tau=[0.0] * 12)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.joint_command_pub.publish(msg)

    def close(self) -> None:
        """Stop spinning and shut the client's context down."""
        self._background.close()


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when the robot stood and every stream flowed."""
    from groundfm.ros.launcher import LaunchSession

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f'groundfm demo: house seed {args.seed}, {args.duration:g} sim seconds, report in {out}/', flush=True)
    wall_start = time.monotonic()
    session = LaunchSession('robot_dog', {'scene_seed': str(args.seed)})
    observer = None
    try:
        session.start()
        observer = _Observer()
        observer.wait('house ground truth on sim/scene', lambda: observer.scene is not None, args.startup_timeout)
        observer.wait('stereo images', lambda: 'stereo/right/image_rect' in observer.images, args.startup_timeout)
        startup_s = time.monotonic() - wall_start
        sim_start, run_start = observer.sim_time, time.monotonic()
        print(f'sim up after {startup_s:.1f} s; holding the stand pose (control node: {NOT_LANDED["control"]})',
              flush=True)
        while observer.sim_time - sim_start < args.duration:
            if session.poll() is not None:
                raise RuntimeError(f'the launch stopped early (exit code {session.poll()})')
            observer.stand()
            time.sleep(0.02)
        run_wall = time.monotonic() - run_start
        report = _report(args, observer, sim_start, run_wall, startup_s)
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
    print(json.dumps({k: report[k] for k in ('ok', 'base_height_m', 'real_time_factor', 'rates_hz')}, indent=1))
    print(f'wrote {out / "report.json"}, {out / "topdown.png"}, {out / "stereo.png"}')
    return 0 if report['ok'] else 1


def _report(args: argparse.Namespace, observer: _Observer, sim_start: float, run_wall: float,
            startup_s: float) -> dict:
    with observer.lock:
        trajectory = np.array(observer.trajectory)
        stamps = {k: np.array(v) for k, v in observer.stamps.items()}
    window = {k: v[v >= sim_start] for k, v in stamps.items()}
    rates = {k: float((len(v) - 1) / (v[-1] - v[0])) if len(v) > 1 and v[-1] > v[0] else 0.0
             for k, v in window.items()}
    sim_elapsed = observer.sim_time - sim_start
    height = float(trajectory[-1, 3]) if len(trajectory) else float('nan')
    path = float(np.linalg.norm(np.diff(trajectory[:, 1:3], axis=0), axis=1).sum()) if len(trajectory) > 1 else 0.0
    scene = observer.scene
    ok = 0.25 <= height <= 0.35 and rates.get('stereo/left/image_rect', 0) >= 5 and rates.get('odom', 0) >= 50
    return {
        'ok': bool(ok),
        'seed': args.seed,
        'house': {'rooms': [r['name'] for r in scene['rooms']], 'objects': len(scene['objects']),
                  'classes': sorted({o['label'] for o in scene['objects']})},
        'startup_s': round(startup_s, 2),
        'sim_seconds': round(sim_elapsed, 3),
        'wall_seconds': round(run_wall, 3),
        'real_time_factor': round(sim_elapsed / run_wall, 3) if run_wall > 0 else None,
        'rates_hz': {k: round(v, 2) for k, v in rates.items()},
        'base_height_m': round(height, 4),
        'path_length_m': round(path, 3),
        'behaviour': 'stand pose held through joint_command (the control node has not landed yet)',
        'not_landed': NOT_LANDED,
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
