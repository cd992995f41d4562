"""Mapping settings: the map and network dataclasses of defaults, and the node parameters derived from them."""

from dataclasses import dataclass

from groundfm.parameters import specs_from_dataclass


@dataclass(frozen=True)
class MapConfig:
    """Knobs of the streaming voxel map and the mapping node; node parameters use the same names."""

    voxel_size: float = 0.04  # voxel edge [m]; one Gaussian per occupied voxel
    voxel_budget: int = 400_000  # live voxels kept at most; beyond it the least recently seen are evicted
    evict_fraction: float = 0.1  # share of the budget evicted at once when it is exceeded (amortises the cost)
    min_depth: float = 0.1  # closer depths are ignored [m]
    max_depth: float = 6.0  # farther depths are ignored [m]
    pixel_stride: int = 1  # lift every n-th pixel in x and y (1 = all)
    keyframe_distance_m: float = 0.10  # a frame becomes a keyframe after the camera moved this far [m]
    keyframe_angle_deg: float = 10.0  # ... or turned this much [deg]
    depth_source: str = 'depth'  # 'depth': depth node output (depth/image); 'sim_gt': sim/depth_gt (oracle)
    use_labels: bool = True  # vote instance labels from sim/labels + sim/label_table when they arrive (oracle)
    map_frame: str = 'map'  # fixed frame of the map
    tf_timeout_s: float = 0.5  # wait this long for TF at an image's stamp, then skip the frame [s]
    occupancy_resolution: float = 0.05  # occupancy cell edge [m]
    floor_z: float = 0.0  # floor height in the map frame [m]
    floor_tolerance: float = 0.06  # voxels within this of the floor are observed floor (free) [m]
    obstacle_min_height: float = 0.08  # occupied band above the floor: lower edge [m]
    obstacle_max_height: float = 0.60  # occupied band above the floor: upper edge (robot height + margin) [m]
    occupancy_min_points: int = 2  # voxels with fewer lifted points do not mark a cell occupied
    occupancy_min_views: int = 2  # voxels seen in fewer keyframes do not mark a cell occupied (stereo blobs)
    object_min_voxels: int = 10  # instances with fewer labelled voxels are not reported
    see_through_margin_m: float = 0.06  # a voxel this far in front of the surface its pixel sees is passed through [m]
    see_through_rel: float = 0.05  # ... or this share of that depth, whichever is larger (0 margin: no free space)
    see_through_window: int = 100  # the test covers voxels seen in this many latest keyframes (bounds its cost)
    see_through_ratio: float = 0.5  # voxels passed through more than this times their surface was seen are free space
    outlier_window_px: int = 9  # depth pixels off the plane through this square window are not lifted (0 = all are)
    outlier_tolerance: float = 0.024  # ... off by more than this in inverse depth [1/m] (stereo: px / (fx * baseline))
    label_margin_px: int = 2  # a pixel votes its label only if all pixels this close share label and surface [px]
    label_depth_step: float = 0.1  # ... and their depths lie within this factor of each other (1 + step)
    publish_period_s: float = 1.0  # map/gaussians, map/occupancy and map/objects at most this often [s]
    map_path: str = ''  # save the map here (npz, atomically) on shutdown and every save_every_keyframes ('' = never)
    save_every_keyframes: int = 0  # also save every n keyframes (0 = only on shutdown)
    load_map: bool = False  # start from map_path if it exists
    weights_path: str = ''  # VolSplat refiner/head weights (safetensors); '' = untrained head on the surfel prior

    def __post_init__(self) -> None:
        for spec in MAPPING_PARAMETERS:
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise ValueError(f'MapConfig.{problem}')
        if self.min_depth >= self.max_depth:
            raise ValueError(f'MapConfig.min_depth ({self.min_depth}) must be below max_depth ({self.max_depth})')
        if self.obstacle_min_height >= self.obstacle_max_height:
            raise ValueError('MapConfig.obstacle_min_height must be below obstacle_max_height')

    @property
    def depth_topic(self) -> str:
        """The depth topic this configuration listens to."""
        return 'sim/depth_gt' if self.depth_source == 'sim_gt' else 'depth/image'


@dataclass(frozen=True)
class VolSplatConfig:
    """The VolSplat refinement network and Gaussian head (see volsplat.py)."""

    in_dim: int = 19  # voxel feature size (voxel_map.VOXEL_FEATURE_DIM)
    hidden: int = 32  # channels of the sparse refinement network
    refine_layers: int = 2  # submanifold 3x3x3 convolutions in the residual branch (receptive radius)
    sh_degree: int = 2  # spherical harmonics degree of the colour (2 -> 27 coefficients)
    opacity_prior: float = 0.98  # opacity of the untrained head
    normal_scale: float = 0.08  # untrained head: Gaussian thickness along the surface normal [voxel sizes]
    tangent_gain: float = 2.2  # untrained head: in-plane scale = gain * point std [-]
    min_tangent: float = 0.4  # untrained head: smallest in-plane scale [voxel sizes], so sparse voxels still cover

    def __post_init__(self) -> None:
        if self.sh_degree != 2:
            raise ValueError(f'VolSplatConfig.sh_degree must be 2 (the 38-parameter head), got {self.sh_degree}')
        if self.refine_layers < 0 or self.hidden < 1 or self.in_dim < 1:
            raise ValueError('VolSplatConfig: refine_layers >= 0, hidden >= 1 and in_dim >= 1 are required')
        if not 0.0 < self.opacity_prior < 1.0:
            raise ValueError(f'VolSplatConfig.opacity_prior must be in (0, 1), got {self.opacity_prior}')


_DESCRIPTIONS = {
    'voxel_size': ('Voxel edge; one Gaussian per occupied voxel [m]', 0.005, 1.0),
    'voxel_budget': ('Live voxels kept at most; least recently seen are evicted beyond it', 1000, 50_000_000),
    'evict_fraction': ('Share of the budget evicted at once when it is exceeded', 0.001, 0.9),
    'min_depth': ('Closer depths are ignored [m]', 0.0, 100.0),
    'max_depth': ('Farther depths are ignored [m]', 0.05, 200.0),
    'pixel_stride': ('Lift every n-th pixel in x and y', 1, 16),
    'keyframe_distance_m': ('Camera travel that makes a new keyframe [m]', 0.0, 10.0),
    'keyframe_angle_deg': ('Camera rotation that makes a new keyframe [deg]', 0.0, 180.0),
    'depth_source': ("'depth' (depth/image from the depth node) or 'sim_gt' (sim/depth_gt, oracle)", None, None),
    'use_labels': ('Vote instance labels from sim/labels + sim/label_table (oracle semantics)', None, None),
    'map_frame': ('Fixed frame of the map', None, None),
    'tf_timeout_s': ('Wait this long for TF at an image stamp, then skip the frame [s]', 0.0, 10.0),
    'occupancy_resolution': ('Occupancy grid cell edge [m]', 0.01, 1.0),
    'floor_z': ('Floor height in the map frame [m]', -10.0, 10.0),
    'floor_tolerance': ('Voxels this close to the floor are observed free floor [m]', 0.0, 1.0),
    'obstacle_min_height': ('Occupied band above the floor, lower edge [m]', 0.0, 5.0),
    'obstacle_max_height': ('Occupied band above the floor, upper edge [m]', 0.01, 10.0),
    'occupancy_min_points': ('Voxels with fewer points do not mark a cell occupied', 1, 1000),
    'occupancy_min_views': ('Voxels seen in fewer keyframes do not mark a cell occupied', 1, 1000),
    'object_min_voxels': ('Instances with fewer labelled voxels are not reported', 1, 100_000),
    'see_through_margin_m': ('A voxel this far in front of the surface its pixel sees was passed through by the ray '
                             '(free-space evidence; 0 = off) [m]', 0.0, 10.0),
    'see_through_rel': ('... or this share of the seen depth, whichever is larger [-]', 0.0, 1.0),
    'see_through_window': ('Free-space test on voxels seen in this many latest keyframes (bounds its cost)', 1,
                           100_000),
    'see_through_ratio': ('Voxels passed through more than this times they were seen are free space: not occupied, '
                          'not an object [-]', 0.0, 1000.0),
    'outlier_window_px': ('A depth pixel is lifted only if every pixel in this square window around it has a depth '
                          'and its inverse depth lies within outlier_tolerance of the window mean (a plane, even '
                          'a slanted one, has an affine inverse depth): stereo mismatches and depth edges do not '
                          '(0 or 1 = every pixel is lifted) [px]', 0, 63),
    'outlier_tolerance': ('Largest departure of a pixel\'s inverse depth from its window mean [1/m]; for stereo '
                          'depth, disparity px / (fx * baseline)', 0.0, 100.0),
    'label_margin_px': ('A pixel votes its instance label only if all pixels within this margin share the label '
                        'and one smooth depth surface (0 = every pixel votes) [px]', 0, 32),
    'label_depth_step': ('Depths within the label margin must agree within this relative step [-]', 0.0, 10.0),
    'publish_period_s': ('Publish the map topics at most this often [s]', 0.05, 60.0),
    'map_path': ("Save the map here (npz, atomic) on shutdown ('' = never)", None, None),
    'save_every_keyframes': ('Also save every n keyframes (0 = only on shutdown)', 0, 100_000),
    'load_map': ('Start from map_path if it exists', None, None),
    'weights_path': ("VolSplat refiner/head weights, safetensors ('' = untrained head on the surfel prior)",
                     None, None),
}
_READ_ONLY = {'voxel_size', 'voxel_budget', 'depth_source', 'use_labels', 'map_frame', 'map_path', 'load_map',
              'weights_path', 'pixel_stride'}

MAPPING_PARAMETERS = specs_from_dataclass(MapConfig, _DESCRIPTIONS, _READ_ONLY, {'depth_source': ('depth', 'sim_gt')})
