"""The drawing tool against the real verl 0.9.1 (run in .venv-verl)."""

from __future__ import annotations

import asyncio
import json

from drawreason.drawing.environment import run_replies
from drawreason.integrations.verl.tool import DrawingTool
from verl.experimental.agent_loop.tool_parser import ToolParser
from verl.tools.tool_registry import initialize_tools_from_config

from tests_integrations.common import REPLIES, ROOT, input_image, png

CONFIG = ROOT / "integrations" / "verl" / "tool_config.yaml"


def test_verl_loader_builds_our_tools():
    tools = initialize_tools_from_config(str(CONFIG))
    assert [t.name for t in tools] == ["object_mapper", "path_tracer"]
    assert all(isinstance(t, DrawingTool) for t in tools)


def test_parser_registered_and_turns_protocol_text_into_calls():
    parser = ToolParser.get_tool_parser("drawreason", tokenizer=None)
    content, calls = parser.extract_from_text(REPLIES[0] + "<|im_end|>")
    assert content == REPLIES[0]
    assert [c.name for c in calls] == ["object_mapper"]
    assert json.loads(calls[0].arguments)["operations"][0]["bbox_2d"] == [10, 10, 50, 50]
    _, calls = parser.extract_from_text(REPLIES[1])  # ```JSON fence and a trailing comma
    assert [c.name for c in calls] == ["path_tracer"]
    assert parser.extract_from_text(REPLIES[2])[1] == []  # an answer makes no call


def test_execute_returns_the_rendered_image_like_our_environment():
    tools = {t.name: t for t in initialize_tools_from_config(str(CONFIG))}
    image = input_image()
    ours = run_replies([image], REPLIES)
    parser = ToolParser.get_tool_parser("drawreason", tokenizer=None)
    kwargs = {"create_kwargs": {"images": [png(image)], "image_sizes": [list(image.size)]}}

    async def go():
        tool = tools["object_mapper"]
        instance, _ = await tool.create(**kwargs)
        texts, images = [], []
        for reply in REPLIES[:2]:
            _, calls = parser.extract_from_text(reply)
            response, reward, _ = (
                await tools[calls[0].name].execute(instance, json.loads(calls[0].arguments))
                if calls[0].name == tool.name
                else await _same(tool, instance, calls[0])
            )
            texts.append(response.text)
            images += response.image
        await tool.release(instance)
        return texts, images

    async def _same(tool, instance, call):
        # both tools share one class; the session is per instance, so call it on this one
        tool.name = call.name
        try:
            return await tool.execute(instance, json.loads(call.arguments))
        finally:
            tool.name = "object_mapper"

    texts, images = asyncio.run(go())
    assert [png(im) for im in images] == [png(im) for im in ours.images[1:]]
    assert texts[0] == ours.turns[0].env_reply.replace("<image>\n", "")


def test_reward_entry_point_scores_verl_decoded_text_like_trainer_reward():
    from drawreason.integrations.verl.reward import compute_score
    from drawreason.trainer.reward import compute_score as project_score

    env = "The index of the given image is 2 (width: 112, height: 112)."
    markup = f"{REPLIES[0]}<|im_end|>\n<|im_start|>user\n{env}<|im_end|>\n<|im_start|>assistant\n"
    markup += REPLIES[2] + "<|im_end|>"
    stripped = f"{REPLIES[0]}\nuser\n{env}\nassistant\n{REPLIES[2]}"  # skip_special_tokens=True
    info = {"question_type": "multiple choice", "data_type": "vqa"}
    scores = compute_score("drawreason/toy", stripped, "B", info)
    assert scores["score"] == project_score(markup, "B")["overall"] == 2.0
    assert scores["format"] == 1.0
