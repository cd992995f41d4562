"""Checkpoints: safetensors round trip with the config in the metadata, and clear errors on mismatches."""

import pytest
import torch
from safetensors.torch import save_file
from test_model import tiny_config

from groundfm.depth.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from groundfm.depth.model import StereoAdapter


def test_round_trip_restores_config_and_outputs(tmp_path):
    torch.manual_seed(0)
    model = StereoAdapter(tiny_config(iterations=3)).eval()
    path = save_checkpoint(tmp_path / 'm.safetensors', model, {'step': 7})
    left, right = torch.rand(1, 3, 32, 48) * 255, torch.rand(1, 3, 32, 48) * 255

    loaded = load_checkpoint(path)
    cfg, extra = read_metadata(path)

    assert cfg == model.cfg and extra == {'step': 7}
    assert not list(tmp_path.glob('*.partial')), 'the write must be atomic (no temp file left)'
    with torch.no_grad():
        assert torch.allclose(model(left, right)['disparity'], loaded(left, right)['disparity'])


def test_mismatched_shapes_and_names_are_listed(tmp_path):
    model = StereoAdapter(tiny_config())
    path = save_checkpoint(tmp_path / 'm.safetensors', model)
    bigger = tiny_config(hidden_dims=(24, 16, 16))

    with pytest.raises(ValueError, match=r'mismatched .*update\.gru4'):
        load_checkpoint(path, cfg=bigger)

    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    tensors.pop('match.weight')
    tensors['extra.weight'] = torch.zeros(1)
    save_file(tensors, str(tmp_path / 'edited.safetensors'), metadata={'format': 'groundfm.stereo_adapter/1',
                                                                       'config': model.cfg.to_json()})
    with pytest.raises(ValueError, match=r'missing \(1\): match\.weight.*unexpected \(1\): extra\.weight'):
        load_checkpoint(tmp_path / 'edited.safetensors')


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    (tmp_path / 'junk.safetensors').write_bytes(b'not a safetensors file')
    save_file({'x': torch.zeros(1)}, str(tmp_path / 'other.safetensors'))

    with pytest.raises(ValueError, match='no checkpoint'):
        load_checkpoint(tmp_path / 'absent.safetensors')
    with pytest.raises(ValueError, match='not a readable'):
        load_checkpoint(tmp_path / 'junk.safetensors')
    with pytest.raises(ValueError, match='metadata format'):
        load_checkpoint(tmp_path / 'other.safetensors')
