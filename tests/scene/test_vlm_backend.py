"""The VLM backend end to end with a tiny randomly initialised Qwen2-VL built here (no weights are downloaded)."""

import numpy as np
import pytest
from conftest import ROBOT_POSE

from groundfm.scene.config import SceneConfig
from groundfm.scene.qa import IDK, QAEngine

SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|vision_start|>', '<|vision_end|>', '<|image_pad|>',
           '<|video_pad|>']
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope='module')
def tiny_vlm(tmp_path_factory):
    """A ~0.1M-parameter Qwen2-VL with a 300-token BPE, saved to a local folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(['<think> the red chair is in the kitchen </think><answer> yes [obj 3] </answer>'] * 20,
                            trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token='<|im_end|>', pad_token='<|endoftext|>')
    tokenizer.chat_template = CHAT_TEMPLATE
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in SPECIAL}
    cfg = Qwen2VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         rope_scaling={'type': 'mrope', 'mrope_section': [2, 3, 3]}, bos_token_id=None,
                         eos_token_id=ids['<|im_end|>'], pad_token_id=ids['<|endoftext|>']),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids['<|image_pad|>'], video_token_id=ids['<|video_pad|>'],
        vision_start_token_id=ids['<|vision_start|>'], vision_end_token_id=ids['<|vision_end|>'])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('tiny_vlm')
    Qwen2VLForConditionalGeneration(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112).save_pretrained(path)
    return path


def test_tiny_vlm_runs_through_the_shared_parser(tiny_vlm, graph):
    from groundfm.scene.vlm import VLMBackend

    view = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    cfg = SceneConfig(backend='vlm', vlm_path=str(tiny_vlm), vlm_max_new_tokens=12)
    backend = VLMBackend.from_config(cfg, views=lambda: [view])
    engine = QAEngine(backend, cfg)

    result = engine.answer('Where is the red chair?', graph, ROBOT_POSE)

    assert result.success and result.qtype == 'where'
    assert isinstance(result.raw_output, str)  # whatever the random model said
    # Random weights do not produce the format: the parser turns that into "I don't know", never a guess.
    assert result.answer.startswith(IDK) and 'format' in result.answer
    assert result.confidence == 0.0 and result.boxes == []


def test_vlm_backend_needs_a_local_folder(tmp_path):
    from groundfm.scene.vlm import VLMBackend

    with pytest.raises(ValueError, match='vlm_path'):
        VLMBackend(str(tmp_path / 'missing'))


def test_well_formed_model_output_is_grounded(graph):
    class Scripted:
        qtype, confidence = 'where', None

        def generate(self, question, graph, robot_pose):
            return '<think>Step 1: the red chair is [obj 4].</think><answer>In the kitchen [obj 4].</answer>'

    result = QAEngine(Scripted()).answer('Where is the red chair?', graph, ROBOT_POSE)
    assert result.answer == 'In the kitchen.' and [b.id for b in result.boxes] == [4]
    assert result.confidence == 0.5
