"""The drawing environment: numbering, redraw semantics, budgets and every termination."""

import pickle

import numpy as np
import pytest
from drawreason.drawing.environment import DrawingEnv, EnvConfig, run_replies
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.drawing.prompts import IMAGE_TOKEN, Prompts, TemplateError
from drawreason.drawing.render import BOX_COLORS
from drawreason.schemas.records import TERMINATIONS, BoxOp, LineOp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

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
        (
            _box(1, box=(5, 5, 65, 20)),
            "bad_operation",
            "operation 1: 'bbox_2d' point (65, 20) outside image 1 (x in 0..64, y in 0..48)",
        ),
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


def test_env_reply_names_every_new_image_in_order():
    env = DrawingEnv(_images(2, size=(64, 48)))
    env.step(_box(1))  # image 3
    result = env.step(
        format_tool_turn("x", [LineOp(3, (1, 1), (9, 9), "l"), LineOp(2, (1, 1), (9, 9), "m")])
    )
    reply = result.env_reply
    assert reply.count(IMAGE_TOKEN) == 2
    lines = reply.splitlines()
    assert lines[:4] == [
        "<image>",
        "The index of the given image is 4 (width: 64, height: 48).",
        "<image>",
        "The index of the given image is 5 (width: 64, height: 48).",
    ]
    assert env.parents == [0, 0, 1, 3, 2]
    assert result.turn.env_reply == reply and result.turn.new_images == (4, 5)


def test_label_replace_keeps_its_colour_position():
    env = DrawingEnv(_images(1, size=(96, 96)))
    env.step(
        format_tool_turn("x", [BoxOp(1, (2, 2, 40, 40), "a"), BoxOp(1, (50, 50, 90, 90), "b")])
    )
    env.step(format_tool_turn("fix", [BoxOp(2, (50, 2, 90, 40), "a")]))  # image 3 from 2
    assert [b.label for b in env.states[2].boxes] == ["a", "b"]
    assert env.states[2].boxes[0].bbox_2d == (50, 2, 90, 40)
    new = env.images[2]
    assert new.getpixel((90, 30)) == BOX_COLORS[0]  # "a" moved, still the first colour
    assert new.getpixel((90, 70)) == BOX_COLORS[1]  # "b" untouched, still the second
    assert new.getpixel((2, 30)) == BOX_COLORS[0]  # old "a" pixels remain (drawn on image 2)


def _script(termination):
    """Replies (and finish reasons) that end a 1-image trajectory with `termination`."""
    box = _box(1)
    return {
        "answered": [(box, "stop"), (ANSWER, "stop")],
        "turn_truncated": [(box, "stop"), (ANSWER, "length")],
        "no_action": [("Hmm.", "stop")],
        "bad_operation": [(_box(5), "stop")],
        "too_many_images": [(box, "stop"), (_box(2, "b"), "stop"), (_box(3, "c"), "stop")],
        "duplicate_operation": [(box, "stop"), (box, "stop")],
        "budget_exhausted": [(box, "stop"), (_box(2, "b"), "stop"), (_box(3, "c"), "stop")],
    }[termination]


@pytest.mark.parametrize("termination", [t for t in TERMINATIONS if t != "teacher_error"])
def test_every_termination_is_reached(termination):
    max_images = 3 if termination == "too_many_images" else 42
    env = DrawingEnv(_images(), EnvConfig(max_calls=3, max_images=max_images))
    for reply, finish_reason in _script(termination):
        result = env.step(reply, finish_reason)
    assert result.done and env.done
    assert result.termination == env.termination == termination
    assert len(env.turns) == len(_script(termination))
    assert (result.turn.error == "") == (termination == "answered")
    assert result.env_reply == "" and result.turn.env_reply == ""


def test_budget_exhausted_keeps_the_images_it_drew():
    env = DrawingEnv(_images(), EnvConfig(max_calls=1))
    result = env.step(_box(1))
    assert result.termination == "budget_exhausted"
    assert [i for i, _ in result.new_images] == [2] and result.turn.new_images == (2,)
    assert len(env.images) == len(env.parents) == len(env.states) == 2


def test_answer_is_accepted_as_the_last_call():
    env = DrawingEnv(_images(), EnvConfig(max_calls=2))
    assert "no longer available" in env.step(_box(1)).env_reply
    result = env.step(ANSWER)
    assert result.termination == "answered" and result.turn.answer == "B"


def test_checks_run_before_anything_is_drawn():
    env = DrawingEnv(_images(2))
    reply = format_tool_turn("x", [BoxOp(1, (1, 1, 5, 5), "a"), BoxOp(2, (1, 1, 99, 5), "b")])
    result = env.step(reply)
    assert result.termination == "bad_operation" and "operation 2" in result.turn.error_detail
    assert len(env.images) == 2 and result.turn.new_images == ()


def test_swapped_corners_are_the_same_operation():
    env = DrawingEnv(_images())
    env.step(_box(1, box=(5, 5, 20, 20)))
    result = env.step(_box(1, box=(20, 20, 5, 5)))
    assert result.termination == "duplicate_operation"


def test_same_geometry_on_another_image_or_label_is_not_a_duplicate():
    env = DrawingEnv(_images())
    env.step(_box(1))
    assert not env.step(_box(2)).done
    assert not env.step(_box(1, "other")).done


def test_truncated_turn_terminates_even_if_it_parses():
    env = DrawingEnv(_images())
    result = env.step(_box(1), finish_reason="length")
    assert result.termination == "turn_truncated" and len(env.images) == 1
    assert result.turn.finish_reason == "length"


def test_turn_records_what_the_parser_understood():
    env = DrawingEnv(_images())
    reply = "Action: Object Mapper\n[{'index': 1, 'bbox_2d': [1, 2, 3, 4], 'label': 'a'}]"
    turn = env.step(reply).turn
    assert turn.raw == reply and turn.action == "Object Mapper" and turn.error == ""
    assert turn.operations == (BoxOp(1, (1, 2, 3, 4), "a"),)
    assert "missing <think>" in turn.format_issues


_op_text = st.sampled_from(
    [
        '{"index": 1, "bbox_2d": [1, 2, 30, 40], "label": "a"}',
        '{"index": 2, "bbox_2d": [1, 2, 30, 40], "label": "b"}',
        '{"index": 1, "bbox_2d": [1, 2, 300, 40], "label": "c"}',
        '{"index": 9, "start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "d"}',
        '{"index": 1, "start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "a"}',
        '{"index": 0}',
    ]
)
_reply = st.one_of(
    st.text(max_size=60),
    st.just(ANSWER),
    st.lists(_op_text, min_size=1, max_size=3).map(
        lambda ops: "<think>x</think> Action: Object Mapper\n```json\n[" + ", ".join(ops) + "]\n```"
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_reply, st.sampled_from(["stop", "stop", "length"])), max_size=6))
def test_never_raises_on_model_text(replies):
    env = DrawingEnv(_images(), EnvConfig(max_calls=4, max_images=4))
    for reply, finish_reason in replies:
        if env.done:
            break
        result = env.step(reply, finish_reason)
        assert len(env.images) == len(env.parents) == len(env.states) <= 4
        assert result.env_reply.count(IMAGE_TOKEN) == len(result.new_images) or result.done
    assert len(env.turns) <= 4
    if env.done:
        assert env.termination in TERMINATIONS


def test_template_errors_are_caught_at_load_time(tmp_path):
    (tmp_path / "image_line.txt").write_text("The index is {index}.")
    with pytest.raises(TemplateError, match=r"image_line.txt: contains '<image>' 0 time"):
        Prompts(tmp_path)
    (tmp_path / "image_line.txt").write_text("<image> {index} {width} {height}")
    (tmp_path / "system.txt").write_text("{0}")
    with pytest.raises(TemplateError, match="system.txt: unknown placeholder"):
        Prompts(tmp_path)


def test_question_prompt_details():
    prompts = Prompts()
    text = prompts.question(
        "<image>\nWhich way?", ["(A) up", "down", "C. left"], "multiple choice", [(8, 9)]
    )
    assert text.count(IMAGE_TOKEN) == 1
    assert text.startswith("<image>\nThe index of the given image is 1 (width: 8, height: 9).")
    assert "\n(A) up\nB. down\nC. left\n" in text
    free = prompts.question("Describe it.", [], "free-form", [(8, 9)])
    assert free.endswith("Describe it.\n")  # templates are exact: no suffix line, its newline stays
    with pytest.raises(ValueError, match="27 options"):
        prompts.question("?", ["x"] * 27, "multiple choice", [(8, 9)])


def test_env_reply_texts_and_pickling():
    prompts = Prompts()
    final = prompts.env_reply([(2, 10, 20)], final=True)
    assert final.startswith("<image>\nThe index of the given image is 2 (width: 10, height: 20).")
    assert "no longer available" in final
    assert "no longer available" not in prompts.env_reply([(2, 10, 20)], final=False)
    clone = pickle.loads(pickle.dumps(prompts))
    assert clone.templates == prompts.templates
    assert clone.env_reply([(2, 10, 20)], final=True) == final


def test_the_answer_now_turn_comes_before_the_image_cap():
    env = DrawingEnv(_images(), EnvConfig(max_calls=10, max_images=3))
    first = env.step(_box(1))
    assert "no longer available" not in first.env_reply  # 2 images, room for one more
    second = env.step(_box(2, "b"))
    assert "no longer available" in second.env_reply and env.final_sent  # cap reached
    assert env.step(ANSWER).termination == "answered"
    env = DrawingEnv(_images(), EnvConfig(max_calls=10, max_images=3))
    env.step(_box(1))
    env.step(_box(2, "b"))
    late = env.step(_box(1, "c"))  # a tool call after "answer now" cannot fit either
    assert late.termination == "too_many_images"


def test_a_tool_call_after_the_answer_now_turn_ends_the_budget():
    env = DrawingEnv(_images(2), EnvConfig(max_calls=10, max_images=5))
    two = format_tool_turn("x", [BoxOp(1, (1, 1, 5, 5), "a"), BoxOp(2, (1, 1, 5, 5), "b")])
    assert "no longer available" in env.step(two).env_reply  # another such turn would pass 5
    result = env.step(_box(3, "c"))
    assert result.termination == "budget_exhausted" and "answer-now" in result.turn.error_detail
