"""Sim speed: real-time factor with stereo on, ms per stereo frame, and image latency over DDS between processes.

rtf: the sim node as its own process at real_time_factor 0 (as fast as it can), stereo at --camera-rate Hz, while a
client subscribes to /clock and both images; rtf = sim seconds advanced / wall seconds.
render_ms: SimWorld.render_stereo in-process (two RGB passes + depth + segmentation).
image_latency_ms: a publisher process sends 320x240 rgb8 images stamped with the wall clock; this process receives
them (sensor-data QoS, the installed Fast DDS profile) and takes now - stamp.
"""

import argparse
import os
import signal
import statistics
import sys
import time

import numpy as np

from groundfm.bench.results import THIS_PROJECT, Results
from groundfm.ros.background import BackgroundNode
from groundfm.ros.domain import BENCH_DOMAIN_IDS, lease_domain_id


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark-specific options."""
    parser.add_argument('--duration', type=float, default=20.0, help='wall seconds to measure the rtf over')
    parser.add_argument('--frames', type=int, default=40, help='stereo frames to time in-process')
    parser.add_argument('--camera-rate', type=float, default=10.0, help='stereo rate [Hz] for the rtf run')
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--latency-messages', type=int, default=300, help='images sent for the latency run')


def run(args: argparse.Namespace) -> Results:
    """Measure every metric on each seed; rtf and render_ms are averaged over seeds."""
    rtf, render = [], []
    for seed in args.seeds:
        render.append(render_ms(seed, args.width, args.height, args.frames))
        rtf.append(node_rtf(seed, args.width, args.height, args.camera_rate, args.duration))
        print(f'seed {seed}: render {render[-1]:.1f} ms per stereo frame, rtf {rtf[-1]:.2f}', flush=True)
    latencies = image_latency_ms(args.width, args.height, args.latency_messages)
    return {
        'sim_house': {THIS_PROJECT: {'rtf': statistics.fmean(rtf), 'render_ms': statistics.fmean(render)}},
        'dds_loopback': {THIS_PROJECT: {
            'image_latency_ms': float(np.median(latencies)),
            'image_latency_p99_ms': float(np.percentile(latencies, 99)),
            'image_delivery_ratio': len(latencies) / args.latency_messages,
        }},
    }


def render_ms(seed: int, width: int, height: int, frames: int) -> float:
    """Median wall time of one SimWorld.render_stereo [ms]."""
    from groundfm.sim.config import SimConfig
    from groundfm.sim.house import generate_house
    from groundfm.sim.world import SimWorld

    world = SimWorld(generate_house(seed), SimConfig(scene_seed=seed, image_width=width, image_height=height))
    try:
        times = []
        for _ in range(frames + 3):
            world.step(50)
            start = time.perf_counter()
            world.render_stereo()
            times.append((time.perf_counter() - start) * 1e3)
        return float(np.median(times[3:]))
    finally:
        world.close()


def _wait(seconds: float, until=None) -> None:
    """Sleep up to `seconds`, returning early once `until()` is true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):
        time.sleep(0.05)


def node_rtf(seed: int, width: int, height: int, camera_rate: float, duration: float) -> float:
    """Sim seconds per wall second of the sim node process running as fast as it can, with a subscriber."""
    import subprocess

    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    from groundfm.ros import qos
    from groundfm.ros.convert import seconds_from_stamp

    domain = lease_domain_id(BENCH_DOMAIN_IDS)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    params = {'scene_seed': seed, 'image_width': width, 'image_height': height, 'camera_rate_hz': camera_rate,
              'real_time_factor': 0.0}
    cmd = [sys.executable, '-m', 'groundfm.sim.node', '--ros-args']
    for name, value in params.items():
        cmd += ['-p', f'{name}:={value}']
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = BackgroundNode('groundfm_bench', domain)
    node = client.node
    try:
        clock: list[tuple[float, float]] = []
        images = [0]
        node.create_subscription(Clock, '/clock', lambda m: clock.append((time.monotonic(),
                                                                          seconds_from_stamp(m.clock))), qos.CLOCK)
        for side in ('left', 'right'):
            node.create_subscription(Image, f'stereo/{side}/image_rect',
                                     lambda _m: images.__setitem__(0, images[0] + 1), qos.SENSOR)
        _wait(120.0, until=lambda: images[0] >= 4)  # loaded and streaming
        if images[0] < 4:
            raise RuntimeError('the sim node produced no images within 120 s')
        start = len(clock)
        _wait(duration)
        (w0, s0), (w1, s1) = clock[start], clock[-1]
        return (s1 - s0) / (w1 - w0)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        client.close()


def image_latency_ms(width: int, height: int, count: int) -> list[float]:
    """Per-image latency between two processes over DDS [ms]."""
    import subprocess

    from rclpy.time import Time
    from sensor_msgs.msg import Image

    from groundfm.ros import qos

    domain = lease_domain_id(BENCH_DOMAIN_IDS)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    client = BackgroundNode('groundfm_bench', domain)
    node = client.node
    latencies: list[float] = []

    def on_image(msg: Image) -> None:
        sent = Time.from_msg(msg.header.stamp).nanoseconds
        latencies.append((node.get_clock().now().nanoseconds - sent) * 1e-6)

    node.create_subscription(Image, 'bench/image', on_image, qos.SENSOR)
    proc = subprocess.Popen([sys.executable, '-m', 'groundfm.bench.image_publisher', '--count', str(count),
                             '--width', str(width), '--height', str(height)], env=env)
    try:
        proc.wait(timeout=120)
        _wait(0.5)
    finally:
        if proc.poll() is None:
            proc.terminate()
        client.close()
    if not latencies:
        raise RuntimeError('no image arrived over DDS: is the Fast DDS profile installed?')
    return latencies
