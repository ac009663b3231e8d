"""The sharegpt exporter refuses records LLaMA-Factory would reject."""

import copy
import dataclasses

import pytest
from drawreason.schemas.sharegpt import (
    ExportError,
    dataset_info,
    image_path,
    to_sharegpt,
    validate_sharegpt,
)

from tests.factories import make_trajectory


def test_record_shape():
    traj = make_trajectory()
    record = to_sharegpt(traj)
    roles = [m["role"] for m in record["conversations"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert record["images"] == [image_path(k) for k in traj.image_keys]
    assert record["images"][0] == f"images/aa/{'a' * 64}.png"
    text = "".join(m["content"] for m in record["conversations"])
    assert text.count("<image>") == len(record["images"]) == 3


def _broken(mutate):
    record = to_sharegpt(make_trajectory())
    record = copy.deepcopy(record)
    mutate(record)
    return record


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["images"].pop(), "3 <image> placeholders but 2 images"),
        (lambda r: r["conversations"].pop(), "needs user/assistant pairs"),
        (lambda r: r["conversations"][2].update(content="see <image>"), "assistant content"),
        (lambda r: r["conversations"][3].update(role="assistant"), "expected 'user'"),
        (lambda r: r["conversations"][4].update(content="  "), "content is empty"),
        (lambda r: r["conversations"][4].update(content="<video> x"), "media token <video>"),
        (lambda r: r.update(images="x.png"), "field 'images'"),
    ],
)
def test_validation_names_the_problem(mutate, message):
    with pytest.raises(ExportError, match="record 'maze-00000001'") as err:
        validate_sharegpt(_broken(mutate))
    assert message in str(err.value)


def test_exporter_refuses_model_text_with_image_token():
    traj = make_trajectory()
    turns = list(traj.turns)
    turns[0] = dataclasses.replace(turns[0], raw=turns[0].raw + " <image>")
    with pytest.raises(ExportError, match="assistant content contains 1 <image>"):
        to_sharegpt(dataclasses.replace(traj, turns=tuple(turns)))


def test_dataset_info_entries():
    info = dataset_info([("cold_start_maze", "sft/cold_start/maze.jsonl")])
    entry = info["cold_start_maze"]
    assert entry["formatting"] == "sharegpt"
    assert entry["columns"] == {"messages": "conversations", "images": "images"}
    assert entry["tags"]["system_tag"] == "system"
