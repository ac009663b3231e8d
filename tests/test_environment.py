"""The drawing environment: numbering, redraw semantics, budgets and every termination."""

import numpy as np
import pytest
from PIL import Image

from drawing.environment import DrawingEnv, EnvConfig, run_replies
from drawing.format import format_answer_turn, format_tool_turn
from drawing.prompts import Prompts
from schemas.records import TERMINATIONS, BoxOp, LineOp

ANSWER = format_answer_turn("done", "B")


def _images(n=1, size=(64, 48)):
    return [Image.new("RGB", size, (255, 255, 255 - 40 * i)) for i in range(n)]


def _box(index, label="a", box=(5, 5, 20, 20)):
    return format_tool_turn("box", [BoxOp(index, box, label)])


def test_numbering_follows_first_reference_order():
    env = DrawingEnv(_images(2))
    reply = format_tool_turn(
        "both",
        [BoxOp(2, (1, 1, 9, 9), "x"), BoxOp(1, (1, 1, 9, 9), "y"), BoxOp(2, (2, 2, 8, 8), "z")],
    )
    result = env.step(reply)
    assert [i for i, _ in result.new_images] == [3, 4]
    assert env.parents == [0, 0, 2, 1]
    assert [b.label for b in env.states[2].boxes] == ["x", "z"]  # image 3 comes from image 2
    assert [b.label for b in env.states[3].boxes] == ["y"]
    assert result.turn.new_images == (3, 4)
    assert result.env_reply.count("<image>") == 2
    assert "The index of the given image is 3 (width: 64, height: 48)." in result.env_reply
    assert result.env_reply.index("is 3 (") < result.env_reply.index("is 4 (")


def test_redraw_on_rendered_keeps_old_pixels_on_original_does_not():
    env = DrawingEnv(_images(1))
    env.step(format_tool_turn("l", [LineOp(1, (2, 40), (60, 40), "seg")]))  # image 2
    env.step(format_tool_turn("fix", [LineOp(2, (2, 10), (60, 10), "seg")]))  # image 3 from 2
    env.step(format_tool_turn("fix", [LineOp(1, (2, 10), (60, 10), "seg")]))  # image 4 from 1
    on_rendered, on_original = np.asarray(env.images[2]), np.asarray(env.images[3])
    assert (on_rendered[40, 30] == 0).all()  # the old line's pixels are still there
    assert (on_original[40, 30] == 255).all()  # drawn on the clean original: gone
    assert (on_original[10, 30] == 0).all() and (on_rendered[10, 30] == 0).all()
    assert len(env.states[2].lines) == 1  # the label was replaced, not appended


def test_final_answer_now_turn_exactly_when_one_call_is_left():
    config = EnvConfig(max_calls=3)
    env = DrawingEnv(_images(), config)
    first = env.step(_box(1, box=(1, 1, 9, 9)))
    assert "no longer available" not in first.env_reply
    second = env.step(_box(2, box=(2, 2, 9, 9)))
    assert "no longer available" in second.env_reply and not second.done
    third = env.step(ANSWER)
    assert third.done and third.termination == "answered"


def test_tool_call_in_the_last_allowed_turn_exhausts_the_budget():
    env = DrawingEnv(_images(), EnvConfig(max_calls=2))
    env.step(_box(1, box=(1, 1, 9, 9)))
    result = env.step(_box(2, box=(3, 3, 9, 9)))
    assert result.done and result.termination == "budget_exhausted"
    assert "last of 2 allowed turns" in result.turn.error_detail


@pytest.mark.parametrize(
    "reply, termination, detail",
    [
        (_box(0), "bad_operation", "'index' must be an integer >= 1, got 0"),
        (_box(3), "bad_operation", "operation 1: index 3 out of range 1..1"),
        (_box(1, box=(5, 5, 65, 20)), "bad_operation", "point (65, 20) outside image 1 (64x48)"),
        (format_tool_turn("x", [LineOp(1, (-1, 0), (3, 3), "l")]), "bad_operation", "outside"),
        ("I'd rather not draw.", "no_action", "neither a drawing operation"),
        (
            '<think>x</think> Action: Path Tracer\n```json\n[{"index": 1,}\n```',
            "bad_operation",
            "unparsable JSON",
        ),
        (
            format_tool_turn("x", [BoxOp(1, (1, 1, 5, 5), "a"), BoxOp(1, (1, 1, 5, 5), "a")]),
            "duplicate_operation",
            "operation 2: Object Mapper 'a' on image 1 was already issued",
        ),
    ],
)
def test_bad_turns_terminate_with_a_precise_reason(reply, termination, detail):
    env = DrawingEnv(_images())
    result = env.step(reply)
    assert result.done and result.termination == termination
    assert detail in result.turn.error_detail
    assert len(env.images) == 1  # nothing was drawn


def test_duplicate_across_turns_and_truncation():
    env = DrawingEnv(_images())
    env.step(_box(1))
    assert env.step(_box(1)).termination == "duplicate_operation"
    env = DrawingEnv(_images())
    result = env.step("<think> I will draw a box at", finish_reason="length")
    assert result.termination == "turn_truncated" and result.turn.error == "turn_truncated"


def test_too_many_images():
    env = DrawingEnv(_images(2), EnvConfig(max_images=3))
    reply = format_tool_turn("x", [BoxOp(1, (1, 1, 5, 5), "a"), BoxOp(2, (1, 1, 5, 5), "b")])
    result = env.step(reply)
    assert result.termination == "too_many_images" and len(env.images) == 2


def test_every_termination_is_known_and_step_after_done_is_a_bug():
    env = DrawingEnv(_images())
    assert env.step(ANSWER).termination in TERMINATIONS
    with pytest.raises(RuntimeError):
        env.step(ANSWER)


def test_run_replies_and_script_errors():
    rollout = run_replies(_images(), [_box(1), _box(2, "b"), ANSWER])
    assert rollout.termination == "answered" and len(rollout.images) == 3
    assert rollout.parents == (0, 1, 2)
    assert [t.action for t in rollout.turns] == ["Object Mapper", "Object Mapper", "Answer"]
    with pytest.raises(ValueError, match="2 replies ended before the trajectory did"):
        run_replies(_images(), [_box(1), _box(2, "b")])


def test_prompts_from_user_directory(tmp_path):
    (tmp_path / "env_continue.txt").write_text("{images}\nKeep going.")
    prompts = Prompts.load(tmp_path)
    env = DrawingEnv(_images(), prompts=prompts)
    assert env.step(_box(1)).env_reply.endswith("Keep going.")
    (tmp_path / "env_final.txt").write_text("{images} {budget}")
    with pytest.raises(ValueError, match=r"env_final.txt: unknown placeholder\(s\) \['budget'\]"):
        Prompts.load(tmp_path)


def test_question_prompt_letters_options_and_suffix():
    prompts = Prompts.load()
    text = prompts.question("Where?", ["left", "B. right"], "multiple choice", [(10, 20), (30, 40)])
    assert text.count("<image>") == 2
    assert "A. left\nB. right" in text and "letter" in text
    assert "(width: 30, height: 40)" in text
    assert "single number" in prompts.question("How many?", [], "numerical", [(5, 5)])
    assert "48" in prompts.system(64, 48, 10) and "10 times" in prompts.system(64, 48, 10)
