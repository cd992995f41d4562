"""StereoAdapter checkpoints: safetensors with the config as JSON metadata; strict, readable loading."""

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

from groundfm.depth.config import StereoAdapterConfig
from groundfm.depth.model import StereoAdapter
from groundfm.io import atomic_write_bytes

FORMAT = 'groundfm.stereo_adapter/1'


def save_checkpoint(path: str | os.PathLike, model: StereoAdapter, extra: dict | None = None) -> Path:
    """Write model weights + config (metadata 'config', 'format', and 'extra' as JSON) atomically."""
    tensors = {name: t.detach().to('cpu').contiguous() for name, t in model.state_dict().items()}
    metadata = {'format': FORMAT, 'config': model.cfg.to_json(), 'extra': json.dumps(extra or {}, sort_keys=True)}
    return atomic_write_bytes(path, safetensors_save(tensors, metadata=metadata))


def read_metadata(path: str | os.PathLike) -> tuple[StereoAdapterConfig, dict]:
    """The config and the 'extra' dict stored in a checkpoint; ValueError if it is not a StereoAdapter file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'no checkpoint at {path}')
    try:
        with safe_open(str(path), framework='pt') as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f'{path} is not a readable safetensors file: {err}') from err
    if meta.get('format') != FORMAT or 'config' not in meta:
        raise ValueError(f'{path}: metadata format {meta.get("format")!r}, expected {FORMAT!r} with a config')
    return StereoAdapterConfig.from_json(meta['config']), json.loads(meta.get('extra', '{}'))


def load_state_dict_strict(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str = '') -> None:
    """Copy tensors into model; ValueError listing every missing, unexpected and shape-mismatched name."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = sorted(f'{name}: checkpoint {tuple(tensors[name].shape)} vs model {tuple(expected[name].shape)}'
                        for name in set(expected) & set(tensors) if tensors[name].shape != expected[name].shape)
    if missing or unexpected or mismatched:
        parts = [f'{label} ({len(items)}): {", ".join(items[:8])}{" ..." if len(items) > 8 else ""}'
                 for label, items in (('missing', missing), ('unexpected', unexpected), ('mismatched', mismatched))
                 if items]
        raise ValueError(f'checkpoint {source} does not fit the model: ' + '; '.join(parts))
    model.load_state_dict(tensors, strict=True)


def read_tensors(path: str | os.PathLike, device: str = 'cpu') -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file by name."""
    with safe_open(str(path), framework='pt', device=device) as f:
        return {name: f.get_tensor(name) for name in f.keys()}


def load_checkpoint(path: str | os.PathLike, cfg: StereoAdapterConfig | None = None,
                    device: str = 'cpu') -> StereoAdapter:
    """Build a StereoAdapter from the checkpoint's config (or `cfg`, which must then fit) and load its weights."""
    stored_cfg, _ = read_metadata(path)
    model = StereoAdapter(cfg or stored_cfg)
    load_state_dict_strict(model, read_tensors(path, device), str(path))
    return model.to(device).eval()
