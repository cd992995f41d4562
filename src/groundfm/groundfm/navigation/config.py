"""Navigation settings: one dataclass of defaults, and the node parameters derived from it. ROS-free.

Fast-in-slow timing (Nav-R1, arXiv 2509.10884): the slow system (reasoner.py) runs at slow_rate_hz and emits a
sub-goal; the fast system (planner.py + local.py) re-plans and emits an action chunk fast_per_slow times per slow
update (the paper's asynchronous 1:n, n = 3 best), and its velocity servo ticks at fast_rate_hz (>= 20 Hz), each tick
re-checking the latest depth. All rates are in the node clock (sim time in sim).
"""

from dataclasses import dataclass

from groundfm.parameters import specs_from_dataclass


@dataclass(frozen=True)
class NavigationConfig:
    """Knobs of the slow and fast systems and the safety limits; node parameters use the same names."""

    slow_rate_hz: float = 1.0  # slow system (reasoner) rate [Hz]
    fast_rate_hz: float = 20.0  # fast system velocity servo rate [Hz]
    fast_per_slow: int = 3  # n of the 1:n ratio: fast re-plans / action chunks per slow update
    max_speed: float = 0.5  # forward speed limit [m/s]
    max_yaw_rate: float = 1.0  # yaw rate limit [rad/s]
    max_accel: float = 1.0  # linear acceleration limit [m/s^2]
    max_yaw_accel: float = 2.5  # yaw acceleration limit [rad/s^2]
    goal_tolerance_m: float = 1.0  # success: stop within this distance of the target region [m]
    stop_distance_m: float = 0.5  # aim to stop this far from an object's footprint (inside the tolerance) [m]
    seen_stop_distance_m: float = 0.9  # ... or stop once the live depth shows the object's surface this close [m]
    lookahead_m: float = 0.5  # pure-pursuit lookahead [m]
    robot_radius: float = 0.22  # obstacle inflation for planning: Go2 half width 0.155 m + margin [m]
    clearance_weight: float = 2.0  # extra cost of passing near obstacles (keeps to the middle) [1]
    unknown_is_free: bool = True  # plan through unknown cells (exploration); false treats them as obstacles
    floor_plan_walls: bool = True  # plan as if unseen cells on the floor plan's walls were wall (doors stay open)
    trail_memory_s: float = 300.0  # the cells walked in this long stay passable whatever the map shows; 0 = off [s]
    min_frontier_cells: int = 8  # smallest frontier cluster worth exploring [cells]
    look_around_first: bool = True  # turn in place once before exploring for a target not seen yet (no path cost)
    look_around_each_room: bool = True  # ... and once in each further room entered while it is still unseen
    replan_distance_m: float = 0.3  # re-plan when the target estimate moves more than this [m]
    stop_clearance_m: float = 0.25  # depth guard: stop when an obstacle is this close ahead of the body [m]
    slow_clearance_m: float = 0.8  # depth guard: slow down linearly below this clearance [m]
    stale_map_s: float = 5.0  # stop when the occupancy map is older than this [s]; 0 = never stale (static map)
    stale_depth_s: float = 1.0  # stop when the latest depth image is older than this [s]
    stale_odom_s: float = 0.5  # stop when odometry is older than this [s]
    stale_abort_s: float = 10.0  # abort the goal when inputs stay stale this long [s]
    inputs_wait_s: float = 10.0  # at goal start, wait this long (wall) for odom, map and a controller [s]
    timeout_s: float = 300.0  # default goal timeout [s]
    action_space: str = 'continuous'  # 'continuous' (cmd_vel) or 'discrete' (Nav-R1 moves on `move`)
    backend: str = 'rule'  # slow system: 'rule' (scripted reasoning) or 'vlm' (transformers model at vlm_path)
    vlm_path: str = ''  # local transformers checkpoint for backend 'vlm'
    vlm_max_new_tokens: int = 96  # generation budget of the VLM backend [tokens]
    use_ground_truth_scene: bool = False  # STAND-IN: objects and rooms from the sim's sim/scene JSON, not map/objects
    room_source: str = 'sim_scene'  # rooms + doors: 'sim_scene' (sim floor plan, flagged), 'file' (rooms_path), 'none'
    rooms_path: str = ''  # labelled floor plan JSON {"rooms": [{"name", "kind", "bounds"|"polygon"}]} ('file')
    map_source: str = 'mapping'  # 'mapping' (map/occupancy) or 'ground_truth' (STAND-IN: rasterised sim/scene)
    map_resolution: float = 0.05  # cell edge of the ground-truth stand-in grid [m]
    depth_topic: str = 'depth/image'  # depth image (32FC1, metres); 'sim/depth_gt' is the sim's oracle depth
    use_depth: bool = True  # run the depth guard (stale depth stops the robot); false skips it
    camera_height_m: float = 0.34  # fallback optical centre height when TF is missing [m]

    def __post_init__(self) -> None:
        for spec in NAVIGATION_PARAMETERS:
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise ValueError(f'NavigationConfig.{problem}')
        if self.backend == 'vlm' and not self.vlm_path:
            raise ValueError("NavigationConfig.vlm_path: backend 'vlm' needs a local checkpoint path")
        if self.room_source == 'file' and not self.rooms_path:
            raise ValueError("NavigationConfig.rooms_path: room_source 'file' needs a floor plan path")
        if self.stop_distance_m >= self.goal_tolerance_m:
            raise ValueError(f'NavigationConfig.stop_distance_m ({self.stop_distance_m}) must be below '
                             f'goal_tolerance_m ({self.goal_tolerance_m})')
        if self.seen_stop_distance_m >= self.goal_tolerance_m:
            raise ValueError(f'NavigationConfig.seen_stop_distance_m ({self.seen_stop_distance_m}) must be below '
                             f'goal_tolerance_m ({self.goal_tolerance_m})')

    @property
    def chunk_period_s(self) -> float:
        """Time between fast-system re-plans (action chunks) [s]."""
        return 1.0 / (self.slow_rate_hz * self.fast_per_slow)


_DESCRIPTIONS = {
    'slow_rate_hz': ('Slow system (reasoner) rate [Hz]', 0.05, 10.0),
    'fast_rate_hz': ('Fast system velocity servo rate [Hz]', 20.0, 200.0),
    'fast_per_slow': ('n of the 1:n ratio: fast re-plans per slow update', 1, 50),
    'max_speed': ('Forward speed limit [m/s]', 0.05, 2.0),
    'max_yaw_rate': ('Yaw rate limit [rad/s]', 0.1, 3.0),
    'max_accel': ('Linear acceleration limit [m/s^2]', 0.1, 10.0),
    'max_yaw_accel': ('Yaw acceleration limit [rad/s^2]', 0.1, 20.0),
    'goal_tolerance_m': ('Success: stop within this distance of the target region [m]', 0.1, 5.0),
    'stop_distance_m': ("Stop this far from an object's footprint [m]", 0.0, 4.0),
    'seen_stop_distance_m': ("Also stop once the latest depth shows the object's surface (depth points inside its "
                             'mapped box) this close; 0 = off [m]', 0.0, 4.0),
    'lookahead_m': ('Pure-pursuit lookahead [m]', 0.1, 3.0),
    'robot_radius': ('Obstacle inflation radius for planning [m]', 0.0, 1.0),
    'clearance_weight': ('Extra cost near obstacles [1]', 0.0, 20.0),
    'unknown_is_free': ('Plan through unknown cells (false: unknown is an obstacle)', None, None),
    'floor_plan_walls': ('Plan as if unknown cells were wall where two rooms of the floor plan meet (except at its '
                         'doorways) and outside every room; needs rooms covering the whole floor and doorways',
                         None, None),
    'trail_memory_s': ('The cells the robot walked through in this long stay passable in planning whatever the map '
                       'shows (kept across goals, so it can back out of a gap the live map closed); 0 = off [s]',
                       0.0, 3600.0),
    'min_frontier_cells': ('Smallest frontier cluster worth exploring [cells]', 1, 1000),
    'look_around_first': ('Turn in place once before walking to a frontier when the target is not seen yet '
                          '(a turn adds no path length)', None, None),
    'look_around_each_room': ('While exploring for a target not seen yet, turn in place once on entering each room '
                              'not looked around in yet (needs a room layout)', None, None),
    'replan_distance_m': ('Re-plan when the target estimate moves more than this [m]', 0.01, 5.0),
    'stop_clearance_m': ('Depth guard: stop when an obstacle is this close ahead [m]', 0.0, 2.0),
    'slow_clearance_m': ('Depth guard: slow down below this clearance [m]', 0.0, 5.0),
    'stale_map_s': ('Stop when the map is older than this [s]; 0 = static map, never stale', 0.0, 600.0),
    'stale_depth_s': ('Stop when the depth image is older than this [s]', 0.05, 60.0),
    'stale_odom_s': ('Stop when odometry is older than this [s]', 0.05, 60.0),
    'stale_abort_s': ('Abort the goal when inputs stay stale this long [s]', 0.5, 600.0),
    'inputs_wait_s': ('Wait this long (wall) for odom, map and a controller at goal start [s]', 0.1, 60.0),
    'timeout_s': ('Default goal timeout [s]', 1.0, 3600.0),
    'action_space': ("'continuous' (cmd_vel) or 'discrete' (Nav-R1 moves on `move`)", None, None),
    'backend': ("Slow system: 'rule' or 'vlm' (transformers checkpoint at vlm_path)", None, None),
    'vlm_path': ("Local transformers checkpoint for backend 'vlm'", None, None),
    'vlm_max_new_tokens': ('VLM generation budget [tokens]', 8, 2048),
    'use_ground_truth_scene': ('STAND-IN: objects/rooms from sim/scene instead of map/objects', None, None),
    'room_source': ("Rooms and doors: 'sim_scene' (STAND-IN: the sim's floor plan), 'file' (rooms_path) or 'none' "
                    "(only the rooms map/objects report)", None, None),
    'rooms_path': ("Labelled floor plan JSON for room_source 'file'", None, None),
    'map_source': ("'mapping' (map/occupancy) or 'ground_truth' (STAND-IN: rasterised sim/scene)", None, None),
    'map_resolution': ('Cell edge of the ground-truth stand-in grid [m]', 0.02, 0.5),
    'depth_topic': ("Depth image topic (32FC1 [m]); 'sim/depth_gt' = oracle depth", None, None),
    'use_depth': ('Run the depth guard (false skips it)', None, None),
    'camera_height_m': ('Fallback optical centre height when TF is missing [m]', 0.05, 2.0),
}
_CHOICES = {'action_space': ('continuous', 'discrete'), 'backend': ('rule', 'vlm'),
            'map_source': ('mapping', 'ground_truth'), 'room_source': ('sim_scene', 'file', 'none')}
_READ_ONLY = {'slow_rate_hz', 'fast_rate_hz', 'fast_per_slow', 'backend', 'vlm_path', 'vlm_max_new_tokens',
              'use_ground_truth_scene', 'room_source', 'rooms_path', 'map_source', 'map_resolution', 'depth_topic',
              'action_space', 'use_depth'}

NAVIGATION_PARAMETERS = specs_from_dataclass(NavigationConfig, _DESCRIPTIONS, _READ_ONLY, _CHOICES)
