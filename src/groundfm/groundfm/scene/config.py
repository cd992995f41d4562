"""Scene QA settings: one dataclass of defaults, and the `scene` node parameters derived from it (ROS-free)."""

from dataclasses import dataclass

from groundfm.parameters import specs_from_dataclass


@dataclass(frozen=True)
class SceneConfig:
    """Knobs of the scene graph, grounding, QA engine and node; node parameters use the same names."""

    backend: str = 'graph'  # 'graph': rule-based reasoning over the scene graph; 'vlm': a local vision-language model
    vlm_path: str = ''  # folder of a transformers VLM checkpoint (backend 'vlm'), e.g. a Qwen2-VL fine-tune
    vlm_max_new_tokens: int = 160  # generation budget of the VLM backend [tokens]
    vlm_max_views: int = 2  # rendered views handed to the VLM per question
    room_source: str = 'sim_scene'  # 'sim_scene': room layout of sim/scene (ground truth, flagged); 'file'; 'objects'
    rooms_path: str = ''  # labelled room regions, JSON {"rooms": [{"name", "kind", "bounds"|"polygon"}]} ('file')
    merge_iou: float = 0.15  # same-class instances whose boxes overlap this much (3-D IoU) are one object
    merge_distance_m: float = 0.35  # ... or whose footprint centres are this close [m]
    near_distance_m: float = 1.0  # 'near': footprints at most this far apart [m]
    on_tolerance_m: float = 0.1  # 'on': bottom within this of the supporting top [m]
    min_object_confidence: float = 0.0  # instances below this are ignored
    class_match_threshold: float = 0.55  # MiniLM cosine for a noun phrase to name a class
    room_match_threshold: float = 0.6  # MiniLM cosine for a phrase to name a room
    max_question_chars: int = 400  # longer questions are refused [characters]
    map_frame: str = 'map'  # frame of map/objects and of the markers
    robot_frame: str = 'base_link'  # the robot pose comes from odom (assumed = map, as in the sim)

    def __post_init__(self) -> None:
        for spec in SCENE_PARAMETERS:
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise ValueError(f'SceneConfig.{problem}')


_DESCRIPTIONS = {
    'backend': ("'graph' (scene-graph reasoning) or 'vlm' (local VLM checkpoint at vlm_path)", None, None),
    'vlm_path': ("Local transformers VLM folder for backend 'vlm' ('' = none)", None, None),
    'vlm_max_new_tokens': ('VLM generation budget [tokens]', 8, 4096),
    'vlm_max_views': ('Rendered views handed to the VLM per question', 0, 8),
    'room_source': ("'sim_scene' (sim ground-truth rooms, flagged), 'file' (rooms_path) or 'objects' (map's room "
                    'field)', None, None),
    'rooms_path': ("Labelled room regions JSON for room_source 'file'", None, None),
    'merge_iou': ('Same-class boxes overlapping this much (3-D IoU) merge', 0.0, 1.0),
    'merge_distance_m': ('Same-class footprint centres this close merge [m]', 0.0, 5.0),
    'near_distance_m': ("'near': footprints at most this far apart [m]", 0.05, 10.0),
    'on_tolerance_m': ("'on': bottom within this of the supporting top [m]", 0.0, 1.0),
    'min_object_confidence': ('Instances below this confidence are ignored', 0.0, 1.0),
    'class_match_threshold': ('MiniLM cosine for a noun phrase to name a class', 0.0, 1.0),
    'room_match_threshold': ('MiniLM cosine for a phrase to name a room', 0.0, 1.0),
    'max_question_chars': ('Longer questions are refused [characters]', 10, 10_000),
    'map_frame': ('Frame of map/objects and scene/markers', None, None),
    'robot_frame': ('Robot body frame (pose from odom)', None, None),
}
_READ_ONLY = {'backend', 'vlm_path', 'room_source', 'rooms_path', 'map_frame', 'robot_frame'}
_CHOICES = {'backend': ('graph', 'vlm'), 'room_source': ('sim_scene', 'file', 'objects')}

SCENE_PARAMETERS = specs_from_dataclass(SceneConfig, _DESCRIPTIONS, _READ_ONLY, _CHOICES)
