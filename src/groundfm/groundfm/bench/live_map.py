"""live_map: the occupancy and objects that mapping builds from stereo depth, scored against the sim's ground truth.

No ROS: the mapping core (VoxelMap, occupancy_from_map, extract_objects) is fed the frames the robot would see along a
seeded collision-free walk (`mapping.sequence.random_walk`, one keyframe per 0.12 m step or turn), with the oracle
instance labels the sim publishes. Methods differ only in the depth:
  groundfm:  SGBM on the rendered stereo pair (the depth node's default backend): what navigation gets;
  sim_gt:    the sim's ground-truth depth (upper bound).
Dev houses by default (20-23): never the navigation benchmark's held-out 1000+.
Metrics per method (summed or pooled over the seeds):
  phantom_cells     occupied cells that are free in the ground-truth grid and more than 0.3 m from any obstacle
                    (what makes a planner detour or give up);
  occupied_cells    all occupied cells;
  obstacle_recall   share of ground-truth obstacle cells next to observed free space with an occupied cell within
                    0.1 m (what keeps the robot off furniture);
  passable_lost     share of the observed cells where the body fits in truth (0.22 m from any obstacle: the nav
                    benchmark's BODY_RADIUS_M) that the map's occupied cells shut for it (what narrows doorways
                    and gaps: phantoms near a wall count here, not in phantom_cells);
  floor_seen        share of the ground truth's free cells that the map shows free (what exploration has to go on);
  object_center_m   median distance between an object's box centre and its ground-truth centre (x, y) [m];
  object_oversize   share of objects whose box is more than 0.5 m longer than the ground truth's;
  object_recall     share of the house's objects that the map reports (the walk is the same for every method, so
                    sim_gt's value is what the walk allows).
"""

import argparse
import math
import statistics

import numpy as np

from groundfm.bench.results import THIS_PROJECT, Results

PHANTOM_CLEARANCE_M = 0.3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark (the shared ones are --seeds, --json, --targets)."""
    parser.add_argument('--frames', type=int, default=150, help='keyframes per walk')
    parser.add_argument('--methods', nargs='+', default=[THIS_PROJECT, 'sim_gt'], choices=[THIS_PROJECT, 'sim_gt'])
    parser.add_argument('--map-param', action='append', default=[], metavar='NAME=VALUE',
                        help='override a mapping parameter (repeatable), e.g. occupancy_min_views=1')
    parser.set_defaults(seeds=[20, 21, 22, 23])


def map_config(overrides: list[str]):
    """MapConfig with NAME=VALUE overrides, each parsed as the field's type."""
    import dataclasses

    from groundfm.mapping.config import MapConfig

    types = {f.name: type(f.default) for f in dataclasses.fields(MapConfig)}
    values = {}
    for item in overrides:
        name, _, text = item.partition('=')
        if name not in types:
            raise SystemExit(f'--map-param: unknown mapping parameter {name!r}')
        values[name] = text.lower() in ('1', 'true') if types[name] is bool else types[name](text)
    return MapConfig(**values)


def build_map(seed: int, frames: int, depth: str, cfg=None):
    """Walk house `seed` for `frames` keyframes and fuse them with SGBM or ('sim_gt') true depth; returns (house,
    VoxelMap); cfg: MapConfig (default: the defaults)."""
    from groundfm.depth.estimator import DepthEstimator
    from groundfm.mapping.config import MapConfig
    from groundfm.mapping.sequence import camera_pose, random_walk
    from groundfm.mapping.voxel_map import VoxelMap
    from groundfm.sim.config import SimConfig
    from groundfm.sim.house import generate_house
    from groundfm.sim.world import SimWorld

    house = generate_house(seed)
    world = SimWorld(house, SimConfig(scene_seed=seed))
    camera = world.camera_model
    stereo = None if depth == 'sim_gt' else DepthEstimator('sgbm')
    vmap = VoxelMap(cfg or MapConfig())
    try:
        for x, y, yaw in random_walk(house, frames, seed=1, step_m=0.12):
            world.reset((x, y, yaw))
            f = world.render_stereo()
            z = f.depth if stereo is None else stereo.estimate(f.left, f.right, camera.fx, camera.baseline).depth
            vmap.integrate(f.left, z.astype(np.float32), camera.k(), camera_pose(world), f.instances.astype(np.int32))
    finally:
        world.close()
    return house, vmap


def occupancy_scores(house, vmap) -> dict[str, float]:
    """phantom_cells, occupied_cells, obstacle_recall and passable_lost of the map's occupancy against the
    ground-truth grid."""
    from scipy import ndimage

    from groundfm.bench.nav import BODY_RADIUS_M
    from groundfm.mapping.occupancy import OCCUPIED, UNKNOWN, occupancy_from_map
    from groundfm.navigation.planner import FREE, grid_from_house

    occ = occupancy_from_map(vmap)
    truth = grid_from_house(house.to_json(), resolution=occ.resolution)
    obstacle = truth.data == OCCUPIED
    clearance = ndimage.distance_transform_edt(~obstacle) * truth.resolution
    # The estimated occupancy resampled on the ground-truth grid's cells.
    rows, cols = np.mgrid[0:truth.shape[0], 0:truth.shape[1]]
    xy = np.stack([truth.origin[0] + (cols + 0.5) * truth.resolution,
                   truth.origin[1] + (rows + 0.5) * truth.resolution], -1).reshape(-1, 2)
    rc = occ.cell_of(xy)
    inside = (rc[:, 0] >= 0) & (rc[:, 0] < occ.height) & (rc[:, 1] >= 0) & (rc[:, 1] < occ.width)
    est = np.full(len(xy), UNKNOWN, np.int8)
    est[inside] = occ.data[rc[inside, 0], rc[inside, 1]]
    est = est.reshape(truth.shape)
    phantom = (est == OCCUPIED) & (truth.data == FREE) & (clearance > PHANTOM_CLEARANCE_M)
    seen_edge = ndimage.binary_dilation((est != UNKNOWN) & ~obstacle) & obstacle
    found = ndimage.binary_dilation(est == OCCUPIED, iterations=2) & seen_edge
    fits = (truth.data == FREE) & (clearance >= BODY_RADIUS_M) & (est != UNKNOWN)
    shut = ndimage.distance_transform_edt(est != OCCUPIED) * truth.resolution < BODY_RADIUS_M
    return {'phantom_cells': float(phantom.sum()), 'occupied_cells': float((occ.data == OCCUPIED).sum()),
            'obstacle_recall': float(found.sum() / max(seen_edge.sum(), 1)),
            'passable_lost': float((fits & shut).sum() / max(fits.sum(), 1)),
            'floor_seen': float(((est == FREE) & (truth.data == FREE)).sum() / max((truth.data == FREE).sum(), 1))}


def object_errors(house, vmap) -> tuple[list[tuple[float, float]], float]:
    """(centre error [m], box length excess [m]) of every reported object that is in the house, and the share of
    the house's objects reported."""
    from groundfm.mapping.objects import extract_objects
    from groundfm.mapping.sequence import label_table

    slots = vmap.slots()
    solid = slots[~vmap.free_space(slots)]
    objects = extract_objects(vmap.centroids(solid), vmap.count[solid], vmap.label[solid], vmap.label_votes[solid],
                              vmap.colors(solid), label_table(house.seed), vmap.cfg.object_min_voxels)
    truth = {o.id: o for o in house.objects}
    errors = [(math.dist(o.center[:2], truth[o.id].center[:2]), max(o.size[:2]) - max(truth[o.id].size[:2]))
              for o in objects if o.id in truth]
    return errors, len({o.id for o in objects} & set(truth)) / max(len(truth), 1)


def run(args: argparse.Namespace) -> Results:
    """Build each seed's map with each method and score it."""
    out: Results = {'walk': {}}
    for method in args.methods:
        occ, obj, recall = [], [], []
        for seed in args.seeds:
            house, vmap = build_map(seed, args.frames, method, map_config(args.map_param))
            occ.append(occupancy_scores(house, vmap))
            errors, share = object_errors(house, vmap)
            obj += errors
            recall.append(share)
            print(f'{method} seed {seed}: {occ[-1]}, object_recall {share:.3f}', flush=True)
        out['walk'][method] = {
            'phantom_cells': sum(o['phantom_cells'] for o in occ),
            'occupied_cells': sum(o['occupied_cells'] for o in occ),
            'obstacle_recall': statistics.fmean(o['obstacle_recall'] for o in occ),
            'passable_lost': statistics.fmean(o['passable_lost'] for o in occ),
            'floor_seen': statistics.fmean(o['floor_seen'] for o in occ),
            'object_center_m': statistics.median(e for e, _ in obj) if obj else math.nan,
            'object_oversize': float(np.mean([x > 0.5 for _, x in obj])) if obj else math.nan,
            'object_recall': statistics.fmean(recall)}
    return out
