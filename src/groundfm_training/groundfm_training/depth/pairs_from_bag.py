"""Unlabelled stereo pairs for stage b (self-supervised adaptation) from a rosbag2 recording of the robot's cameras.

  groundfm record -o runs/walk stereo/left/image_rect stereo/right/image_rect --duration 60
  python -m groundfm_training.depth.pairs_from_bag runs/walk -o runs/walk_pairs.npz --every 5
  python -m groundfm_training.depth.train --stage adapt --init models/stereo_adapter_small/model.safetensors \\
      --unlabelled runs/walk_pairs.npz --out runs/depth_adapt_walk --steps 150 --batch 2

Left and right images are paired by header stamp (within --slop-s, as the depth node pairs them); rgb8, bgr8, rgba8
and mono8 become RGB. The .npz holds left, right (n, h, w, 3) uint8 and stamps (n,) float64 [s], written atomically.
The images must be rectified (the depth node's input topics are).
"""

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

LEFT_TOPIC, RIGHT_TOPIC = '/stereo/left/image_rect', '/stereo/right/image_rect'


def stereo_pairs(bag: str | Path, left_topic: str = LEFT_TOPIC, right_topic: str = RIGHT_TOPIC,
                 slop_s: float = 0.005) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """(stamp [s], left, right (h, w, 3) uint8 RGB) for each left/right pair of the bag, in recording order.

    Pairing is the depth node's (`StampPairer` on the two image streams); unpaired images are dropped.
    """
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from groundfm.depth.estimator import to_rgb
    from groundfm.depth.pairing import IMAGE_STREAMS, StampPairer
    from groundfm.ros.convert import image_to_numpy, seconds_from_stamp
    from groundfm.ros.introspection import absolute_topic
    from groundfm.ros.recorder import ensure_type

    streams = {absolute_topic(left_topic): 'left', absolute_topic(right_topic): 'right'}
    store = get_typestore(Stores.ROS2_KILTED)
    pairer = StampPairer(slop_s, history=16, streams=IMAGE_STREAMS)
    with Reader(Path(bag)) as reader:
        connections = [c for c in reader.connections if c.topic in streams]
        missing = set(streams) - {c.topic for c in connections}
        if missing:
            raise ValueError(f'{bag} has no {", ".join(sorted(missing))}; it has '
                             f'{", ".join(sorted(c.topic for c in reader.connections))}')
        for conn in connections:
            ensure_type(store, conn.msgtype)
        for conn, _, raw in reader.messages(connections=connections):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            pairer.add(streams[conn.topic], seconds_from_stamp(msg.header.stamp), msg)
            pair = pairer.take(timeout=0)  # taken at once, so none is replaced unseen
            if pair is not None:
                yield (pair.stamp, to_rgb(image_to_numpy(pair.left), pair.left.encoding),
                       to_rgb(image_to_numpy(pair.right), pair.right.encoding))


def write_pairs(pairs: list[tuple[float, np.ndarray, np.ndarray]], out: str | Path) -> Path:
    """Stack pairs into a compressed .npz (left, right, stamps), atomically; ValueError if none or sizes differ."""
    from groundfm.io import atomic_write_bytes

    if not pairs:
        raise ValueError('no stereo pairs to write')
    shapes = {left.shape for _, left, _ in pairs} | {right.shape for _, _, right in pairs}
    if len(shapes) != 1:
        raise ValueError(f'the pairs have different image sizes: {sorted(shapes)}')
    buf = io.BytesIO()
    np.savez_compressed(buf, left=np.stack([p[1] for p in pairs]), right=np.stack([p[2] for p in pairs]),
                        stamps=np.array([p[0] for p in pairs], np.float64))
    return atomic_write_bytes(out, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Read the bag, keep every Nth pair (up to --max-pairs), write the .npz."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', help='rosbag2 folder (MCAP or SQLite storage)')
    p.add_argument('-o', '--out', required=True, help='.npz to write')
    p.add_argument('--left-topic', default=LEFT_TOPIC)
    p.add_argument('--right-topic', default=RIGHT_TOPIC)
    p.add_argument('--every', type=int, default=1, help='keep every Nth pair (consecutive frames are near-duplicates)')
    p.add_argument('--max-pairs', type=int, default=500)
    p.add_argument('--slop-s', type=float, default=0.005, help='largest left/right stamp difference of a pair [s]')
    args = p.parse_args(argv)
    if args.every < 1 or args.max_pairs < 1 or args.slop_s < 0:
        p.error('--every and --max-pairs must be >= 1 and --slop-s >= 0')
    kept, seen = [], 0
    try:
        for pair in stereo_pairs(args.bag, args.left_topic, args.right_topic, args.slop_s):
            if seen % args.every == 0:
                kept.append(pair)
            seen += 1
            if len(kept) == args.max_pairs:
                break
        path = write_pairs(kept, args.out)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'error: {err}') from err
    h, w = kept[0][1].shape[:2]
    print(f'wrote {len(kept)} pairs ({w}x{h}) of {seen} read to {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
