"""Locomotion control settings: one dataclass of defaults, and the node parameters derived from it. ROS-free."""

from dataclasses import dataclass

from groundfm.parameters import specs_from_dataclass


@dataclass(frozen=True)
class ControlConfig:
    """Knobs of the trot controller, its limits and the command followers; node parameters use the same names."""

    control_rate_hz: float = 125.0  # joint_command rate in sim time [Hz]
    body_height_m: float = 0.30  # standing and walking base height above the floor [m]
    sit_height_m: float = 0.16  # base height when sitting [m]
    gait_period_s: float = 0.30  # trot cycle [s]
    duty_factor: float = 0.5  # stance fraction of the cycle
    swing_height_m: float = 0.08  # foot lift during swing [m]
    raibert_gain_s: float = 0.08  # touchdown shift per m/s of velocity error [s]
    kp: float = 150.0  # joint position gain [Nm/rad]
    kd: float = 3.5  # joint velocity gain [Nm s/rad]
    joint_damping: float = 2.0  # joint viscous damping compensated by feed-forward [Nm s/rad]
    joint_friction: float = 0.2  # joint Coulomb friction compensated by feed-forward [Nm]
    mass_kg: float = 15.2  # robot mass for gravity feed-forward [kg]
    attitude_kp: float = 0.5  # leg-length change per rad of roll/pitch per m of lever arm [1/rad]
    attitude_kd: float = 0.02  # leg-length change per rad/s of roll/pitch rate per m of lever arm [s/rad]
    heading_kp: float = 2.0  # yaw-rate correction per rad of heading error [1/s]
    velocity_ki: float = 1.0  # integral velocity trim gain [1/s]
    max_vx_mps: float = 1.0  # forward speed limit [m/s]
    max_vx_back_mps: float = 0.5  # backward speed limit [m/s]
    max_vy_mps: float = 0.3  # lateral speed limit [m/s]
    max_wz_radps: float = 1.5  # yaw rate limit [rad/s]
    max_accel_mps2: float = 1.0  # linear acceleration limit of the command [m/s^2]; 1.5 tipped fast turns over
    max_yaw_accel_radps2: float = 3.0  # yaw acceleration limit of the command [rad/s^2]
    command_timeout_s: float = 0.5  # with no cmd_vel for this long, the robot stands [s]
    fall_tilt_rad: float = 0.8  # roll or pitch beyond this is a fall [rad]
    fall_height_m: float = 0.15  # base below this (legs' estimate) while walking or standing is a fall [m]
    auto_recover: bool = False  # stand up again by itself once the fallen robot lies upright and still
    standup_duration_s: float = 1.5  # joint-space stand-up and sit-down ramp [s]
    pursuit_lookahead_m: float = 0.4  # pure-pursuit lookahead distance [m]
    pursuit_speed_mps: float = 0.4  # waypoint following cruise speed [m/s]
    goal_tolerance_m: float = 0.1  # last waypoint reached within this distance [m]
    move_speed_mps: float = 0.3  # discrete forward move cruise speed [m/s]
    move_turn_rate_radps: float = 0.6  # discrete turn cruise yaw rate [rad/s]
    move_distance_tolerance_m: float = 0.02  # discrete forward move done within this distance [m]
    move_angle_tolerance_rad: float = 0.04  # discrete turn done within this angle [rad]
    state_rate_hz: float = 10.0  # control/state publication rate in sim time [Hz]

    def __post_init__(self) -> None:
        for spec in CONTROL_PARAMETERS:
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise ValueError(f'ControlConfig.{problem}')
        if self.sit_height_m >= self.body_height_m:
            raise ValueError(f'ControlConfig.sit_height_m ({self.sit_height_m}) must be below body_height_m '
                             f'({self.body_height_m})')

    @property
    def stance_duration_s(self) -> float:
        """Time a foot spends on the ground per cycle [s]."""
        return self.gait_period_s * self.duty_factor


_DESCRIPTIONS = {
    'control_rate_hz': ('joint_command rate in sim time [Hz]', 50.0, 1000.0),
    'body_height_m': ('Standing and walking base height [m]', 0.20, 0.38),
    'sit_height_m': ('Base height when sitting [m]', 0.12, 0.30),
    'gait_period_s': ('Trot cycle [s]', 0.15, 1.0),
    'duty_factor': ('Stance fraction of the trot cycle', 0.3, 0.8),
    'swing_height_m': ('Foot lift during swing [m]', 0.0, 0.15),
    'raibert_gain_s': ('Touchdown shift per m/s of velocity error [s]', 0.0, 0.5),
    'kp': ('Joint position gain [Nm/rad]', 0.0, 500.0),
    'kd': ('Joint velocity gain [Nm s/rad]', 0.0, 50.0),
    'joint_damping': ('Joint viscous damping compensated by feed-forward [Nm s/rad]', 0.0, 10.0),
    'joint_friction': ('Joint Coulomb friction compensated by feed-forward [Nm]', 0.0, 5.0),
    'mass_kg': ('Robot mass for gravity feed-forward [kg]', 0.0, 100.0),
    'attitude_kp': ('Leg-length change per rad of roll/pitch per m of lever arm [1/rad]', 0.0, 5.0),
    'attitude_kd': ('Leg-length change per rad/s of roll/pitch rate per m of lever arm [s/rad]', 0.0, 1.0),
    'heading_kp': ('Yaw-rate correction per rad of heading error [1/s]', 0.0, 20.0),
    'velocity_ki': ('Integral velocity trim gain [1/s]', 0.0, 10.0),
    'max_vx_mps': ('Forward speed limit [m/s]', 0.0, 2.0),
    'max_vx_back_mps': ('Backward speed limit [m/s]', 0.0, 1.0),
    'max_vy_mps': ('Lateral speed limit [m/s]', 0.0, 1.0),
    'max_wz_radps': ('Yaw rate limit [rad/s]', 0.0, 3.0),
    'max_accel_mps2': ('Linear acceleration limit of the command [m/s^2]', 0.1, 10.0),
    'max_yaw_accel_radps2': ('Yaw acceleration limit of the command [rad/s^2]', 0.1, 20.0),
    'command_timeout_s': ('No cmd_vel for this long -> stand [s]', 0.05, 10.0),
    'fall_tilt_rad': ('Roll or pitch beyond this is a fall [rad]', 0.2, 1.5),
    'fall_height_m': ('Base below this while walking or standing is a fall [m]', 0.0, 0.3),
    'auto_recover': ('Stand up again by itself once the fallen robot lies upright and still', None, None),
    'standup_duration_s': ('Joint-space stand-up and sit-down ramp [s]', 0.2, 10.0),
    'pursuit_lookahead_m': ('Pure-pursuit lookahead distance [m]', 0.05, 5.0),
    'pursuit_speed_mps': ('Waypoint following cruise speed [m/s]', 0.05, 2.0),
    'goal_tolerance_m': ('Last waypoint reached within this distance [m]', 0.01, 2.0),
    'move_speed_mps': ('Discrete forward move cruise speed [m/s]', 0.05, 2.0),
    'move_turn_rate_radps': ('Discrete turn cruise yaw rate [rad/s]', 0.05, 3.0),
    'move_distance_tolerance_m': ('Discrete forward move done within this distance [m]', 0.001, 0.5),
    'move_angle_tolerance_rad': ('Discrete turn done within this angle [rad]', 0.001, 0.5),
    'state_rate_hz': ('control/state publication rate in sim time [Hz]', 0.1, 100.0),
}
_READ_ONLY = {'control_rate_hz', 'state_rate_hz'}

CONTROL_PARAMETERS = specs_from_dataclass(ControlConfig, _DESCRIPTIONS, _READ_ONLY)
