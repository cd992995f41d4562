"""VLM backend: a transformers vision-language model from a local folder answers over rendered views + scene tokens.

3D-R1 (arXiv 2507.23478) feeds Qwen2.5-VL with image, depth and point-cloud tokens; here the 3-D part enters as
*scene tokens*, the scene graph serialised as text (`SceneGraph.scene_tokens()`: one line per object with id, colour,
class, room, box centre and size), next to up to `vlm_max_views` rendered views (the newest left camera image in the
node). The model's output goes through the same parser as the graph backend (qa.parse_output): objects it tags
`[obj N]` become grounded boxes, and output that breaks the `<think>...</think><answer>...</answer>` format becomes
"I don't know" rather than a guess.

Plugging in a real checkpoint (weights are the user's to provide; none ship with groundfm):
1. Put a transformers image-text-to-text checkpoint in a local folder (e.g. a Qwen2-VL-2B-Instruct or Qwen2.5-VL
   fine-tune, with its tokenizer, chat template and preprocessor_config.json); nothing is downloaded.
2. `groundfm launch robot_dog scene:=true` with `scene.backend: vlm` and `scene.vlm_path: /path/to/folder` in the
   parameters file (or `--ros-args -p backend:=vlm -p vlm_path:=...`); the benchmark takes
   `groundfm bench qa --backend vlm --vlm-path /path/to/folder`.
3. Fine-tune it to the format with 3D-R1's SFT + GRPO recipe; scene/rewards.py holds the rewards.
The processor is built with AutoProcessor; without torchvision (not installable here for CPU torch) the video
processor of Qwen2-VL-family processors cannot be built, so for those the processor is rebuilt without it.
A 7B model on CPU takes minutes per answer; the 1 s budget of the node holds for the graph backend only.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from groundfm.scene.config import SceneConfig
from groundfm.scene.graph import SceneGraph
from groundfm.scene.qa import parse_question

SYSTEM_PROMPT = ('You are a robot dog answering questions about the 3-D scene around you. The scene graph lists '
                 'every mapped object as [obj N] with its colour, class, room, box centre and size in metres (map '
                 'frame, x east, y north, z up). Reason step by step inside <think>...</think>, then give the answer '
                 'inside <answer>...</answer>, tagging every object you refer to as [obj N]. If the scene does not '
                 "answer the question, answer \"I don't know\" and say why.")
_DROP_TOKENS = ('<|im_end|>', '<|endoftext|>', '<|im_start|>', '<end_of_utterance>', '</s>', '<pad>', '<eos>')


def build_prompt(question: str, graph: SceneGraph, robot_pose: Sequence[float] | None) -> str:
    """The text part of the model input: scene tokens, robot pose and the question."""
    pose = 'unknown' if robot_pose is None else (f'({robot_pose[0]:.2f}, {robot_pose[1]:.2f}), heading '
                                                 f'{robot_pose[2] if len(robot_pose) > 2 else 0.0:.2f} rad')
    return f'Scene graph:\n{graph.scene_tokens()}\nRobot position: {pose}\nQuestion: {question}'


def load_processor(path: str):
    """AutoProcessor of a local checkpoint; Qwen2-VL-family processors are rebuilt without their video processor
    when torchvision is missing."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        return AutoProcessor.from_pretrained(path)
    except ImportError:
        pass  # torchvision missing: the video processor cannot be built
    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = AutoImageProcessor.from_pretrained(path)
    from transformers.models.qwen2_vl import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class _ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2VLProcessor for images only (no video processor, hence no torchvision)."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs) -> None:
            self.image_token, self.video_token = '<|image_pad|>', '<|video_pad|>'
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return _ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                      chat_template=getattr(tokenizer, 'chat_template', None))


class VLMBackend:
    """Answers with a local vision-language model; output text is parsed by qa.parse_output."""

    def __init__(self, path: str, max_new_tokens: int = 160, max_views: int = 2,
                 views: Callable[[], list[np.ndarray]] | None = None, device: str = 'cpu') -> None:
        if not path or not Path(path).is_dir():
            raise ValueError(f"vlm_path must be a local checkpoint folder, got {path!r}; set scene.vlm_path "
                             "(see groundfm/scene/vlm.py for how to plug in a checkpoint)")
        import torch
        from transformers import AutoModelForImageTextToText

        self.processor = load_processor(path)
        self.model = AutoModelForImageTextToText.from_pretrained(path).to(device).eval()
        self.device, self.max_new_tokens, self.max_views = device, max_new_tokens, max_views
        self.views = views or (lambda: [])
        self.qtype = ''
        self.confidence = None  # the parser's default confidence applies
        self._torch = torch

    @classmethod
    def from_config(cls, cfg: SceneConfig, views: Callable[[], list[np.ndarray]] | None = None) -> 'VLMBackend':
        """The backend of a SceneConfig (vlm_path, vlm_max_new_tokens, vlm_max_views)."""
        return cls(cfg.vlm_path, cfg.vlm_max_new_tokens, cfg.vlm_max_views, views)

    def generate(self, question: str, graph: SceneGraph, robot_pose: Sequence[float] | None = None) -> str:
        """Raw model output for a question: views (H, W, 3) uint8 + scene tokens + question -> text."""
        from PIL import Image

        parsed = parse_question(question)
        self.qtype = parsed.qtype if parsed else ''
        images = [Image.fromarray(np.ascontiguousarray(v)) for v in self.views()[:self.max_views]]
        content = [{'type': 'image'} for _ in images]
        content.append({'type': 'text', 'text': build_prompt(question, graph, robot_pose)})
        messages = [{'role': 'system', 'content': [{'type': 'text', 'text': SYSTEM_PROMPT}]},
                    {'role': 'user', 'content': content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[text], images=images or None, return_tensors='pt').to(self.device)
        with self._torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[0, inputs['input_ids'].shape[1]:]
        decoded = self.processor.tokenizer.decode(new, skip_special_tokens=False)
        for token in _DROP_TOKENS:
            decoded = decoded.replace(token, '')
        return decoded.strip()
