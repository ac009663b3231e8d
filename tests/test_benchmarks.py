"""Every benchmark reader on a small fixture written in its documented format (docs/benchmarks.md),
malformed records included: an error naming the record and the field, never a crash."""

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from drawreason.inputs.adapters import InputRecordError
from drawreason.inputs.benchmarks import BenchmarkConfig, prepare_benchmark_record, read_benchmark
from drawreason.inputs.media import InputRejected, MediaConfig
from PIL import Image

from tests.realdata import write_video

MEDIA = MediaConfig(max_input_pixels=500_000)


def _png(shade: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 100, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _outcomes(config: BenchmarkConfig) -> dict[str, tuple[str, object]]:
    """Record position -> ("item", (sub-task, PreparedItem)) | ("error", message) |
    ("rejected", reason), for every record the reader yields."""
    out = {}
    for position, record in read_benchmark(config):
        try:
            out[position] = ("item", prepare_benchmark_record(config, MEDIA, position, record))
        except InputRejected as exc:
            out[position] = ("rejected", exc.reason)
        except InputRecordError as exc:
            out[position] = ("error", str(exc))
    return out


def _error(outcome: tuple[str, object], record: str, field: str) -> None:
    kind, message = outcome
    assert kind == "error", outcome
    assert f"record {record}" in message and f"'{field}'" in message, message


def test_vilasr_maze_eval_format(tmp_path: Path) -> None:
    (tmp_path / "maze").mkdir()
    (tmp_path / "maze/m1.png").write_bytes(_png(10, (112, 112)))
    records = [
        {"id": "m1", "question": "Which moves reach the goal?", "problem_type": "multiple choice",
         "options": ["A. up 1", "B. right 2"], "image_path": "maze/m1.png",
         "solution": "<answer>B</answer>", "grid_size": 3, "data_type": "maze"},
        {"id": "m2", "question": "How many moves?", "problem_type": "numerical",
         "image_path": "maze/m1.png", "solution": "<answer>5</answer>", "grid_size": 4},
        {"id": "m3", "question": "q", "problem_type": "numerical", "image_path": "maze/m1.png",
         "solution": "<answer>5</answer>", "grid_size": "3"},
        {"id": "m4", "question": "q", "problem_type": "numerical", "solution": "5"},
        {"id": "m5", "question": "Describe it.", "problem_type": "free-form",
         "image_path": "maze/m1.png", "solution": "a maze"},
    ]  # fmt: skip
    path = tmp_path / "maze_eval.json"
    path.write_text(json.dumps(records))
    out = _outcomes(BenchmarkConfig(format="vilasr_maze", path=str(path)))
    subtask, item = out[0][1]
    assert subtask == "grid_3" and item.item.answer == "B" and item.item.grid_size == 3
    assert item.item.options == ("A. up 1", "B. right 2") and item.images[0].size == (112, 112)
    assert out[1][1][0] == "grid_4" and out[1][1][1].item.question_type == "numerical"
    _error(out[2], "m3", "grid_size")
    _error(out[3], "m4", "image_path")
    assert out[4] == ("rejected", "free_form_question")


def test_vsi_bench_format_with_videos(tmp_path: Path) -> None:
    write_video(tmp_path / "scannet/scene0001.mp4", frames=20)
    rows = [
        {"id": 1, "dataset": "scannet", "scene_name": "scene0001",
         "question_type": "object_counting", "question": "How many chairs are there?",
         "options": None, "ground_truth": "4"},
        {"id": 2, "dataset": "scannet", "scene_name": "scene0001",
         "question_type": "obj_appearance_order", "question": "Which appears first?",
         "options": ["A. chair, table", "B. table, chair"], "ground_truth": "B"},
        {"id": 3, "dataset": "scannet", "question_type": "object_counting",
         "question": "How many?", "options": None, "ground_truth": "2"},
        {"id": 4, "dataset": "scannet", "scene_name": "scene0001",
         "question_type": "route_planning", "question": "Which turn?",
         "options": ["A. left", "B. right"], "ground_truth": "backwards"},
        {"id": 5, "dataset": "scannet", "scene_name": "scene0404",
         "question_type": "object_counting", "question": "How many?", "options": None,
         "ground_truth": "2"},
    ]  # fmt: skip
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    out = _outcomes(BenchmarkConfig(format="vsi_bench", path=str(path)))
    subtask, item = out[0][1]
    assert subtask == "object_counting" and item.item.question_type == "numerical"
    assert len(item.images) == MEDIA.video_frames and item.item.answer == "4"
    subtask, item = out[1][1]
    assert subtask == "obj_appearance_order" and item.item.question_type == "multiple choice"
    assert item.item.answer == "B"
    _error(out[2], "3", "scene_name")
    _error(out[3], "4", "ground_truth")
    assert out[4][0] == "rejected"  # the video is not there: unusable media, not a crash


def test_spar_bench_format_with_embedded_views(tmp_path: Path) -> None:
    views = [{"bytes": _png(20), "path": None}, {"bytes": _png(90), "path": None}]
    rows = [
        {"id": "s1", "image": views, "task": "obj_spatial_relation_oo", "format_type": "select",
         "question": "Is the cup left of the plate?\nA. yes\nB. no", "answer": "A",
         "img_type": "multi-view"},
        {"id": "s2", "image": views[:1], "task": "depth_prediction_oc", "format_type": "fill",
         "question": "How far is the cup, in meters?", "answer": "2.5", "img_type": "single"},
        {"id": "s3", "image": views, "task": "view_change_infer", "format_type": "select",
         "question": "Which way did the camera move?", "answer": "A"},
        {"id": "s4", "image": [], "task": "depth_prediction_oc", "format_type": "fill",
         "question": "How far?", "answer": "1"},
    ]  # fmt: skip
    path = tmp_path / "spar_bench.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    out = _outcomes(BenchmarkConfig(format="spar_bench", path=str(path), name="spar"))
    subtask, item = out[0][1]
    assert subtask == "obj_spatial_relation_oo" and len(item.images) == 2
    assert item.item.options == ("A. yes", "B. no") and item.item.data_type == "multi_view"
    assert item.subset == "spar"
    subtask, item = out[1][1]
    assert subtask == "depth_prediction_oc" and item.item.question_type == "numerical"
    _error(out[2], "s3", "question")
    _error(out[3], "s4", "image")


def test_mmsi_bench_format(tmp_path: Path) -> None:
    rows = [
        {"id": 0, "images": [_png(1), _png(2)], "question_type": "Positional Relationship",
         "question": "Where is the lamp from the sofa? Options: A: left, B: right, C: behind",
         "answer": "C", "thought": "..."},
        {"id": 1, "images": [_png(3)], "question_type": "Motion",
         "question": "Which way?\nA. up\nB. down", "answer": "B", "thought": ""},
        {"id": 2, "images": [_png(3)], "question_type": "Motion",
         "question": "Which way?\nA. up\nB. down", "answer": "E", "thought": ""},
        {"id": 3, "images": None, "question_type": "Motion",
         "question": "Which way?\nA. up\nB. down", "answer": "A", "thought": ""},
        {"id": 4, "images": [_png(3)], "question_type": "Motion", "question": "Which way?",
         "answer": "A", "thought": ""},
    ]  # fmt: skip
    path = tmp_path / "MMSI_Bench.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    out = _outcomes(BenchmarkConfig(format="mmsi_bench", path=str(path)))
    subtask, item = out[0][1]
    assert subtask == "Positional Relationship" and item.item.answer == "C"
    assert item.item.options == ("A. left", "B. right", "C. behind")
    assert item.item.question == "Where is the lamp from the sofa?" and len(item.images) == 2
    assert out[1][1][1].item.answer == "B"
    _error(out[2], "2", "answer")
    _error(out[3], "3", "images")
    _error(out[4], "4", "question")


def test_spatial_eval_format(tmp_path: Path) -> None:
    rows = [
        {"id": "spatialmap.vqa.0", "image": {"bytes": _png(5), "path": None},
         "text": "How many objects are in the map?\nAvailable options: A. 1, B. 2, C. 3, D. 4.",
         "oracle_answer": "3", "oracle_option": "C", "oracle_full_answer": "C. 3"},
        {"id": "mazenav_vqa_1", "image": {"bytes": _png(6), "path": None},
         "text": "Is there a path?\nAvailable options: A. yes, B. no.", "oracle_answer": "yes",
         "oracle_option": "A", "oracle_full_answer": "A. yes"},
        {"id": "spatialgrid.vqa.2", "image": {"bytes": _png(7), "path": None},
         "text": "What is in row 2?\nAvailable options: A. cat, B. dog.", "oracle_answer": "dog",
         "oracle_full_answer": "B. dog"},
        {"id": "spatialreal.vqa.3", "image": {"bytes": b"not an image", "path": None},
         "text": "Left?\nAvailable options: A. yes, B. no.", "oracle_option": "A"},
    ]  # fmt: skip
    path = tmp_path / "vqa.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    out = _outcomes(BenchmarkConfig(format="spatial_eval", path=str(path)))
    subtask, item = out[0][1]
    assert subtask == "spatialmap" and item.item.answer == "C"
    assert item.item.options == ("A. 1", "B. 2", "C. 3", "D. 4")
    assert item.item.question == "How many objects are in the map?"
    assert out[1][1][0] == "mazenav"
    _error(out[2], "spatialgrid.vqa.2", "oracle_option")
    assert out[3][0] == "rejected"  # an image that does not decode


def test_unparsable_lines_are_errors_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('{"id": "x"}\n{oops\n[1, 2]\n')
    out = _outcomes(BenchmarkConfig(format="mmsi_bench", path=str(path)))
    _error(out[0], "x", "images")
    assert out[1][0] == "error" and "line 2: not valid JSON" in out[1][1]
    assert out[2][0] == "error" and "expected a JSON object" in out[2][1]


def test_benchmark_config_is_checked() -> None:
    with pytest.raises(ValueError, match="not one of"):
        BenchmarkConfig(format="nope", path="x.jsonl")
    with pytest.raises(ValueError, match="needs a path"):
        BenchmarkConfig(format="vsi_bench")
