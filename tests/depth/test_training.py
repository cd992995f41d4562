"""StereoAdapter training: exact procedural ground truth, loss sanity, and (slow) both stages end to end."""

import cv2
import numpy as np
import pytest
import torch

from groundfm_training.depth.data import FlyingConfig, FlyingScenes, augment
from groundfm_training.depth.losses import photometric_error, self_supervised_loss, sequence_loss, warp_right_to_left


def test_procedural_pairs_have_exact_disparity():
    scenes = FlyingScenes(FlyingConfig(height=96, width=160, max_disparity=32, flat_prob=0.0), bank=[])
    left, right, disparity = scenes.sample(np.random.default_rng(3))
    h, w = disparity.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    warped = cv2.remap(right, xs - disparity, ys, cv2.INTER_LINEAR)
    error = np.abs(warped.astype(np.float32) - left.astype(np.float32)).mean(axis=2)

    assert left.shape == right.shape == (96, 160, 3) and disparity.dtype == np.float32
    assert np.isfinite(disparity).all() and 0 <= disparity.min() and disparity.max() <= 32 * 1.2
    assert np.median(error[:, 40:]) < 2.0, 'the right view warped by the GT disparity must reproduce the left'
    shifted = cv2.remap(right, xs - disparity - 3, ys, cv2.INTER_LINEAR)
    shifted_error = np.abs(shifted.astype(np.float32) - left)[:, 40:].mean(axis=2)
    assert shifted_error.mean() > 3 * error[:, 40:].mean(), 'a 3 px wrong disparity must warp visibly worse'


def test_augmentation_keeps_shapes_and_is_seeded():
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    img = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)

    a, b = augment(rng_a, img, img), augment(rng_b, img, img)

    assert a[0].shape == img.shape and a[0].dtype == np.uint8
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_sequence_loss_is_zero_at_the_ground_truth_and_ignores_invalid_pixels():
    gt = torch.rand(1, 1, 8, 8) * 10
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[..., 0] = False
    noisy = gt.clone()
    noisy[..., 0] += 50  # only where invalid

    assert sequence_loss([gt, gt, noisy], gt, valid).item() == pytest.approx(0.0, abs=1e-6)
    assert sequence_loss([gt, gt + 1], gt, valid).item() == pytest.approx(1.0)


def test_photometric_loss_prefers_the_true_disparity():
    scenes = FlyingScenes(FlyingConfig(height=64, width=128, max_disparity=16, flat_prob=0.0), bank=[])
    left, right, disparity = scenes.sample(np.random.default_rng(0))
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()  # noqa: E731
    lt, rt, d = to_t(left), to_t(right), torch.from_numpy(disparity)[None, None]

    warped, inside = warp_right_to_left(rt / 255, d)
    good = photometric_error(lt / 255, warped)[inside].mean()
    bad = photometric_error(lt / 255, warp_right_to_left(rt / 255, d + 4)[0])[inside].mean()
    loss_good, _ = self_supervised_loss(lt, rt, [d, d], d)
    loss_bad, _ = self_supervised_loss(lt, rt, [d, d + 4], d)

    assert good < 0.5 * bad
    assert loss_good < loss_bad


@pytest.mark.slow
def test_both_stages_run_end_to_end(tmp_path):
    from groundfm.depth.checkpoint import load_checkpoint
    from groundfm_training.depth.train import main

    args = ['--out', str(tmp_path / 'pre'), '--steps', '3', '--batch', '1', '--crop', '64', '128', '--iters', '2',
            '--embed-dim', '32', '--depth', '2', '--sim-fraction', '0', '--save-every', '2']
    assert main(['--stage', 'pretrain', *args, '--refine-from', 'matching']) == 0
    assert load_checkpoint(tmp_path / 'pre' / 'model.safetensors').cfg.refine_from == 'matching'
    pairs = FlyingScenes(FlyingConfig(height=64, width=128, max_disparity=16), bank=[])
    samples = [pairs.sample(np.random.default_rng(i)) for i in range(2)]
    np.savez(tmp_path / 'unl.npz', left=np.stack([s[0] for s in samples]), right=np.stack([s[1] for s in samples]))

    assert main(['--stage', 'adapt', '--init', str(tmp_path / 'pre' / 'model.safetensors'), '--unlabelled',
                 str(tmp_path / 'unl.npz'), '--out', str(tmp_path / 'ada'), '--steps', '2', '--batch', '1',
                 '--crop', '64', '128', '--iters', '2']) == 0
    model = load_checkpoint(tmp_path / 'ada' / 'model.safetensors')
    assert all(torch.count_nonzero(layer.lora_b) == 0 for layer in model.lora_layers()), 'adapters must be merged'
    before = load_checkpoint(tmp_path / 'pre' / 'model.safetensors')
    changed = [not torch.equal(a.base.weight, b.base.weight)
               for a, b in zip(model.lora_layers(), before.lora_layers(), strict=True)]
    assert all(changed), 'every adapted layer must have learned a non-zero update and merged it into its weight'
    log = (tmp_path / 'ada' / 'metrics.jsonl').read_text()
    assert '"active_ranks": ' + str(sum(layer.rank for layer in model.lora_layers())) in log
    assert (tmp_path / 'pre' / 'metrics.jsonl').read_text().count('"epe"') >= 1


def test_correlation_loss_is_low_for_a_volume_peaked_at_the_true_match():
    from groundfm_training.depth.losses import correlation_loss

    gt = torch.full((1, 1, 12, 40), 8.0)  # 2 px on the 1/4 grid
    valid = torch.ones_like(gt, dtype=torch.bool)
    peaked = torch.full((1, 3, 10, 10), -20.0)
    for x in range(2, 10):
        peaked[0, :, x, x - 2] = 20.0

    assert correlation_loss(peaked, gt, valid).item() == pytest.approx(0.0, abs=1e-4)
    assert correlation_loss(torch.zeros(1, 3, 10, 10), gt, valid).item() == pytest.approx(np.log(10), rel=1e-4)
    assert correlation_loss(peaked, gt + 4.0, valid).item() > 10.0


def _stream_args(**overrides):
    import argparse

    base = dict(crop=(32, 64), batch=2, flying_max_disp=8.0, max_disparity=192, sim_cache='', sim_fraction=0.0,
                seed=5, workers=2)
    return argparse.Namespace(**{**base, **overrides})


def test_background_batch_workers_draw_distinct_seeded_streams():
    from groundfm_training.depth.train import pretrain_batches

    first = [next(pretrain_batches(_stream_args(), np.random.default_rng(0), torch.device('cpu'))) for _ in range(2)]
    stream = pretrain_batches(_stream_args(), np.random.default_rng(0), torch.device('cpu'))
    a, b = next(stream), next(stream)  # the loader takes batches from its workers in turn

    assert a[0].shape == (2, 3, 32, 64) and a[2].shape == (2, 1, 32, 64)
    assert torch.equal(first[0][0], first[1][0]), 'worker streams must depend only on the seed'
    assert torch.equal(a[0], first[0][0])
    assert not torch.equal(a[0], b[0]), 'two workers must not draw the same batches'


def test_asking_for_cuda_without_one_is_a_clear_error():
    from groundfm_training.depth.train import resolve_device

    assert resolve_device('cpu').type == 'cpu'
    assert resolve_device('auto').type == ('cuda' if torch.cuda.is_available() else 'cpu')
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match='--device: .*sees 0 CUDA'):
            resolve_device('cuda')


def test_sim_cache_is_written_compressed_and_loads(tmp_path):
    from groundfm_training.depth.data import SimPairsConfig, build_sim_cache

    path = tmp_path / 'sim.npz'
    count = build_sim_cache(path, [1000], SimPairsConfig(views_per_house=2), seed=0)

    with np.load(path) as z:
        left, disparity = z['left'], z['disparity']
    assert count == 2 and left.shape[0] == 2 and disparity.shape == left.shape[:3]
    assert np.isfinite(disparity.astype(np.float32)).any()
    assert path.stat().st_size < 0.8 * (left.nbytes * 2 + disparity.nbytes), 'the cache must be compressed'


def test_correlation_winner_take_all_finds_the_peak_and_never_a_negative_disparity():
    from groundfm_training.depth.diagnose import correlation_wta

    h4, w4, true_disparity = 3, 10, 2  # feature px
    volume = np.zeros((h4, w4, w4), np.float32)
    for x in range(w4):
        volume[:, x, max(x - true_disparity, 0)] = 1.0
        if x + 1 < w4:
            volume[:, x, x + 1] = 5.0  # a stronger peak at a negative disparity must be ignored
    wta = correlation_wta(volume, height=10, width=37)
    assert wta.shape == (10, 37)
    expected = np.minimum(np.arange(w4), true_disparity) * 4.0  # near the left edge the best match is x_right = 0
    np.testing.assert_array_equal(wta[0, ::4], expected[:10])


def test_error_breakdown_reports_a_signed_bias_per_disparity_band():
    from groundfm_training.depth.diagnose import error_breakdown

    rng = np.random.default_rng(0)
    gt = np.tile(np.linspace(1, 30, 64, dtype=np.float32), (32, 1))
    pred = gt.copy()
    pred[gt > gt.max() * 0.8] -= 3.0  # the nearest band is under-estimated by 3 px
    left = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)
    report = error_breakdown(pred, gt, left)
    near, far = report['by_disparity'][-1], report['by_disparity'][0]
    assert far['bad2'] == 0.0 and far['bias'] == 0.0
    assert near['bias'] < -1.0 and near['bad2'] > 0.5
    assert len(report['by_texture']) == 4 and 0.0 <= report['left_band'] <= 1.0


def test_motorcycle_adaptation_pairs_are_the_benchmark_pair_with_its_labels(tmp_path):
    from groundfm.bench.depth import motorcycle
    from groundfm_training.depth.adapt_eval import make_motorcycle_pairs

    adapt_pairs, eval_sets = make_motorcycle_pairs(tmp_path)
    assert set(eval_sets) == {'motorcycle_370x250', 'motorcycle_741x500'}
    left, _, gt, _ = motorcycle('half')
    with np.load(adapt_pairs) as z:
        assert z['left'].shape == (1, *left.shape) and z['left'].dtype == np.uint8
        np.testing.assert_array_equal(z['disparity'][0], gt)


def test_self_supervised_loss_needs_a_refined_estimate():
    left = torch.full((1, 3, 16, 32), 128.0)
    mono = torch.ones(1, 1, 16, 32)
    with pytest.raises(ValueError, match='at least one refinement iteration'):
        self_supervised_loss(left, left.clone(), [mono], mono)


def test_pairs_from_a_recorded_bag_are_matched_by_stamp_and_converted_to_rgb(tmp_path):
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from std_msgs.msg import Header

    from groundfm.ros.convert import numpy_to_image
    from groundfm.ros.recorder import BAG_VERSION, message_definition
    from groundfm_training.depth.pairs_from_bag import main, stereo_pairs

    store = get_typestore(Stores.ROS2_KILTED)
    msgdef, rihs01 = message_definition(store, 'sensor_msgs/msg/Image')
    bag = tmp_path / 'walk'
    writer = Writer(bag, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    conns = {side: writer.add_connection(f'/stereo/{side}/image_rect', 'sensor_msgs/msg/Image', msgdef=msgdef,
                                         rihs01=rihs01) for side in ('left', 'right')}

    def write(side: str, stamp_s: float, value: int, encoding: str = 'rgb8') -> None:
        header = Header(frame_id=side)
        header.stamp.sec, header.stamp.nanosec = int(stamp_s), round((stamp_s % 1) * 1e9)
        pixels = np.zeros((8, 12, 3), np.uint8)
        pixels[..., 0] = value  # red in RGB; blue if the message says bgr8
        msg = numpy_to_image(pixels, encoding, header)
        writer.write(conns[side], int(stamp_s * 1e9), serialize_message(msg))

    write('left', 1.0, 10)
    write('right', 1.001, 11, 'bgr8')  # within the default 5 ms
    write('right', 1.1, 21)  # the right image first this time
    write('left', 1.1, 20)
    write('right', 1.35, 99)  # no partner: dropped
    write('left', 1.2, 30)
    write('right', 1.2, 31)
    writer.close()

    pairs = list(stereo_pairs(bag))
    assert [round(stamp, 3) for stamp, _, _ in pairs] == [1.0, 1.1, 1.2]
    assert [int(left[0, 0, 0]) for _, left, _ in pairs] == [10, 20, 30]
    assert pairs[0][2][0, 0].tolist() == [0, 0, 11]  # bgr8 became RGB
    assert [int(right[0, 0, 0]) for _, _, right in pairs[1:]] == [21, 31]

    assert main([str(bag), '-o', str(tmp_path / 'pairs.npz'), '--every', '2']) == 0
    with np.load(tmp_path / 'pairs.npz') as z:
        assert z['left'].shape == (2, 8, 12, 3) and z['right'].dtype == np.uint8
        np.testing.assert_allclose(z['stamps'], [1.0, 1.2])
    with pytest.raises(SystemExit, match='has no /cam/left'):
        main([str(bag), '-o', str(tmp_path / 'x.npz'), '--left-topic', 'cam/left'])


def test_switching_the_zncc_cost_on_starts_from_what_the_checkpoint_computes(tmp_path):
    import dataclasses

    from test_model import tiny_config

    from groundfm.depth.checkpoint import save_checkpoint
    from groundfm.depth.model import StereoAdapter
    from groundfm_training.depth.train import load_with_new_modules

    torch.manual_seed(0)
    plain = StereoAdapter(tiny_config()).eval()
    path = save_checkpoint(tmp_path / 'plain.safetensors', plain)
    grown, new = load_with_new_modules(str(path), dataclasses.replace(plain.cfg, zncc_window=16), torch.device('cpu'))
    left, right = torch.rand(1, 3, 32, 48) * 255, torch.rand(1, 3, 32, 48) * 255

    with torch.no_grad():
        before = plain(left, right, iterations=3)['disparity']
        after = grown.eval()(left, right, iterations=3)['disparity']

    assert torch.equal(before, after)
    assert new == {'update.motion.zncc.weight'} and torch.count_nonzero(grown.update.motion.zncc.weight) == 0
    with torch.no_grad():  # and the ZNCC path is connected: a non-zero conv changes the estimate
        grown.update.motion.zncc.weight.normal_(std=0.5)
        assert not torch.equal(before, grown(left, right, iterations=3)['disparity'])
    with pytest.raises(ValueError, match='mismatched'):
        load_with_new_modules(str(path), dataclasses.replace(plain.cfg, hidden_dims=(8, 8, 8)), torch.device('cpu'))
