"""Simulation settings: one dataclass of defaults, and the node parameters derived from it."""

from dataclasses import dataclass

from groundfm.parameters import specs_from_dataclass


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated robot, cameras and house; node parameters use the same names."""

    world: str = 'house'  # 'house': the generated house; 'flat': an obstacle-free floor (benchmarks)
    scene_seed: int = 0  # house layout, furniture and textures
    num_rooms: int = 4  # rooms in the house (>= 3)
    image_width: int = 320  # stereo image width [px]
    image_height: int = 240  # stereo image height [px]
    camera_fovy_deg: float = 70.0  # vertical field of view [deg]
    stereo_baseline_m: float = 0.12  # distance between the two optical centres [m]
    camera_pitch_deg: float = 12.0  # head camera tilt below the horizon [deg]
    camera_rate_hz: float = 10.0  # stereo frame rate in sim time [Hz]
    state_rate_hz: float = 100.0  # odom, tf and joint_states rate in sim time [Hz]
    clock_rate_hz: float = 250.0  # /clock publication rate in sim time [Hz]
    real_time_factor: float = 1.0  # sim seconds per wall second; 0 runs as fast as possible
    physics_dt: float = 0.002  # physics step [s]; motor PD runs at this rate
    oracle_semantics: bool = True  # publish ground-truth instance segmentation and its label table
    publish_depth_gt: bool = True  # publish ground-truth depth (evaluation, oracle)
    robot_meshes: bool = False  # load the Go2 visual meshes (slower; collision geoms are primitives either way)
    command_timeout_s: float = 0.5  # with no JointCommand for this long, motors fall back to damping [s]
    lockstep_lead_s: float = 0.01  # sim time runs at most this far past the last JointCommand stamp [s]; 0 = free
    scene_export_path: str = ''  # write the house ground truth JSON here ('' = do not write)

    def __post_init__(self) -> None:
        for spec in SIM_PARAMETERS:
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise ValueError(f'SimConfig.{problem}')


_DESCRIPTIONS = {
    'world': ("'house' (generated house) or 'flat' (obstacle-free floor, for benchmarks)", None, None),
    'scene_seed': ('House layout, furniture and textures seed', 0, 2**31 - 1),
    'num_rooms': ('Rooms in the house', 3, 8),
    'image_width': ('Stereo image width [px]', 32, 1920),
    'image_height': ('Stereo image height [px]', 24, 1080),
    'camera_fovy_deg': ('Vertical field of view [deg]', 20.0, 150.0),
    'stereo_baseline_m': ('Distance between the optical centres [m]', 0.01, 1.0),
    'camera_pitch_deg': ('Head camera tilt below the horizon [deg]', -45.0, 60.0),
    'camera_rate_hz': ('Stereo frame rate in sim time [Hz]', 0.1, 60.0),
    'state_rate_hz': ('odom, tf and joint_states rate in sim time [Hz]', 1.0, 1000.0),
    'clock_rate_hz': ('/clock rate in sim time [Hz]', 10.0, 1000.0),
    'real_time_factor': ('Sim seconds per wall second; 0 = as fast as possible', 0.0, 100.0),
    'physics_dt': ('Physics step; motor PD runs at this rate [s]', 0.0005, 0.01),
    'oracle_semantics': ('Publish ground-truth instance segmentation and labels (oracle)', None, None),
    'publish_depth_gt': ('Publish ground-truth depth for evaluation (oracle)', None, None),
    'robot_meshes': ('Load the Go2 visual meshes (slower to load and render)', None, None),
    'command_timeout_s': ('No JointCommand for this long -> motors go to damping [s]', 0.05, 10.0),
    'lockstep_lead_s': ('Sim time runs at most this far (or 1.25 command intervals) past the stamp of the last '
                        'JointCommand, then waits for the controller (0 = free running) [s]', 0.0, 1.0),
    'scene_export_path': ("Write the house ground truth JSON here ('' = do not write)", None, None),
}
_READ_ONLY = {'world', 'scene_seed', 'num_rooms', 'image_width', 'image_height', 'camera_fovy_deg', 'stereo_baseline_m',
              'camera_pitch_deg', 'physics_dt', 'robot_meshes', 'scene_export_path'}

SIM_PARAMETERS = specs_from_dataclass(SimConfig, _DESCRIPTIONS, _READ_ONLY, {'world': ('house', 'flat')})
