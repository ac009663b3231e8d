"""Versioned JSON round trip of the records."""

import json

import pytest
from drawreason.schemas.records import (
    ErrorRecord,
    QAItem,
    Rejection,
    SchemaError,
    rejection_from_dict,
    to_dict,
    to_json,
    trajectory_from_dict,
)

from tests.factories import make_trajectory


def test_trajectory_round_trip():
    traj = make_trajectory()
    back = trajectory_from_dict(json.loads(to_json(traj)))
    assert back == traj
    assert to_json(back) == to_json(traj)
    assert back.image_keys == traj.item.images + tuple(r.key for r in traj.rendered)


def test_rejection_round_trip_keeps_trajectory():
    rej = Rejection("maze-1", "cold_start", "maze", "wrong_answer", "answered 3", make_trajectory())
    assert rejection_from_dict(json.loads(to_json(rej))) == rej
    bare = Rejection("maze-2", "cold_start", "maze", "no_action", "nothing")
    assert rejection_from_dict(to_dict(bare)) == bare


def test_error_record_is_plain_json():
    err = ErrorRecord("maze-3", "cold_start", "generate", "ValueError", "boom")
    assert json.loads(to_json(err))["error_type"] == "ValueError"


def test_bad_records_name_the_field():
    data = to_dict(make_trajectory())
    data["turns"][1]["operations"][0]["tool"] = "Laser"
    with pytest.raises(SchemaError, match="turn 1 op 0: field 'tool'"):
        trajectory_from_dict(data)
    data = to_dict(make_trajectory())
    data["schema_version"] = 99
    with pytest.raises(SchemaError, match="schema_version 99"):
        trajectory_from_dict(data)
    with pytest.raises(SchemaError, match="question_type"):
        QAItem(id="x", images=("a",), question="q", question_type="essay", answer="a")
    with pytest.raises(SchemaError, match="unknown field"):
        trajectory_from_dict({**to_dict(make_trajectory()), "colour": "red"})
