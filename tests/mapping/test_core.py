"""Unit tests of the ROS-free mapping core: voxel map, sparse conv, head, rasterizer, occupancy, objects, PM-Loss."""

from collections import defaultdict

import numpy as np
import pytest
import torch

from groundfm.colors import name_color as color_name
from groundfm.mapping.config import MapConfig, VolSplatConfig
from groundfm.mapping.feedforward import pm_loss, umeyama
from groundfm.mapping.objects import extract_objects
from groundfm.mapping.occupancy import FREE, OCCUPIED, UNKNOWN, occupancy_from_map, occupancy_from_points
from groundfm.mapping.rasterizer import Camera, _reference_render, render
from groundfm.mapping.sparse_conv import (
    SparseDown,
    SparseUp,
    SubmConv3d,
    _reference_down,
    _reference_subm_conv3d,
    _reference_up,
    kernel_map,
    parent_map,
)
from groundfm.mapping.volsplat import GaussianMap, Gaussians, VolSplatRefiner, decode, quat_to_matrix_wxyz
from groundfm.mapping.voxel_map import VoxelHash, VoxelMap, stereo_outliers, trusted_labels

K = np.array([[40.0, 0.0, 15.5], [0.0, 40.0, 11.5], [0.0, 0.0, 1.0]])
LOOK_DOWN = np.diag([1.0, -1.0, -1.0])  # optical x = map x, y = -map y, z = -map z


def _pose(rot: np.ndarray, t) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rot, t
    return m


def _plane_frame(rng: np.random.Generator, height: float = 1.0, shift=(0.0, 0.0)):
    """A camera looking straight down at the floor z = 0 from `height`: rgb, depth, pose."""
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    depth = np.full((24, 32), height, np.float32)
    return rgb, depth, _pose(LOOK_DOWN, [shift[0], shift[1], height])


def _brute_force_means(frames, voxel_size):
    """Per voxel key (tuple) -> (count, mean colour, centroid) over all lifted points of all frames."""
    acc = defaultdict(list)
    for rgb, depth, pose in frames:
        for v in range(depth.shape[0]):
            for u in range(depth.shape[1]):
                z = float(depth[v, u])
                p = pose[:3, :3] @ np.array([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z]) + pose[:3, 3]
                acc[tuple(np.round(p / voxel_size).astype(int))].append((rgb[v, u] / 255.0, p))
    return {k: (len(v), np.mean([c for c, _ in v], 0), np.mean([p for _, p in v], 0)) for k, v in acc.items()}


def test_running_means_and_centroids_are_exact_on_a_plane():
    rng = np.random.default_rng(0)
    frames = [_plane_frame(rng), _plane_frame(rng, 1.0, (0.013, -0.021)), _plane_frame(rng, 1.3, (0.05, 0.02))]
    vmap = VoxelMap(MapConfig(voxel_size=0.02))

    for f in frames:
        vmap.integrate(*f[:2], K, f[2])

    truth = _brute_force_means(frames, 0.02)
    slots = vmap.slots()
    assert vmap.size == len(truth)
    coords = vmap.coords(slots)
    for s, c in zip(slots, coords, strict=True):
        count, color, centroid = truth[tuple(c)]
        assert vmap.count[s] == count
        np.testing.assert_allclose(vmap.colors(np.array([s]))[0], color, atol=1e-5)
        np.testing.assert_allclose(vmap.centroids(np.array([s]))[0], centroid, atol=1e-6)
    assert np.all(np.abs(vmap.centroids(slots)[:, 2]) < 1e-6), 'plane points must stay on z = 0'
    cov = vmap.covariances(slots)
    assert np.all(np.abs(cov[:, 2, 2]) < 1e-9) and np.all(cov[:, 0, 0] >= -1e-9)


def test_input_validation_names_the_problem():
    vmap = VoxelMap()
    rgb, depth, pose = _plane_frame(np.random.default_rng(0))
    with pytest.raises(ValueError, match='rgb must be uint8'):
        vmap.integrate(rgb[:10], depth, K, pose)
    with pytest.raises(ValueError, match='finite'):
        vmap.integrate(rgb, depth, K, pose * np.nan)
    depth[:5] = np.nan  # NaN depth is simply skipped ...
    assert VoxelMap(MapConfig(outlier_window_px=0)).integrate(rgb, depth, K, pose).points == 32 * 19
    stats = vmap.integrate(rgb, depth, K, pose)  # ... and so are the rows whose outlier window reaches the hole
    assert stats.points == 32 * (19 - MapConfig().outlier_window_px // 2)


def test_hash_table_insert_lookup_delete_and_growth():
    rng = np.random.default_rng(1)
    table = VoxelHash(16)
    keys = np.unique(rng.integers(0, 1 << 60, 5000))
    table.insert(keys[:3000], np.arange(3000))
    table.delete(keys[:1000])
    table.insert(keys[3000:], np.arange(3000, len(keys)))

    got = table.lookup(keys)
    assert np.all(got[:1000] == -1)
    assert np.array_equal(got[1000:], np.arange(1000, len(keys)))
    assert len(table) == len(keys) - 1000


def _room_frames(n: int = 4):
    """Views of a random height field: depth varies so voxels form a 3-D surface with neighbours."""
    rng = np.random.default_rng(2)
    frames = []
    for i in range(n):
        rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        depth = (1.0 + 0.1 * np.sin(np.arange(32)[None] / 3.0 + i) + 0.05 * rng.random((24, 32))).astype(np.float32)
        frames.append((rgb, depth, _pose(LOOK_DOWN, [0.04 * i, 0.03 * i, 1.0])))
    return frames


def test_streaming_update_recomputes_only_what_changed_and_equals_full_inference():
    torch.manual_seed(0)
    model = VolSplatRefiner(VolSplatConfig(hidden=8, refine_layers=2))
    for p in model.head[-1].parameters():  # a trained-like head: outputs depend on the neighbours
        torch.nn.init.normal_(p, std=0.3)
    vmap = VoxelMap(MapConfig(voxel_size=0.03))
    gmap = GaussianMap(vmap, model)
    recomputed = []

    for rgb, depth, pose in _room_frames():
        vmap.integrate(rgb, depth, K, pose)
        recomputed.append(gmap.update())
    streamed = gmap.raw[vmap.slots()].copy()
    gmap.recompute_all()

    np.testing.assert_allclose(streamed, gmap.raw[vmap.slots()], atol=1e-5)
    assert recomputed[-1] < vmap.size, 'a keyframe must not recompute the whole map'


def test_budget_evicts_least_recently_seen_voxels():
    rng = np.random.default_rng(3)
    vmap = VoxelMap(MapConfig(voxel_size=0.02, voxel_budget=1000, evict_fraction=0.2))
    first = _plane_frame(rng, 1.0, (0.0, 0.0))
    vmap.integrate(*first[:2], K, first[2])
    first_keys = set(vmap.key[vmap.slots()].tolist())
    for i in range(1, 6):
        f = _plane_frame(rng, 1.0, (0.9 * i, 0.0))  # disjoint areas
        stats = vmap.integrate(*f[:2], K, f[2])

    assert vmap.size <= 1000
    assert stats.evicted > 0
    assert not first_keys & set(vmap.key[vmap.slots()].tolist()), 'the oldest area must go first'
    assert set(vmap.last_seen[vmap.slots()].tolist()) >= {5, 6}
    nbr = vmap.nbr[vmap.slots()]
    assert np.all(vmap.alive[nbr[nbr >= 0]]), 'no neighbour link may point at an evicted voxel'


def test_save_load_round_trip_is_identical(tmp_path):
    frames = _room_frames()
    vmap = VoxelMap(MapConfig(voxel_size=0.03))
    for rgb, depth, pose in frames[:3]:
        vmap.integrate(rgb, depth, K, pose, labels=(depth * 10).astype(np.int32))
    path = vmap.save(tmp_path / 'map.npz')
    loaded = VoxelMap.load(path, MapConfig(voxel_size=0.03))

    a, b = vmap.state_dict(), loaded.state_dict()
    order_a, order_b = np.argsort(a['key']), np.argsort(b['key'])
    for name in ('key', 'count', 'mean', 'label', 'label_votes', 'last_seen'):
        assert np.array_equal(a[name][order_a], b[name][order_b]), name
    assert loaded.keyframes == vmap.keyframes
    # The reloaded map keeps working exactly like the original.
    for m in (vmap, loaded):
        m.integrate(*frames[3][:2], K, frames[3][2])
    a, b = vmap.state_dict(), loaded.state_dict()
    assert np.array_equal(a['mean'][np.argsort(a['key'])], b['mean'][np.argsort(b['key'])])
    assert not list(tmp_path.glob('*.partial')), 'atomic save leaves no temporary file'


def _sparse_coords(n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.unique(torch.randint(-6, 7, (n, 3), generator=g), dim=0)


def test_sparse_conv_equals_its_dense_reference():
    torch.manual_seed(0)
    coords = _sparse_coords()
    feats = torch.randn(len(coords), 5)
    conv = SubmConv3d(5, 7)
    torch.nn.init.normal_(conv.bias)

    out = conv(feats, kernel_map(coords))

    torch.testing.assert_close(out, _reference_subm_conv3d(conv, coords, feats), atol=1e-5, rtol=1e-5)


def test_strided_sparse_conv_and_transpose_equal_their_dense_references():
    torch.manual_seed(1)
    coords = _sparse_coords(seed=1)
    feats = torch.randn(len(coords), 4)
    down, up = SparseDown(4, 6), SparseUp(6, 3)
    pcoords, parent, offset = parent_map(coords)

    pfeats = down(feats, parent, offset, len(pcoords))
    ref_coords, ref = _reference_down(down, coords, feats)
    assert torch.equal(pcoords, ref_coords)
    torch.testing.assert_close(pfeats, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(up(pfeats, parent, offset), _reference_up(up, pcoords, pfeats, coords), atol=1e-5,
                               rtol=1e-5)


def test_head_centre_stays_within_its_voxel_bound():
    torch.manual_seed(0)
    vs = 0.05
    raw = torch.randn(1000, 38) * 50  # extreme network outputs
    centroids = torch.randn(1000, 3)

    g = decode(raw, centroids, vs)

    assert (g.means - centroids).abs().max() <= 1.5 * vs + 1e-6
    assert g.scales.min() >= 1e-10 and g.scales.max() <= 3.0
    assert torch.all((g.opacities >= 0) & (g.opacities <= 1))
    torch.testing.assert_close(g.quats.norm(dim=1), torch.ones(1000))
    assert g.sh.shape == (1000, 9, 3) and raw.shape[1] == 1 + 3 + 3 + 4 + 27


def test_untrained_head_is_a_surfel_at_the_centroid_with_the_voxel_colour():
    vmap = VoxelMap(MapConfig(voxel_size=0.04))
    rgb, depth, pose = _plane_frame(np.random.default_rng(4))
    vmap.integrate(rgb, depth, K, pose)
    gmap = GaussianMap(vmap)
    gmap.recompute_all()
    slots = vmap.slots()
    many = vmap.count[slots] >= 3

    g = gmap.gaussians()

    np.testing.assert_allclose(g.means.numpy(), vmap.centroids(slots), atol=1e-5)
    np.testing.assert_allclose(g.dc_rgb().numpy(), vmap.colors(slots), atol=1e-5)
    # Flat along the plane normal (map z) for voxels with enough points.
    rot = quat_to_matrix_wxyz(g.quats)
    thinnest = rot[torch.arange(len(g)), :, g.scales.argmin(1)]
    assert torch.all(thinnest[torch.from_numpy(many)][:, 2].abs() > 0.99)


def _random_gaussians(n: int, seed: int) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    return Gaussians(torch.randn(n, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 2.0]),
                     torch.randn(n, 4, generator=g), torch.rand(n, 3, generator=g) * 0.1 + 0.02,
                     torch.rand(n, generator=g) * 0.9 + 0.05, torch.randn(n, 9, 3, generator=g) * 0.3)


def test_rasterizer_equals_the_brute_force_reference_and_gradients_flow():
    g = _random_gaussians(25, 0)
    for t in (g.means, g.scales, g.sh, g.opacities, g.quats):
        t.requires_grad_(True)
    cam = Camera(torch.tensor(K, dtype=torch.float32), torch.eye(4), 32, 24)

    fast, ref = render(g, cam, backend='torch'), _reference_render(g, cam)

    for a, b in zip(fast, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert fast[2].max() > 0.5, 'the Gaussians must be in view'
    (fast[0].sum() + fast[1].nan_to_num().sum()).backward()
    for t in (g.means, g.scales, g.sh, g.opacities, g.quats):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_render_of_a_fitted_surfel_map_reproduces_a_flat_colour():
    vmap = VoxelMap(MapConfig(voxel_size=0.04))
    rgb = np.full((24, 32, 3), (200, 40, 40), np.uint8)
    depth = np.full((24, 32), 1.0, np.float32)
    pose = _pose(LOOK_DOWN, [0, 0, 1.0])
    vmap.integrate(rgb, depth, K, pose)
    gmap = GaussianMap(vmap)
    gmap.recompute_all()
    cam = Camera(torch.tensor(K, dtype=torch.float32), torch.tensor(np.linalg.inv(pose), dtype=torch.float32), 32, 24)

    out, d, acc = render(gmap.gaussians(), cam)

    centre = (slice(4, 20), slice(4, 28))
    assert acc[centre].min() > 0.95
    colour = (out[centre] / acc[centre][..., None]).numpy()  # black background behind a partly covered pixel
    np.testing.assert_allclose(colour, np.broadcast_to(rgb[centre] / 255.0, colour.shape), atol=0.01)
    np.testing.assert_allclose(d[centre].numpy(), 1.0, atol=0.02)


def test_a_stereo_outlier_seen_through_by_later_views_is_free_space_not_an_obstacle():
    rng = np.random.default_rng(3)
    # The see-through test alone (the outlier window would drop the blob before it is ever lifted).
    vmap = VoxelMap(MapConfig(occupancy_resolution=0.05, occupancy_min_views=1, outlier_window_px=0))
    rgb, floor, pose = _plane_frame(rng, height=1.0)
    outlier = floor.copy()
    outlier[8:12, 12:16] = 0.5  # a mismatch floating 0.5 m above the floor, in one frame
    post = np.zeros((24, 32), np.float32)
    post[:, 20:] = 1.0  # a real post standing 0.5 m high elsewhere, seen by every frame
    vmap.integrate(rgb, np.minimum(outlier, 1.0 - 0.5 * (post > 0)), K, pose)
    blob_xy = (pose @ np.r_[(13.5 - K[0, 2]) / K[0, 0] * 0.5, (9.5 - K[1, 2]) / K[1, 1] * 0.5, 0.5, 1.0])[:2]
    post_xy = (pose @ np.r_[(26 - K[0, 2]) / K[0, 0] * 0.5, (12 - K[1, 2]) / K[1, 1] * 0.5, 0.5, 1.0])[:2]
    assert occupancy_from_map(vmap).value_at(*blob_xy) == OCCUPIED  # one frame: indistinguishable from a post

    for _ in range(3):  # later views see the floor through the outlier, and the post again
        vmap.integrate(rgb, np.minimum(floor, 1.0 - 0.5 * (post > 0)), K, pose)

    grid = occupancy_from_map(vmap)
    assert grid.value_at(*blob_xy) == FREE
    assert grid.value_at(*post_xy) == OCCUPIED
    slots = vmap.slots()
    assert vmap.free_space(slots).sum() == ((vmap.misses[slots] > 0) & (vmap.hits[slots] == 1)).sum() > 0
    restored = VoxelMap.from_state(vmap.state_dict())
    np.testing.assert_array_equal(restored.free_space(restored.slots()), vmap.free_space(slots))
    assert occupancy_from_map(vmap, MapConfig(occupancy_min_views=4)).value_at(*post_xy) == OCCUPIED  # 4 views
    assert occupancy_from_map(vmap, MapConfig(occupancy_min_views=5)).value_at(*post_xy) != OCCUPIED


def test_occupancy_of_a_known_box():
    cfg = MapConfig(occupancy_resolution=0.1)
    xs, ys = np.meshgrid(np.arange(0.05, 3.0, 0.1), np.arange(0.05, 2.0, 0.1))
    floor = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    bx, by, bz = np.meshgrid(np.arange(1.05, 1.5, 0.1), np.arange(0.55, 1.0, 0.1), np.arange(0.05, 0.5, 0.1))
    box = np.stack([bx.ravel(), by.ravel(), bz.ravel()], 1)
    high = np.array([[2.55, 1.55, 1.5]])  # a shelf above the robot: not an obstacle
    pts = np.concatenate([floor, box, high])

    grid = occupancy_from_points(pts, np.full(len(pts), 5.0), cfg)

    assert grid.value_at(1.25, 0.75) == OCCUPIED
    assert grid.value_at(0.3, 0.3) == FREE
    assert grid.value_at(2.55, 1.55) == FREE
    assert grid.value_at(-5.0, 0.0) == UNKNOWN
    occupied = np.argwhere(grid.data == OCCUPIED)
    assert len(occupied) == 5 * 5
    rows, cols = occupied[:, 0], occupied[:, 1]
    lo_x, lo_y = grid.origin
    assert np.isclose(lo_x + cols.min() * 0.1, 1.0) and np.isclose(lo_y + rows.min() * 0.1, 0.5)


def test_object_box_and_colour_from_a_coloured_cube():
    rng = np.random.default_rng(5)
    yaw = 0.4
    local = rng.uniform(-0.5, 0.5, (2000, 3)) * np.array([0.8, 0.4, 0.6])
    c, s = np.cos(yaw), np.sin(yaw)
    pts = local @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + np.array([2.0, 1.0, 0.3])
    labels = np.full(2000, 7)
    wall = np.c_[rng.uniform(0, 4, (500, 2)), np.zeros(500)]
    pts = np.concatenate([pts, wall])
    labels = np.concatenate([labels, np.zeros(500, int)])
    colors = np.tile([0.80, 0.12, 0.10], (len(pts), 1)) + rng.normal(0, 0.02, (len(pts), 3))

    objs = extract_objects(pts, np.ones(len(pts)), labels, np.ones(len(pts)), colors, {0: 'structure', 7: 'sofa'})

    assert len(objs) == 1
    o = objs[0]
    assert (o.id, o.label, o.color_name) == (7, 'sofa', 'red')
    np.testing.assert_allclose(o.center, [2.0, 1.0, 0.3], atol=0.03)
    np.testing.assert_allclose(o.size, [0.8, 0.4, 0.6], atol=0.05)
    assert abs(o.yaw - yaw) < 0.05
    assert color_name(np.array([0.12, 0.25, 0.8])) == 'blue'


def test_objects_seen_again_under_another_id_are_merged():
    rng = np.random.default_rng(6)
    pts = rng.uniform(0, 0.5, (400, 3))
    labels = np.where(np.arange(400) < 200, 3, 9)
    objs = extract_objects(pts, np.ones(400), labels, np.ones(400), np.full((400, 3), 0.5),
                           {3: 'chair', 9: 'chair'})
    assert [o.id for o in objs] == [3] and objs[0].voxels == 400


def test_stray_votes_far_from_an_object_do_not_stretch_its_box():
    rng = np.random.default_rng(7)
    body = rng.uniform([1.8, 0.8, 0.0], [2.2, 1.2, 0.5], (300, 3))
    stray = rng.uniform([4.8, 3.8, 0.0], [5.2, 4.2, 0.5], (30, 3))  # votes a wrong depth lifted across the room
    pts = np.concatenate([body, stray])
    objs = extract_objects(pts, np.ones(330), np.full(330, 5), np.ones(330), np.full((330, 3), 0.5), {5: 'chair'})
    assert len(objs) == 1
    np.testing.assert_allclose(objs[0].center[:2], [2.0, 1.0], atol=0.05)
    assert objs[0].size[:2].max() < 0.5 and objs[0].voxels == 300


def test_only_pixels_inside_one_label_and_one_surface_vote():
    labels = np.zeros((20, 30), np.int32)
    labels[5:15, 10:20] = 4  # an object in front of a wall
    depth = np.full((20, 30), 3.0, np.float32)
    depth[5:15, 10:20] = 1.0
    depth[0, 0] = np.nan
    out = trusted_labels(labels, depth, margin_px=2, depth_step=0.1)
    assert (out[7:13, 12:18] == 4).all()  # the object's interior votes
    assert (out[5:7, 10:20] == -1).all() and (out[3:5, 10:20] == -1).all()  # both sides of the edge abstain
    assert out[0, 0] == -1 and out[2, 2] == -1 and out[0, 3] == 0  # a hole silences its neighbours only
    assert (out[:, 25:] == 0).all()
    tilted = np.tile(np.linspace(2.0, 2.2, 30, dtype=np.float32), (20, 1))  # a slanted wall: 0.7 % per pixel
    assert (trusted_labels(np.zeros_like(labels), tilted, 2, 0.1) == 0).all()
    assert trusted_labels(labels, depth, 0, 0.1) is labels


def test_stereo_outliers_keep_slanted_planes_and_drop_mismatches_edges_and_hole_sides():
    rows, cols = np.mgrid[0:40, 0:60].astype(np.float32)
    floor = 1.0 / (0.05 + 0.01 * rows + 0.002 * cols)  # a plane seen at a slant: inverse depth affine in (u, v)
    assert not stereo_outliers(floor, 9, 0.024).any()
    depth = floor.copy()
    depth[10:13, 30:33] = 0.8 * depth[10:13, 30:33]  # a mismatched blob, 20 % too near
    depth[:, 50:] = 1.0  # a box in front of the plane from column 50 on
    depth[30, 10] = np.nan  # a failed match
    out = stereo_outliers(depth, 9, 0.024)
    assert out[11, 31] and out[10:13, 30:33].all()  # the blob
    assert out[20, 49] and out[20, 50]  # both sides of the depth edge
    assert not out[20, 40] and not out[20, 58]  # the plane and the box away from the edge
    assert out[30, 12] and out[26, 10] and not out[30, 15] and not out[30, 10]  # the hole's window, not the hole
    assert not stereo_outliers(depth, 0, 0.024).any()


def test_pm_loss_is_zero_for_an_exact_similarity_transform():
    torch.manual_seed(0)
    pts = torch.randn(500, 3)
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    rot = q * torch.sign(torch.linalg.det(q))
    pseudo = 2.5 * pts @ rot.T + torch.tensor([1.0, -2.0, 0.5])

    scale, r, t = umeyama(pseudo, pts)
    assert scale == pytest.approx(1 / 2.5, rel=1e-4)
    assert pm_loss(pts, pseudo).item() == pytest.approx(0.0, abs=1e-4)
    assert pm_loss(pts + 0.1 * torch.randn_like(pts), pseudo).item() > 1e-3


def test_feedforward_model_with_zpressor_gives_bounded_gaussians_and_gradients():
    from groundfm.mapping.feedforward import FeedForwardConfig, FeedForwardVolSplat, ZPressor

    torch.manual_seed(0)
    cfg = FeedForwardConfig(feat_dim=16, num_depths=8, voxel_size=0.1, unet_channels=(8, 16), use_zpressor=True,
                            num_anchors=2, zp_layers=1, zp_heads=2)
    model = FeedForwardVolSplat(cfg)
    poses = torch.stack([torch.tensor(_pose(LOOK_DOWN, [0.1 * i, 0.0, 1.5]), dtype=torch.float32) for i in range(4)])
    images = torch.rand(4, 3, 24, 32)

    g, extra = model(images, torch.tensor(K, dtype=torch.float32), poses)

    anchors, cluster = ZPressor.select_anchors(poses[:, :3, 3], 2)
    assert anchors.tolist() == [0, 3] and cluster.tolist() == [0, 0, 1, 1]
    assert torch.equal(extra['views'], anchors) and extra['depth'].shape == (2, 24, 32)
    assert ((extra['depth'] >= cfg.near - 1e-4) & (extra['depth'] <= cfg.far + 1e-3)).all()
    assert len(g) > 10 and torch.isfinite(g.means).all()
    rgb = render(g, Camera(torch.tensor(K, dtype=torch.float32), torch.linalg.inv(poses[1]), 32, 24))[0]
    rgb.mean().backward()
    assert model.unet.enc[0].weight.grad is not None and model.encoder.net[0].weight.grad.abs().sum() > 0
