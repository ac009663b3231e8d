"""TeacherConfig: the deprecated batch_size, the structured-outputs hook and what it builds."""

import logging

import pytest
from drawreason.teachers.factory import (
    BATCH_SIZE_DEPRECATED,
    TeacherConfig,
    build_teacher,
    load_structured_outputs,
)
from drawreason.teachers.openai_backend import OpenAITeacher


def regex_hook(messages):
    return {"regex": "[a-z]+"}


NOT_CALLABLE = 3


def test_batch_size_is_deprecated_with_a_message_saying_what_to_use(caplog):
    with caplog.at_level(logging.WARNING, logger="drawreason.teachers.factory"):
        TeacherConfig()
    assert caplog.records == []  # unset: nothing said
    with caplog.at_level(logging.WARNING, logger="drawreason.teachers.factory"):
        TeacherConfig(kind="vllm", model="m", batch_size=64)
    assert [r.getMessage() for r in caplog.records] == [BATCH_SIZE_DEPRECATED]
    assert "max_in_flight" in BATCH_SIZE_DEPRECATED and "max_num_seqs" in BATCH_SIZE_DEPRECATED
    with pytest.raises(ValueError, match="batch_size must be >= 0"):
        TeacherConfig(batch_size=-1)


def test_structured_outputs_hook_is_module_colon_function():
    with pytest.raises(ValueError, match="module:function"):
        TeacherConfig(structured_outputs="tests.test_teacher_config.regex_hook")
    assert load_structured_outputs("") is None
    assert load_structured_outputs("tests.test_teacher_config:regex_hook") is regex_hook
    with pytest.raises(ValueError, match="no_such_hook"):
        load_structured_outputs("tests.test_teacher_config:no_such_hook")
    with pytest.raises(ValueError, match="No module named"):
        load_structured_outputs("tests.no_such_module:regex_hook")
    with pytest.raises(ValueError, match="not callable"):
        load_structured_outputs("tests.test_teacher_config:NOT_CALLABLE")


def test_build_teacher_hands_the_hook_to_the_openai_teacher():
    config = TeacherConfig(
        kind="openai",
        model="m",
        endpoint="http://127.0.0.1:9/v1",
        structured_outputs="tests.test_teacher_config:regex_hook",
    )
    teacher = build_teacher(config)
    assert isinstance(teacher, OpenAITeacher) and teacher.structured_outputs is regex_hook
