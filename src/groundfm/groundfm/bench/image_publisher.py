"""Publish 320x240 rgb8 images stamped with the wall clock, for the DDS latency benchmark (a separate process)."""

import argparse
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import Header

from groundfm.ros import qos
from groundfm.ros.convert import numpy_to_image


def main() -> None:
    """Publish `--count` images at `--rate` Hz on `--topic`, then exit."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--topic', default='bench/image')
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--count', type=int, default=300)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    args = parser.parse_args()
    pixels = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    try:
        with rclpy.init():
            node = rclpy.create_node('bench_image_publisher')
            pub = node.create_publisher(type(numpy_to_image(pixels[:1, :1], 'rgb8', Header())), args.topic,
                                        qos.SENSOR)
            deadline = time.monotonic() + 10.0
            while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # let discovery settle before the timed stream
            for _ in range(args.count):
                header = Header(stamp=node.get_clock().now().to_msg(), frame_id='bench')
                pub.publish(numpy_to_image(pixels, 'rgb8', header))
                time.sleep(1.0 / args.rate)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
