"""StereoAdapter settings: the model's architecture dataclass and the depth node's parameters. No torch, no ROS."""

import json
from dataclasses import asdict, dataclass, field, fields

from groundfm.parameters import ParamSpec

# Where the recurrent refinement starts: 'mono' = the mono head's expected disparity (the paper); 'matching' = the
# winner-take-all match over the matching costs (IGEV-Stereo style: refinement then only corrects it).
REFINE_STARTS = ('mono', 'matching')


@dataclass(frozen=True)
class EncoderConfig:
    """Hybrid ViT encoder: a conv stem to 1/8, then ViT blocks on 2x2 patches of it (tokens at 1/16)."""

    stem_dims: tuple[int, int] = (32, 64)  # conv stem channels at 1/4 and 1/8 resolution
    embed_dim: int = 96  # ViT token width
    depth: int = 4  # ViT blocks
    heads: int = 4  # attention heads (embed_dim must divide)
    mlp_ratio: float = 2.0  # MLP hidden = mlp_ratio * embed_dim
    patch_size: int = 16  # input pixels per token side (the stem gives 8, a 2x2 patch embed the rest)
    out_indices: tuple[int, ...] = (1, 3)  # blocks whose tokens feed the multi-scale outputs (0-based)
    feature_dim: int = 48  # width of the fused 1/4-resolution feature map used for matching

    def __post_init__(self) -> None:
        if self.embed_dim % self.heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by heads {self.heads}')
        if self.patch_size != 16:
            raise ValueError(f'patch_size must be 16 (stem /8 then 2x2 patches), got {self.patch_size}')
        if not self.out_indices or any(not 0 <= i < self.depth for i in self.out_indices):
            raise ValueError(f'out_indices {self.out_indices} must lie in [0, depth={self.depth})')


@dataclass(frozen=True)
class LoRAConfig:
    """Dynamic-rank LoRA (CoDyRA) on every block's attn.qkv, attn.proj, mlp.fc1, mlp.fc2."""

    rank: int = 8  # maximum rank per adapted linear layer (the paper uses 16 on a ViT-S/B)
    alpha: float = 8.0  # Delta W = (alpha / rank) * B diag(g) A
    l1_weight: float = 1e-4  # lambda: L1 (sub)gradient penalty on the per-rank gates in the loss
    kappa: float = 5e-3  # proximal L1 strength after the dense phase: gates shrink by kappa * lr per step
    targets: tuple[str, ...] = ('qkv', 'proj', 'fc1', 'fc2')

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f'rank must be >= 1, got {self.rank}')


@dataclass(frozen=True)
class StereoAdapterConfig:
    """StereoAdapter: ViT prior + mono head + RAFT-Stereo refinement; node params and CLI flags reuse these names."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    max_disparity: int = 192  # largest disparity the model is asked for [input px]; mono bins and clamps use it
    mono_bins: int = 49  # discrete disparity bins of the mono head (as the paper)
    corr_levels: int = 4  # correlation pyramid levels
    corr_radius: int = 4  # lookup radius per level [feature px]
    hidden_dims: tuple[int, int, int] = (32, 48, 48)  # ConvGRU widths at 1/4, 1/8, 1/16
    iterations: int = 8  # refinement iterations at run time (training may use more)
    zncc_window: int = 0  # side [input px] of a fixed grey-level ZNCC cost beside the learned one (0: none)
    zncc_sigma: float = 2.0  # Gaussian blur [input px] of the grey image before the ZNCC windows
    refine_from: str = 'mono'  # where refinement starts: the mono head's disparity or the best match (REFINE_STARTS)

    def __post_init__(self) -> None:
        if self.max_disparity < 4:
            raise ValueError(f'max_disparity must be >= 4 px, got {self.max_disparity}')
        if self.corr_levels < 1 or self.corr_radius < 1:
            raise ValueError(f'corr_levels and corr_radius must be >= 1, got {self.corr_levels}, {self.corr_radius}')
        if self.iterations < 0:
            raise ValueError(f'iterations must be >= 0, got {self.iterations}')
        if self.zncc_window and (self.zncc_window < 8 or self.zncc_window % 4):
            raise ValueError(f'zncc_window must be 0 or a multiple of 4 >= 8, got {self.zncc_window}')
        if self.zncc_sigma < 0:
            raise ValueError(f'zncc_sigma must be >= 0 px, got {self.zncc_sigma}')
        if self.refine_from not in REFINE_STARTS:
            raise ValueError(f'refine_from must be one of {REFINE_STARTS}, got {self.refine_from!r}')

    def to_json(self) -> str:
        """The config as a JSON string (checkpoint metadata)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> 'StereoAdapterConfig':
        """Inverse of to_json; raises ValueError naming unknown fields."""
        raw = json.loads(text)
        return cls._from_dict(raw)

    @classmethod
    def _from_dict(cls, raw: dict) -> 'StereoAdapterConfig':
        sub = {'encoder': EncoderConfig, 'lora': LoRAConfig}
        kwargs = {}
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f'unknown StereoAdapterConfig field(s): {", ".join(sorted(unknown))}')
        for name, value in raw.items():
            if name in sub:
                sub_known = {f.name for f in fields(sub[name])}
                bad = set(value) - sub_known
                if bad:
                    raise ValueError(f'unknown {sub[name].__name__} field(s): {", ".join(sorted(bad))}')
                value = sub[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


PRECISIONS = ('auto', 'fp32', 'bf16')  # model backend arithmetic; auto: bf16 on CPUs with native bf16, else fp32

# Default weights shipped in models/ (resolved relative to the repository or the installed share folder).
DEFAULT_WEIGHTS = 'stereo_adapter_small/model.safetensors'

DEPTH_PARAMETERS = (
    ParamSpec('backend', 'model', 'Disparity backend: the StereoAdapter network or OpenCV SGBM_3WAY',
              choices=('model', 'sgbm'), read_only=True),
    ParamSpec('weights', '', "StereoAdapter safetensors path ('' = the shipped models/" + DEFAULT_WEIGHTS + ')',
              read_only=True),
    ParamSpec('iterations', StereoAdapterConfig().iterations,
              'Refinement iterations: fewer is faster; the shipped model is most accurate at 8', 0, 32),
    ParamSpec('max_disparity', 96, 'Largest disparity searched [px]; SGBM rounds it up to a multiple of 16',
              16, 512, read_only=True),
    ParamSpec('min_depth_m', 0.1, 'Closer depths are published as NaN [m]', 0.0, 100.0),
    ParamSpec('max_depth_m', 20.0, 'Farther depths are published as NaN [m]', 0.1, 1000.0),
    ParamSpec('min_confidence', 0.0, 'Pixels below this confidence are published as NaN in depth [0, 1]', 0.0, 1.0),
    ParamSpec('publish_points', False, 'Also publish depth/points (PointCloud2, left optical frame)'),
    ParamSpec('point_stride', 4, 'Keep every Nth pixel in x and y for depth/points', 1, 64),
    ParamSpec('pair_slop_s', 0.005, 'Largest left/right stamp difference paired as one frame [s]', 0.0, 1.0),
    ParamSpec('threads', 2, 'torch / OpenCV threads used by the worker', 1, 64, read_only=True),
    ParamSpec('device', 'cpu', "torch device of the model backend: 'cpu', 'cuda[:N]' or 'auto'", read_only=True),
    ParamSpec('precision', 'auto', "Model backend arithmetic: 'auto' (bf16 on CPUs with native bf16, else fp32), "
              "'fp32' or 'bf16'", choices=PRECISIONS, read_only=True),
)
