"""One scripted trajectory through every entry point that runs the drawing environment.

`trace(entry)` feeds tests_integrations.common.REPLIES (box, line, answer) on the toy image to
one entry point, the way that entry point receives a model's turns, and returns what the model
would get back and the reward, in one comparable form:

    {"images": [sha256 of each rendered image's PNG bytes], "replies": [each environment
     reply with its images as <image>; verl's text part only, its images travel apart],
     "reward": float, "grounded_reward": float, "calls": int}

`grounded_reward` is the reward of the same trajectory on a row that carries oracle facts
(common.ORACLE) with the grounding weight common.GROUNDING_WEIGHT, each entry point fed both
as its trainer receives them (an RL record's facts, verl's `extra_info.oracle`, TRL's `oracle`
column).

Entry points (and the venv each needs):

- `environment`: drawing.environment.run_replies + trainer.reward on the trajectory (.venv)
- `teacher`: the Beam teacher stage's rollout path, rollout.engine.run_rollouts with the
  scripted teacher (.venv)
- `grpo`: our GRPO trainer's rollout loop, trainer.grpo.make_rollouts / run_rollouts with a
  generator that returns the replies' token ids, and its reward (needs torch + transformers:
  run in .venv-trl, which has both)
- `verl`: our ToolParser + DrawingTool.execute, and integrations.verl.reward on the response
  decoded as verl decodes it, without special tokens (.venv-verl)
- `trl`: our protocol parser + DrawingEnvironment, and DrawingReward on the response ids built
  as TRL builds them (prefix-preserving chat template) (.venv-trl)

`python -m tests_integrations.one_definition ENTRY` prints the trace as JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests_integrations.common import (
    GROUND_TRUTH,
    GROUNDING_WEIGHT,
    ORACLE,
    REPLIES,
    ROOT,
    input_image,
    png,
    qa_item,
)

IMAGE_TOKEN = "<image>"
QTYPE, DTYPE = "multiple choice", "vqa"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _markup(turns: list[tuple[str, str]]) -> str:
    """The response (after the generation prompt) in Qwen markup, images as `<image>`."""
    text = ""
    for raw, reply in turns:
        text += raw + "<|im_end|>"
        if reply:
            text += f"\n<|im_start|>user\n{reply}<|im_end|>\n<|im_start|>assistant\n"
    return text


def _tiny_processor() -> Any:
    """The tiny Qwen2-VL processor (scripts/tiny_qwen2vl.py; no weights)."""
    from transformers import AutoProcessor

    sys.path.insert(0, str(ROOT / "scripts"))
    from tiny_qwen2vl import build_tiny_qwen2vl

    out = Path(tempfile.mkdtemp(prefix="tiny-qwen2vl-"))
    return AutoProcessor.from_pretrained(build_tiny_qwen2vl(out), padding_side="left")


def _rewards(response: str) -> dict[str, float]:
    """The reward file's reward of a response, without and with the oracle and the weight."""
    from drawreason.trainer.reward import compute_score

    return {
        "reward": compute_score(response, GROUND_TRUTH, QTYPE, DTYPE)["overall"],
        "grounded_reward": compute_score(
            response, GROUND_TRUTH, QTYPE, DTYPE, oracle=ORACLE, grounding_weight=GROUNDING_WEIGHT
        )["overall"],
    }


def trace_environment() -> dict[str, Any]:
    from drawreason.drawing.environment import run_replies

    rollout = run_replies([input_image()], REPLIES)
    turns = [(t.raw, t.env_reply) for t in rollout.turns]
    return {
        "images": [_sha(png(im)) for im in rollout.images[1:]],
        "replies": [t.env_reply for t in rollout.turns if t.env_reply],
        **_rewards(_markup(turns)),
        "calls": sum(1 for t in rollout.turns if t.new_images),
    }


def trace_teacher() -> dict[str, Any]:
    from drawreason.drawing.environment import EnvConfig
    from drawreason.drawing.prompts import Prompts
    from drawreason.rollout.conversation import RolloutJob
    from drawreason.rollout.engine import run_rollouts
    from drawreason.teachers.base import SamplingParams
    from drawreason.teachers.scripted import ScriptedTeacher

    prompts, image = Prompts(), input_image()
    item = qa_item()
    job = RolloutJob(
        item.id,
        (image,),
        prompts.system(*image.size, 10, 1),
        prompts.question(item.question, item.options, QTYPE, [image.size], DTYPE),
    )
    teacher = ScriptedTeacher(
        lambda messages: REPLIES[sum(m.role == "assistant" for m in messages)]
    )
    (record,) = run_rollouts([job], teacher, SamplingParams(), EnvConfig(), prompts)
    turns = [(t.raw, t.env_reply) for t in record.turns]
    return {
        "images": [_sha(p) for p in record.pngs[1:]],
        "replies": [t.env_reply for t in record.turns if t.env_reply],
        **_rewards(_markup(turns)),
        "calls": sum(1 for t in record.turns if t.new_images),
    }


def trace_grpo() -> dict[str, Any]:
    import dataclasses

    from drawreason.drawing.images import encode_png
    from drawreason.drawing.prompts import Prompts
    from drawreason.schemas.oracle import oracle_from_dict
    from drawreason.trainer.data import Encoder, RLSample
    from drawreason.trainer.grpo import GRPOConfig, Policy, make_rollouts, run_rollouts

    processor = _tiny_processor()
    tmp = Path(tempfile.mkdtemp(prefix="grpo-trace-"))
    (tmp / "toy.png").write_bytes(encode_png(input_image()))
    item = qa_item()
    sample = RLSample(
        item.id, item.question, item.options, GROUND_TRUTH, QTYPE, DTYPE, (str(tmp / "toy.png"),)
    )
    # one question without facts, one with (as load_rl_samples reads a record's reward_truth)
    grounded = dataclasses.replace(sample, oracle=oracle_from_dict(json.loads(ORACLE)))
    config = GRPOConfig(
        data=str(tmp), model=str(tmp), output=str(tmp / "out"), grounding_weight=GROUNDING_WEIGHT
    )
    policy = Policy(Encoder(processor), config)

    class ScriptedGenerator:  # the generator seam of trainer.grpo (HFGenerator, VLLMGenerator)
        def generate(self, rollouts, seed):
            out = []
            for r in rollouts:
                reply = REPLIES[len(r.conv.env.turns)]
                out.append((policy.encoder.tokenize(reply) + [policy.encoder.im_end_id], "stop"))
            return out

    rollout, with_facts = make_rollouts([sample, grounded], 1, policy, Prompts(), config, 0)
    run_rollouts([rollout, with_facts], ScriptedGenerator(), policy, config, 0)
    env = rollout.conv.env
    if with_facts.response != rollout.response:
        raise AssertionError("the two questions' scripted trajectories differ")
    return {
        "images": [_sha(encode_png(im)) for im in env.images[1:]],
        "replies": [m.text for m in rollout.conv.messages[2:] if m.role == "user"],
        "reward": rollout.reward,
        "grounded_reward": with_facts.reward,
        "calls": sum(1 for t in env.turns if t.new_images),
    }


def trace_verl() -> dict[str, Any]:
    import asyncio

    from drawreason.integrations.verl.reward import compute_score
    from verl.experimental.agent_loop.tool_parser import ToolParser
    from verl.tools.tool_registry import initialize_tools_from_config

    config = ROOT / "integrations" / "verl" / "tool_config.yaml"
    tools = {t.name: t for t in initialize_tools_from_config(str(config))}
    parser = ToolParser.get_tool_parser("drawreason", tokenizer=None)
    create = {"images": [png(input_image())], "image_sizes": [list(input_image().size)]}

    async def go() -> tuple[list[bytes], list[str], list[tuple[str, str]]]:
        # verl's loop creates a tool instance per call and keeps the session on its per-
        # trajectory AgentData (integrations/verl/tool.py); one AgentData-like holder here
        class AgentData:
            image_data = [input_image()]

        data, images, replies, turns = AgentData(), [], [], []
        for reply in REPLIES:
            _, calls = parser.extract_from_text(reply + "<|im_end|>")
            if not calls:
                turns.append((reply, ""))
                break
            tool = tools[calls[0].name]
            instance, _ = await tool.create(create_kwargs=create)
            response, _, _ = await tool.execute(
                instance, json.loads(calls[0].arguments), agent_data=data
            )
            await tool.release(instance)
            shown = [png(im) for im in response.image or []]
            images += shown
            # verl's tool message carries the images apart from the text (images first)
            replies.append(response.text)
            turns.append((reply, f"{IMAGE_TOKEN}\n" * len(shown) + response.text))
        return images, replies, turns

    images, replies, turns = asyncio.run(go())
    sys.path.insert(0, str(ROOT / "scripts"))
    from tiny_qwen2vl import tiny_tokenizer  # the tokenizer alone: no torchvision in .venv-verl

    tokenizer = tiny_tokenizer()
    ids = tokenizer(_markup(turns), add_special_tokens=False)["input_ids"]
    decoded = tokenizer.decode(ids, skip_special_tokens=True)  # verl's reward managers do so
    info = {"question_type": QTYPE, "data_type": DTYPE}
    grounded = compute_score(  # the hand-off's reward_kwargs.grounding_weight, the row's facts
        "drawreason/toy",
        decoded,
        GROUND_TRUTH,
        {**info, "oracle": ORACLE},
        grounding_weight=GROUNDING_WEIGHT,
    )
    return {
        "images": [_sha(b) for b in images],
        "replies": replies,
        "reward": compute_score("drawreason/toy", decoded, GROUND_TRUTH, info)["score"],
        "grounded_reward": grounded["score"],
        "calls": len(images),
    }


def trace_trl() -> dict[str, Any]:
    from drawreason.integrations.trl.environment import DrawingEnvironment, DrawingReward
    from drawreason.integrations.trl.protocol import parse_protocol, use_protocol

    processor = use_protocol(_tiny_processor())
    env = DrawingEnvironment()
    env.reset(images=[input_image()], budgets={"image_sizes": [list(input_image().size)]})
    image = {"type": "image", "image": input_image()}
    prompt = [{"role": "user", "content": [image, {"type": "text", "text": "q"}]}]
    messages, images, replies = list(prompt), [], []
    for reply in REPLIES:
        message = parse_protocol(reply + "<|im_end|>")
        messages.append(message)
        if "tool_calls" not in message:
            break
        function = message["tool_calls"][0]["function"]
        content = getattr(env, function["name"])(**function["arguments"])
        messages.append({"role": "tool", "name": function["name"], "content": content})
        parts = [IMAGE_TOKEN if p["type"] == "image" else p["text"] for p in content]
        replies.append("".join(parts))
        images += [png(p["image"]) for p in content if p["type"] == "image"]

    def ids_of(conversation: list[dict], generation_prompt: bool) -> list[int]:
        out = processor.apply_chat_template(
            conversation,
            tokenize=True,
            return_dict=True,
            add_generation_prompt=generation_prompt,
        )
        return list(out["input_ids"][0])

    prompt_ids = ids_of(prompt, True)
    full_ids = ids_of(messages, False)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise AssertionError("the protocol template is not prefix-preserving")
    reward = DrawingReward(processor)
    response = reward.tokenizer.decode(full_ids[len(prompt_ids) :])
    # as GRPOTrainer calls it: completion ids and the rows' columns, oracle facts included
    weighted = DrawingReward(processor, grounding_weight=GROUNDING_WEIGHT)
    (grounded,) = weighted(
        completion_ids=[full_ids[len(prompt_ids) :]],
        ground_truth=[GROUND_TRUTH],
        question_type=[QTYPE],
        data_type=[DTYPE],
        oracle=[ORACLE],
        item_id=["toy-000001"],
    )
    return {
        "images": [_sha(b) for b in images],
        "replies": replies,
        "reward": reward.score(response.removesuffix("\n"), GROUND_TRUTH, QTYPE, DTYPE),
        "grounded_reward": grounded,
        "calls": len(images),
    }


ENTRIES = {
    "environment": trace_environment,
    "teacher": trace_teacher,
    "grpo": trace_grpo,
    "verl": trace_verl,
    "trl": trace_trl,
}


def trace(entry: str) -> dict[str, Any]:
    if entry not in ENTRIES:
        raise ValueError(f"unknown entry point {entry!r}; known: {sorted(ENTRIES)}")
    return ENTRIES[entry]()


if __name__ == "__main__":
    print(json.dumps(trace(sys.argv[1])))
