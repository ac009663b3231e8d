"""Real-data input: format adapters, safe path resolution, decoding limits, video frames, resize."""

import json
import os
import subprocess

import datasets
import numpy as np
import pytest
from drawreason.inputs.adapters import InputRecordError, record_key, spacer, spar, vilasr
from drawreason.inputs.media import (
    InputRejected,
    MediaConfig,
    decode_limited,
    frame_indices,
    prepare_image,
    read_bytes,
    resolve_local,
    sample_frames,
    smart_resize,
)
from drawreason.inputs.prepare import prepare_record
from drawreason.inputs.sources import InputConfig, SourceError, parse_input, read_records
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.realdata import write_video

# --- adapters ----------------------------------------------------------------------------------


def test_vilasr_record():
    record = {
        "question": "How many moves?",
        "answer": 7,
        "image_path": "maze/0001.png",
        "question_type": "numerical",
        "data_type": "maze",
        "options": None,
        "grid_size": 5,
    }
    item = vilasr(record, "rl-000003")
    assert item.id == "rl-000003" and item.media == ("maze/0001.png",)
    assert (item.answer, item.question_type, item.grid_size, item.data_type) == (
        "7",
        "numerical",
        5,
        "maze",
    )


def test_spacer_video_record_strips_answer_tags():
    record = {
        "problem_id": 812,
        "problem": "Which object is closer to the door?",
        "problem_type": "multiple choice",
        "options": ["A. chair", "B. table"],
        "solution": "<answer>B</answer>",
        "path": "./scannet/scene0001_00.mp4",
        "data_type": "video",
        "data_source": "ScanNet",
    }
    item = spacer(record, "sr-000000")
    assert item.id == "812" and item.video and item.answer == "B"
    assert item.options == ("A. chair", "B. table")


def test_spacer_regression_is_numerical_and_ocr_is_rejected():
    base = {"problem": "q", "solution": "<answer>2.5</answer>", "path": "a.png"}
    assert spacer({**base, "problem_type": "regression"}, "r").question_type == "numerical"
    with pytest.raises(InputRejected) as info:
        spacer({**base, "problem_type": "OCR"}, "r")
    assert info.value.reason == "free_form_question"


def test_spar_multi_view_choices_from_question_lines():
    record = {
        "id": "spar_42",
        "image": ["views/1.jpg", "views/2.jpg", "views/3.jpg"],
        "conversations": [
            {
                "from": "human",
                "value": "<image>\n<image>\n<image>\nWhich view shows the sofa on the left?\n"
                "A. view 1\nB. view 2\nC. view 3",
            },
            {"from": "gpt", "value": "C. view 3"},
        ],
        "type": "view_change",
    }
    item = spar(record, "spar-000000")
    assert item.media == ("views/1.jpg", "views/2.jpg", "views/3.jpg")
    assert item.question == "Which view shows the sofa on the left?"
    assert item.options == ("A. view 1", "B. view 2", "C. view 3")
    assert (item.question_type, item.answer) == ("multiple choice", "C")


def test_spar_numeric_and_free_form():
    def record(answer):
        return {
            "image": "v.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nHow far?"},
                {"from": "gpt", "value": answer},
            ],
        }

    assert spar(record("1.75"), "s").question_type == "numerical"
    with pytest.raises(InputRejected, match="neither a choice nor a number"):
        spar(record("next to the bed"), "s")


def test_malformed_records_name_record_and_field():
    with pytest.raises(InputRecordError, match=r"record rl-7: field 'image_path' is missing"):
        vilasr({"question": "q", "answer": "1", "question_type": "numerical"}, "rl-7")
    with pytest.raises(InputRecordError, match=r"record x: field 'options' should be a list"):
        vilasr(
            {
                "question": "q",
                "answer": "A",
                "image_path": "a.png",
                "question_type": "multiple choice",
                "options": "A. B.",
                "id": "x",
            },
            "rl-8",
        )
    assert record_key("spacer", {"problem_id": 5}, "p") == "5"
    assert record_key("generic", "not a dict", "p") == "p"


# --- sources -----------------------------------------------------------------------------------


def test_parse_input_kinds():
    assert parse_input("vilasr:/d/rl.json") == InputConfig(kind="vilasr", path="/d/rl.json")
    assert parse_input("/d/qa.jsonl") == InputConfig(kind="generic", path="/d/qa.jsonl")
    gs = parse_input("spacer:gs://bucket/sr91k.jsonl")
    assert (gs.kind, gs.path, gs.root) == ("spacer", "gs://bucket/sr91k.jsonl", "gs://bucket")
    assert parse_input("gs://bucket/qa.jsonl").kind == "generic"
    assert InputConfig(path="/d/SR-91k.v2.jsonl").subset == "sr_91k"
    with pytest.raises(ValueError, match="input kind"):
        InputConfig(kind="csv", path="x")


def test_json_array_parquet_and_bad_lines(tmp_path):
    rows = [{"id": "a", "question": "q1"}, {"id": "b", "question": "q2"}]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    got = list(read_records(InputConfig(path=str(tmp_path / "rows.json"))))
    assert got == [(0, rows[0]), (1, rows[1])]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "rows.parquet"))
    got = list(read_records(InputConfig(path=str(tmp_path / "rows.parquet"), limit=1)))
    assert got == [(0, rows[0])]
    (tmp_path / "rows.jsonl").write_text('{"id": "a"}\n\n[1, 2]\n{bad\n')
    got = list(read_records(InputConfig(path=str(tmp_path / "rows.jsonl"))))
    assert got[0] == (0, {"id": "a"})
    assert got[1][0] == 1 and "expected a JSON object, got list" in got[1][1]
    assert got[2][0] == 2 and got[2][1].startswith("line 4: not valid JSON")
    with pytest.raises(SourceError, match="cannot open"):
        list(read_records(InputConfig(path=str(tmp_path / "none.jsonl"))))


def test_hf_dataset_with_image_column_and_column_mapping(tmp_path):
    image = Image.new("RGB", (50, 40), (10, 200, 30))
    features = datasets.Features(
        {
            "pics": datasets.List(datasets.Image()),
            "query": datasets.Value("string"),
            "label": datasets.Value("string"),
            "kind": datasets.Value("string"),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"pics": [[image]], "query": ["How many?"], "label": ["3"], "kind": ["numerical"]},
        features=features,
    )
    ds.save_to_disk(str(tmp_path / "saved"))
    config = InputConfig(
        kind="hf",
        path=str(tmp_path / "saved"),
        name="counting",
        columns={"images": "pics", "question": "query", "answer": "label", "question_type": "kind"},
    )
    prepared = prepare_record(config, MediaConfig(), *next(read_records(config)))
    assert prepared.subset == "counting" and prepared.item.id == "counting-000000"
    assert prepared.item.images == ("<column bytes #0>",)
    assert prepared.images[0].size == (84, 56)  # 50x40 scaled up to the 4*28*28 minimum
    assert prepared.images[0].getpixel((42, 28)) == pytest.approx((10, 200, 30), abs=3)


# --- media -------------------------------------------------------------------------------------


def test_paths_stay_inside_the_dataset_root(tmp_path):
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    (root / "img/a.png").write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"s")
    os.symlink(tmp_path / "secret.png", root / "img/link.png")
    assert resolve_local(str(root), "img/a.png") == str(root / "img/a.png")
    for bad in (
        "../secret.png",
        "img/../../secret.png",
        str(tmp_path / "secret.png"),
        "img/link.png",
        "",
    ):
        with pytest.raises(InputRejected) as info:
            read_bytes(str(root), bad)
        assert info.value.reason == "unsafe_path", bad
    with pytest.raises(InputRejected) as info:
        read_bytes(str(root), "img/none.png")
    assert info.value.reason == "media_missing"


def test_decode_limits_before_decoding():
    buffer = __import__("io").BytesIO()
    Image.new("RGB", (300, 200)).save(buffer, format="PNG")
    assert decode_limited(buffer.getvalue(), "x", 60_000).size == (300, 200)
    with pytest.raises(InputRejected) as info:
        decode_limited(buffer.getvalue(), "x", 59_999)
    assert info.value.reason == "image_too_large" and "300x200" in info.value.detail
    with pytest.raises(InputRejected) as info:
        decode_limited(b"GIF89a garbage", "x", 10**6)
    assert info.value.reason == "image_unreadable"


def test_frame_indices_are_even_and_cover_both_ends():
    assert frame_indices(30, 4) == [0, 10, 19, 29]
    assert frame_indices(5, 16) == [0, 1, 2, 3, 4]
    assert frame_indices(100, 1) == [0]


def test_video_frames_sampled_evenly_in_order(tmp_path):
    write_video(tmp_path / "v.mp4", frames=30)
    frames = sample_frames((tmp_path / "v.mp4").read_bytes(), "v", 4, 10**6)
    levels = [int(np.asarray(f).mean()) for f in frames]
    assert len(frames) == 4 and frames[0].size == (96, 64)
    # frame k is grey 8k; lossy mp4v keeps each level within a few units
    assert levels == pytest.approx([0, 80, 152, 232], abs=6)
    with pytest.raises(InputRejected) as info:
        sample_frames(b"not a video", "v", 4, 10**6)
    assert info.value.reason == "video_unreadable"


@given(st.integers(28, 4000), st.integers(28, 4000))
def test_smart_resize_invariants(height, width):
    config = MediaConfig()
    h, w = smart_resize(height, width, 28, config.min_pixels, config.max_pixels)
    assert h % 28 == 0 and w % 28 == 0
    assert config.min_pixels <= h * w <= config.max_pixels


def test_prepare_image_is_what_the_teacher_sees():
    image = Image.new("L", (1000, 500), 128)
    out = prepare_image(image, MediaConfig(max_pixels=200_000))
    assert out.mode == "RGB" and out.size == smart_resize(500, 1000, 28, 3136, 200_000)[::-1]
    assert prepare_image(image, MediaConfig(resize=False)).size == (1000, 500)


@pytest.mark.skipif(
    not os.environ.get("LLAMAFACTORY_PYTHON"),
    reason="needs the LLaMA-Factory venv (transformers); scripts/test.sh builds it",
)
def test_smart_resize_matches_transformers():
    sizes = [(h, w) for h in (28, 57, 480, 719, 1080, 3000) for w in (30, 640, 1920, 4033)]
    code = (
        "import json,sys\n"
        "from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize\n"
        "sizes=json.load(sys.stdin)\n"
        "print(json.dumps([smart_resize(h,w,28,3136,1003520) for h,w in sizes]))\n"
    )
    done = subprocess.run(
        [os.environ["LLAMAFACTORY_PYTHON"], "-c", code],
        input=json.dumps(sizes),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    theirs = [tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])]
    assert [smart_resize(h, w, 28, 3136, 1003520) for h, w in sizes] == theirs
