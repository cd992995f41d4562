"""The feed-forward VolSplat path: shipped weights through the real loader on held-out sim views, PM-Loss, I/O."""

from pathlib import Path

import numpy as np
import pytest
import torch

from groundfm.mapping.feedforward import (
    FeedForwardConfig,
    FeedForwardVolSplat,
    load_feedforward,
    pm_loss,
    predict,
    resize_depth,
    save_feedforward,
    scale_intrinsics,
)
from groundfm.mapping.metrics import psnr
from groundfm.mapping.rasterizer import Camera, render

WEIGHTS = Path(__file__).resolve().parents[2] / 'models' / 'volsplat_feedforward_small' / 'model.safetensors'
HELD_OUT_HOUSE = 8  # training uses houses >= 100, validation 50-51, the model card's evaluation 2-7


@pytest.fixture(scope='module')
def held_out_window():
    """Six consecutive sim frames of a held-out house: frames 1 and 4 are targets, the rest the context."""
    from groundfm.mapping.sequence import render_sequence

    frames = render_sequence(HELD_OUT_HOUSE, 26, walk_seed=HELD_OUT_HOUSE)[20:26]
    return [frames[i] for i in (0, 2, 3, 5)], [frames[1], frames[4]]


def _score(model: FeedForwardVolSplat, context, targets) -> tuple[float, float, object, dict]:
    """Mean target PSNR [dB] and depth L1 [m] of the model on a window, with its Gaussians and extras."""
    rgb = np.stack([f.rgb for f in context])
    poses = np.stack([f.t_map_cam for f in context])
    g, extra = predict(model, rgb, context[0].k, poses)
    s = model.cfg.image_scale
    k = scale_intrinsics(context[0].k, s)
    h, w = extra['depth'].shape[1:]
    ps = []
    for f in targets:
        cam = Camera(k, torch.tensor(np.linalg.inv(f.t_map_cam), dtype=torch.float32), w, h)
        with torch.no_grad():
            out = render(g, cam)[0]
        target = torch.nn.functional.interpolate(torch.from_numpy(f.rgb).float().permute(2, 0, 1)[None] / 255.0,
                                                 size=(h, w), mode='area')[0].permute(1, 2, 0)
        ps.append(psnr(out, target))
    gt = resize_depth(np.stack([context[v].depth for v in extra['views'].tolist()]), s)
    ok = torch.isfinite(gt)
    return float(np.mean(ps)), float((extra['depth'][ok] - gt[ok]).abs().mean()), g, extra


def test_shipped_weights_give_bounded_gaussians_and_beat_their_initialisation(held_out_window):
    torch.set_num_threads(1)
    context, targets = held_out_window
    trained = load_feedforward(WEIGHTS)
    torch.manual_seed(0)  # the initialisation training started from (train.py --seed 0)
    untrained = FeedForwardVolSplat(trained.cfg).eval()

    p_trained, d_trained, g, extra = _score(trained, context, targets)
    p_untrained, d_untrained, _, _ = _score(untrained, context, targets)

    vs = trained.cfg.voxel_size
    assert len(g) > 500
    for t in (g.means, g.scales, g.quats, g.opacities, g.sh):
        assert torch.isfinite(t).all()
    # The centroid lies in its voxel, and the centre at most 1.5 voxels from it (mu = c + 3 v_s (sigmoid - 0.5)).
    assert ((extra['centroids'] / vs - extra['voxels']).abs() <= 0.5 + 1e-3).all()
    assert ((g.means - extra['centroids']).abs() <= 1.5 * vs + 1e-5).all()
    assert ((g.opacities > 0) & (g.opacities < 1)).all() and (g.scales > 0).all()
    assert p_trained > p_untrained + 1.0, (p_trained, p_untrained)
    assert d_trained < 0.7 * d_untrained, (d_trained, d_untrained)


def test_loader_round_trip_and_rejects_foreign_files(tmp_path):
    torch.manual_seed(0)
    cfg = FeedForwardConfig(feat_dim=8, num_depths=4, unet_channels=(8, 16), image_scale=0.5)
    model = FeedForwardVolSplat(cfg).eval()
    path = save_feedforward(model, tmp_path / 'ff.safetensors')

    loaded = load_feedforward(path)

    assert loaded.cfg == cfg
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    from safetensors.torch import save_file

    save_file({'x': torch.zeros(1)}, str(tmp_path / 'other.safetensors'))
    with pytest.raises(ValueError, match='no config'):
        load_feedforward(tmp_path / 'other.safetensors')


def test_pm_loss_aligns_by_pixel_correspondences_and_chamfers_from_the_centres():
    torch.manual_seed(0)
    pixels = torch.rand(2000, 3) * torch.tensor([2.0, 2.0, 0.0])  # lifted points on a plane z = 0
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    rot = q * torch.sign(torch.linalg.det(q))
    pointmap = 0.5 * pixels @ rot.T + torch.tensor([3.0, 1.0, -1.0])  # the same pixels in another Sim(3) frame
    centres = pixels[:300] + torch.tensor([0.0, 0.0, 0.02])  # voxel centres 2 cm off the plane
    centres.requires_grad_(True)

    loss = pm_loss(centres, pointmap, pred_points=pixels)
    loss.backward()

    assert loss.item() == pytest.approx(0.02 ** 2, rel=0.05)
    assert centres.grad[:, 2].gt(0).all()  # pulls the centres back onto the plane
    assert pm_loss(pixels[:300], pointmap, pred_points=pixels).item() < 1e-8
    with pytest.raises(ValueError, match='index-matched'):
        pm_loss(centres, pointmap)


def test_resize_depth_averages_valid_pixels_and_keeps_holes():
    depth = np.array([[[1.0, 3.0, np.nan, np.nan], [1.0, 3.0, np.nan, 4.0]]], np.float32)

    out = resize_depth(depth, 0.5)

    assert out.shape == (1, 1, 2)
    assert out[0, 0, 0].item() == pytest.approx(2.0) and torch.isnan(out[0, 0, 1])


def test_plane_sweep_peaks_at_the_true_depth_and_ignores_points_behind_the_source():
    from groundfm.mapping.feedforward import plane_sweep

    torch.manual_seed(0)
    k = torch.tensor([[20.0, 0.0, 15.5], [0.0, 20.0, 7.5], [0.0, 0.0, 1.0]])
    f_ref = torch.randn(64, 16, 32)
    f_src = torch.zeros_like(f_ref)
    f_src[..., :-2] = f_ref[..., 2:]  # a plane at 2 m seen from 0.2 m to the right: disparity 20 * 0.2 / 2 = 2 px
    t_src_ref = torch.eye(4)
    t_src_ref[0, 3] = -0.2
    depths = torch.tensor([1.0, 1.5, 2.0, 3.0, 4.0])

    cost = plane_sweep(f_ref, f_src, k, t_src_ref, depths)

    assert cost.shape == (5, 16, 32)
    assert (cost[..., 4:30].argmax(0) == 2).all()
    t_behind = torch.eye(4)
    t_behind[2, 3] = -5.0  # the source camera 5 m ahead: every candidate lies behind it
    assert plane_sweep(f_ref, f_ref, k, t_behind, depths).abs().max() == 0


@pytest.mark.slow
def test_feedforward_training_writes_loadable_weights_and_metrics(tmp_path):
    import json

    from groundfm_training.mapping.train import main

    rc = main(['--mode', 'feedforward', '--steps', '2', '--train-houses', '1', '--frames', '8', '--window', '6',
               '--target-every', '3', '--scale', '0.25', '--ff-voxel-size', '0.05', '--num-depths', '8',
               '--pm-weight', '0.005', '--cache', str(tmp_path / 'cache'), '--out', str(tmp_path / 'run'),
               '--log-every', '1', '--val-every', '2'])

    assert rc == 0
    model = load_feedforward(tmp_path / 'run' / 'model.safetensors')
    assert model.cfg.image_scale == 0.25 and model.cfg.num_depths == 8
    rows = [json.loads(line) for line in (tmp_path / 'run' / 'metrics_feedforward.jsonl').read_text().splitlines()]
    assert [r['step'] for r in rows] == [1, 2]
    assert {'loss', 'psnr', 'depth_l1', 'depth_absrel', 'pm_loss', 'val_psnr'} <= set(rows[-1])
