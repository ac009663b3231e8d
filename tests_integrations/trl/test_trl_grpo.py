"""The drawing environment behind TRL 1.16's GRPOTrainer, on CPU (run in .venv-trl).

A few GRPO steps with the tiny local Qwen2-VL (scripts/tiny_qwen2vl.py): the model's own
`generate` is constrained to scripted protocol replies (tests_integrations/trl/scripted.py);
TRL parses the calls with our protocol parser, runs `DrawingEnvironment`, feeds the rendered
images back to the model (its vision tower sees them), and logs our reward.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from drawreason.drawing.environment import run_replies
from drawreason.integrations.trl.data import trl_dataset
from drawreason.integrations.trl.environment import (
    DrawingEnvironment,
    DrawingReward,
    TrajectoryEnded,
)
from drawreason.integrations.trl.protocol import parse_protocol, use_protocol
from drawreason.integrations.trl.train import build_trainer, grpo_args
from drawreason.integrations.verl.data import verl_record
from transformers import AutoProcessor, LogitsProcessorList, Qwen2VLForConditionalGeneration

from tests_integrations.common import REPLIES, build_tiny_model, input_image, png, qa_item
from tests_integrations.trl.scripted import ScriptedReplies

WRONG = (  # a second script: one box, then the wrong option
    "<think> Mark the corner. </think> Action: Object Mapper\n"
    '```json\n[{"index": 1, "bbox_2d": [60, 60, 100, 100], "label": "corner"}]\n```',
    "<think> It goes up. </think> Action: Answer\n<answer> A </answer>",
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def processor(model_dir):
    return use_protocol(AutoProcessor.from_pretrained(model_dir, padding_side="left"))


def rows(n: int = 1) -> list[dict]:
    image = input_image()
    row = verl_record(
        qa_item(), [png(image)], [image.size], subset="toy", index=0, max_calls=5, max_images=10
    )
    row["reward_model"]["ground_truth"] = "B"
    return [row] * n


def test_protocol_parser_reads_calls_and_answers():
    call = parse_protocol(REPLIES[1] + "<|im_end|>")
    assert call["content"] == REPLIES[1]
    assert call["tool_calls"][0]["function"]["name"] == "path_tracer"
    assert call["tool_calls"][0]["function"]["arguments"]["operations"][0]["end_point_2d"] == [
        90,
        90,
    ]
    assert "tool_calls" not in parse_protocol(REPLIES[2])
    assert "tool_calls" not in parse_protocol("Action: Object Mapper\n```json\n[{oops\n```")


def test_template_renders_tool_turns_as_our_user_turns(processor):
    from trl.chat_template_utils import is_chat_template_prefix_preserving, supports_tool_calling

    assert supports_tool_calling(processor)
    assert is_chat_template_prefix_preserving(processor)
    env = DrawingEnvironment()
    env.reset(images=[input_image()], budgets={"max_calls": 5})
    content = env.object_mapper(
        parse_protocol(REPLIES[0])["tool_calls"][0]["function"]["arguments"]["operations"]
    )
    text = processor.apply_chat_template(
        [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "text", "text": REPLIES[0]}]},
            {"role": "tool", "name": "object_mapper", "content": content},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    ours = run_replies([input_image()], REPLIES).turns[0].env_reply
    reply = ours.replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>")
    assert text.endswith(
        f"{REPLIES[0]}<|im_end|>\n<|im_start|>user\n{reply}<|im_end|>\n<|im_start|>assistant\n"
    )


def test_environment_ends_like_drawing_env():
    env = DrawingEnvironment()
    env.reset(images=[input_image()], budgets={"max_calls": 1})
    with pytest.raises(TrajectoryEnded, match="budget_exhausted"):
        env.object_mapper([{"index": 1, "bbox_2d": [1, 1, 20, 20], "label": "a"}])
    env.reset(images=[input_image()], budgets={"max_calls": 5})
    with pytest.raises(TrajectoryEnded, match="index"):
        env.object_mapper([{"index": 7, "bbox_2d": [1, 1, 20, 20], "label": "a"}])
    with pytest.raises(TrajectoryEnded, match="already ended"):
        env.object_mapper([{"index": 1, "bbox_2d": [1, 1, 20, 20], "label": "a"}])


def test_grpo_steps_multi_turn_with_images_fed_back(model_dir, processor, tmp_path):
    model = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    script = ScriptedReplies(processor.tokenizer, [REPLIES, WRONG])
    model.generate = functools.partial(
        model.generate, logits_processor=LogitsProcessorList([script])
    )
    images_seen: list[int] = []  # images per vision-tower call (prompt + fed-back images)
    model.model.visual.register_forward_hook(
        lambda module, args, kwargs, out: images_seen.append(int(kwargs["grid_thw"].shape[0])),
        with_kwargs=True,
    )
    args = grpo_args(
        str(tmp_path / "out"),
        max_calls=5,
        max_steps=2,
        num_generations=2,
        per_device_train_batch_size=2,
        max_completion_length=512,
        logging_steps=1,
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    trainer = build_trainer(model, processor, trl_dataset(rows(4)), args)
    trainer.train()

    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 2
    for entry in logs:
        assert math.isfinite(entry["reward"]) and math.isfinite(entry["loss"])
        assert entry["tools/call_frequency"] == pytest.approx(1.5)  # 2 calls + 1 call
        assert entry["tools/failure_frequency"] == 0.0
    assert script.forced > 0
    assert max(images_seen) >= 3  # the input and two drawn images went back into the model

    # The rewards TRL logged are our reward of the two scripted trajectories.
    reward = DrawingReward(processor)
    right = reward.score(_markup(REPLIES), "B", "multiple choice", "vqa")
    wrong = reward.score(_markup(WRONG), "B", "multiple choice", "vqa")
    assert right > wrong
    for entry in logs:
        assert entry["rewards/drawing_reward/mean"] == pytest.approx((right + wrong) / 2)
    envs = trainer._environment_pool[None]
    assert sorted(len(e.session.env.turns) for e in envs[:2]) == [1, 2]


def _markup(replies) -> str:
    """A trajectory's response as TRL decodes it (16 image tokens per 112x112 image)."""
    rollout = run_replies([input_image()], replies)
    pad = "<|vision_start|>" + "<|image_pad|>" * 16 + "<|vision_end|>"
    text = ""
    for turn in rollout.turns:
        text += turn.raw + "<|im_end|>"
        if turn.env_reply:
            reply = turn.env_reply.replace("<image>", pad)
            text += f"\n<|im_start|>user\n{reply}<|im_end|>\n<|im_start|>assistant\n"
    return text
