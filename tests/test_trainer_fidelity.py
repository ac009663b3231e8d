"""Our outputs as ViLaSR's trainer reads and scores them (docs/consumers.md): the reward on the
whole decoded sequence, every RL record through its dataset class's prompt branches, reward
boundary cases, and prompt templates that reproduce a given prompt byte for byte."""

import json
import re
from pathlib import Path

import pytest
from drawreason.drawing.environment import DrawingEnv, EnvConfig
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.drawing.prompts import Prompts
from drawreason.filters.scoring import extract_answer
from drawreason.pipelines.rl_data import trainer_size
from drawreason.schemas.records import BoxOp, LineOp
from drawreason.schemas.rl import OPTION_LETTERS
from drawreason.trainer.reward import compute_score

import run_pipeline
from tests.realdata import build_dataset, script_for
from tests.scripted_server import ScriptedServer
from tests.vilasr_contract import dataset_prompt, full_sequence, read_jsonl, response

ENDS = ("<|im_end|>", "<|endoftext|>", "<|im_end|><|endoftext|><|endoftext|>", "")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fidelity") / "data"
    root.mkdir()
    return root, build_dataset(root)


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    mix = {"maze": 0.5, "scenes": 0.5}
    path.write_text(json.dumps({"mix": mix, "media": {"max_input_pixels": 500_000}}))
    return str(path)


@pytest.fixture(scope="module")
def cold_start(data, tmp_path_factory):
    root, expect = data
    tmp = tmp_path_factory.mktemp("cold")
    out = tmp / "out"
    argv = ["--stage", "cold_start_data", "--output", str(out), "--num-samples", "30"]
    argv += ["--config", _config(tmp), "--input", str(root / "qa.jsonl")]
    with ScriptedServer(script_for(expect)) as server:
        argv += ["--teacher", "openai", "--teacher-endpoint", server.base_url]
        assert run_pipeline.main([*argv, "--teacher-model", "scripted-vlm"]) == 0
    return out, expect


def _truth(record: dict, expect: dict) -> str:
    """The question's ground truth: the expectation of a teacher-subset record (its tag is in
    the question), else the answer a kept generated trajectory gave (kept means correct)."""
    tag = re.search(r"\[(Q\w+)\]", record["conversations"][1]["content"])
    if tag:
        return expect[tag.group(1)]["answer"]
    return extract_answer(record["conversations"][-1]["content"])


def _qtype(truth: str) -> str:
    return "numerical" if re.fullmatch(r"[\d.]+", truth) else "multiple choice"


def test_reward_is_the_same_on_every_form_a_trainer_passes(cold_start):
    out, expect = cold_start
    subsets = {}
    for path in sorted((out / "sft/cold_start").glob("*.jsonl")):
        subsets[path.stem] = read_jsonl(path)
    assert {"maze", "scenes", "qa"} <= set(subsets) and all(subsets.values())
    multi_image = 0
    for subset, records in subsets.items():
        for record in records:
            conv = record["conversations"]
            multi_image += conv[1]["content"].count("<image>") > 1
            truth = _truth(record, expect)
            qtype = _qtype(truth)
            reference = compute_score(response(conv, "<|im_end|>"), truth, qtype)
            assert reference["format"] == 1.0 and reference["accuracy"] == 1.0, record["id"]
            for end in ENDS:
                for their_env in (False, True):
                    forms = {
                        "full": full_sequence(conv, end, their_env),
                        "full, wrapped truth": full_sequence(conv, end, their_env),
                    }
                    if not their_env:  # without the question, only our image lines tell inputs
                        forms["response"] = response(conv, end)
                    for name, text in forms.items():
                        gt = f"<answer>{truth}</answer>" if "wrapped" in name else truth
                        got = compute_score(text, gt, qtype)
                        assert got == reference, (subset, record["id"], name, repr(end))
                        mean = compute_score(text, gt, qtype, variant="mean")
                        assert mean["overall"] == 0.5 * got["accuracy"] + 0.5 * got["format"]
    assert multi_image  # multi-view scenes and multi-image teacher items were among them


def test_a_bad_operation_scores_the_same_in_every_form(cold_start):
    out, _ = cold_start
    record = read_jsonl(out / "sft/cold_start/maze.jsonl")[0]
    conv = [dict(turn) for turn in record["conversations"]]
    width = int(re.search(r"width: (\d+)", conv[1]["content"]).group(1))
    # Push the first drawing's first x coordinate outside the image.
    first = conv[2]["content"]
    conv[2]["content"] = re.sub(r"\[(\d+(?:\.\d+)?),", f"[{width + 50},", first, count=1)
    assert conv[2]["content"] != first
    truth = extract_answer(conv[-1]["content"])
    for end in ENDS:
        for text in (full_sequence(conv, end), response(conv, end)):
            got = compute_score(text, truth, _qtype(truth))
            assert got["format"] == 0.0 and got["accuracy"] == 1.0 and got["overall"] == 1.0


@pytest.fixture(scope="module")
def rl_run(data, tmp_path_factory):
    root, _ = data
    tmp = tmp_path_factory.mktemp("rl")
    out = tmp / "out"
    argv = ["--stage", "rl_data", "--output", str(out), "--num-samples", "24"]
    argv += ["--config", _config(tmp), "--input", str(root / "qa.jsonl")]
    assert run_pipeline.main(argv) == 0
    return out


def test_every_rl_record_passes_the_vilasr_dataset_branches(rl_run):
    shards = sorted((rl_run / "rl").glob("*.jsonl"))
    seen_types = set()
    for shard in shards:
        for record in read_jsonl(shard):
            where = (shard.name, record["id"])
            assert "grid_size" in record, where
            if record["data_type"] == "maze":
                assert isinstance(record["grid_size"], int), where
            paths = record["image_path"]
            assert all((shard.parent / p).is_file() for p in paths), where
            if record["question_type"] == "multiple choice":
                letters = [o.split(".", 1)[0] for o in record["options"]]
                assert letters == list(OPTION_LETTERS[: len(letters)]), where
                assert record["answer"] in letters, where
            prompt, images = dataset_prompt(dict(record), shard)
            seen_types.add(record["data_type"])
            # The processor gets every image; the prompt must show each exactly once.
            assert prompt.count("<image>") == len(images) == len(paths), where
            for image in images:
                assert image.width % 28 == 0 and image.height % 28 == 0, where
                assert trainer_size(*image.size) == image.size, where
    assert {"maze", "vqa", "video"} <= seen_types


def test_an_unknown_data_type_raises_in_the_contract(rl_run):
    shard = next((rl_run / "rl").glob("*.jsonl"))
    record = read_jsonl(shard)[0]
    with pytest.raises(ValueError, match="Unknown data_type"):
        dataset_prompt({**record, "data_type": "scenes"}, shard)


def _turns(*replies: str) -> str:
    """A response-only trajectory on one 100 x 80 image, environment turns ours."""
    env = DrawingEnv([_blank()], EnvConfig())
    parts = []
    for reply in replies:
        parts.append(reply + "<|im_end|>")
        step = env.step(reply)
        if step.env_reply:
            parts.append(f"\n<|im_start|>user\n{step.env_reply}<|im_end|>\n<|im_start|>assistant\n")
    return "".join(parts)


def _blank():
    from PIL import Image

    return Image.new("RGB", (100, 80), "white")


BOX = format_tool_turn("I box it.", [BoxOp(1, (10, 10, 40, 40), "cup")])
LINE = format_tool_turn("I trace it.", [LineOp(2, (10, 10), (90, 70), "path")])
OUTSIDE = format_tool_turn("I box it.", [BoxOp(1, (10, 10, 140, 40), "cup")])


@pytest.mark.parametrize(
    ("answer", "truth", "qtype", "variant", "expected"),
    [
        ("19", "20", "numerical", "acc_gated", {"accuracy": 0.9, "overall": 1.9}),
        ("21", "20", "numerical", "acc_gated", {"accuracy": 0.9}),
        ("7", "10", "numerical", "acc_gated", {"accuracy": 0.4}),
        ("13", "10", "numerical", "acc_gated", {"accuracy": 0.4}),
        ("0.3", "0.2", "numerical", "acc_gated", {"accuracy": 0.0}),
        ("15", "10", "numerical", "acc_gated", {"accuracy": 0.0}),
        ("14.5", "10", "numerical", "acc_gated", {"accuracy": 0.1}),
        ("0", "0", "numerical", "acc_gated", {"accuracy": 1.0}),
        ("B", "<answer>B</answer>", "multiple choice", "acc_gated", {"overall": 2.0}),
        ("B", "<answer> (B) </answer>", "multiple choice", "acc_gated", {"accuracy": 1.0}),
        ("C", "B", "multiple choice", "mean", {"overall": 0.0, "format": 1.0}),
        ("B", "B", "multiple choice", "mean", {"overall": 1.0}),
        ("7", "10", "numerical", "mean", {"overall": 0.7}),
    ],
)
def test_reward_boundaries(answer, truth, qtype, variant, expected):
    text = _turns(BOX, LINE, format_answer_turn("Checked.", answer))
    got = compute_score(text, truth, qtype, variant=variant)
    assert got["format"] == 1.0 or expected.get("format") == 0.0
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize(
    ("replies", "why"),
    [
        ((OUTSIDE, format_answer_turn("Done.", "B")), "a box outside the image"),
        ((BOX, BOX, format_answer_turn("Done.", "B")), "the same box twice"),
        (
            (format_tool_turn("x", [BoxOp(3, (1, 1, 5, 5), "a")]), format_answer_turn("D.", "B")),
            "an index no image has",
        ),
    ],
)
def test_reward_checks_what_the_environment_checks(replies, why):
    # Build the text by hand: the environment would stop at the bad turn, a trainer need not.
    text = ""
    for i, reply in enumerate(replies):
        text += reply + "<|im_end|>"
        if i < len(replies) - 1:
            index = f"<image>\nThe index of the given image is {i + 2} (width: 100, height: 80)."
            text += f"\n<|im_start|>user\n{index}\nGo on.<|im_end|>\n<|im_start|>assistant\n"
    question = "<image>\nThe index of the given image is 1 (width: 100, height: 80).\nWhich?"
    full = f"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
    full += "<|im_start|>assistant\n" + text
    for form in (text, full):
        got = compute_score(form, "B")
        assert got["format"] == 0.0 and got["accuracy"] == 1.0, why


# --- prompt templates -----------------------------------------------------------------------

TEMPLATES = {
    "system.txt": "SYS {count} image(s), first {width}x{height}, {max_calls} calls.\n",
    "question_single_image.txt": "{images}\n\nQ: {question}\n{options}{suffix}  \n",
    "question_multi_image.txt": (
        "{count} views ({width}x{height} first):\n{images}\n{question}\n{options}{suffix}\n"
    ),
    "question_maze.txt": "Maze. {images}\n{question}\nThe index of the given image is 1.{suffix}\n",
    "image_line_question.txt": "<image>[{index}: {width} by {height}]\n",
    "image_line_env.txt": "<image>\nimage {index} ({width} x {height})\n",
    "suffix_multiple_choice.txt": " Letter only.\n",
    "env_continue.txt": "{count} new:\n{images}\nContinue your reasoning.\n",
    "env_final.txt": "{images}\nAnswer now.\n",
}


@pytest.fixture
def prompts(tmp_path):
    for name, text in TEMPLATES.items():
        (tmp_path / name).write_text(text)
    return Prompts(tmp_path)


def test_templates_reproduce_prompts_byte_for_byte(prompts):
    single = prompts.question("Where is the cup?", ["left", "right"], "multiple choice", [(56, 84)])
    assert (
        single == "<image>[1: 56 by 84]\n\nQ: Where is the cup?\nA. left\nB. right\n Letter only.  "
    )
    multi = prompts.question(
        "Which view?", ["A. one", "two"], "multiple choice", [(56, 28), (28, 56)], "multi_view"
    )
    assert multi == (
        "2 views (56x28 first):\n<image>[1: 56 by 28]\n<image>[2: 28 by 56]\nWhich view?\n"
        "A. one\nB. two\n Letter only."
    )
    maze = prompts.question("Which route?", ["up", "down"], "multiple choice", [(448, 448)], "maze")
    assert maze == (
        "Maze. <image>[1: 448 by 448]\nWhich route?\n"
        "The index of the given image is 1. Letter only."
    )
    assert prompts.system(56, 84, 10, 2) == "SYS 2 image(s), first 56x84, 10 calls."
    assert prompts.env_reply([(3, 56, 28), (4, 28, 56)], final=False) == (
        "2 new:\n<image>\nimage 3 (56 x 28)\n<image>\nimage 4 (28 x 56)\nContinue your reasoning."
    )
    assert prompts.env_reply([(2, 56, 84)], final=True) == "<image>\nimage 2 (56 x 84)\nAnswer now."
    # A numerical question has no suffix file here: the default one is used.
    numerical = prompts.question("How far?", [], "numerical", [(56, 84)])
    assert numerical.endswith("Q: How far?\n" + Prompts().templates["suffix_numerical.txt"] + "  ")


def test_the_reward_reads_sizes_through_a_custom_template_set(prompts, tmp_path):
    question = prompts.question("Which?", ["a", "b"], "multiple choice", [(100, 80)])
    env_turn = prompts.env_reply([(2, 100, 80)], final=False)
    text = (
        f"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
        f"<|im_start|>assistant\n{OUTSIDE}<|im_end|>\n<|im_start|>user\n{env_turn}<|im_end|>\n"
        f"<|im_start|>assistant\n{format_answer_turn('Done.', 'B')}<|im_end|>"
    )
    assert DrawingEnv([_blank()], EnvConfig(), prompts).step(OUTSIDE).termination == "bad_operation"
    assert compute_score(text, "B", prompts_dir=str(tmp_path))["format"] == 0.0
    # Read with another set's wording the sizes are unknown: only index and duplicates count.
    assert compute_score(text, "B", prompts_dir="")["format"] == 1.0
