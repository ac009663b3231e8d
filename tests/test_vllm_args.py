"""VLLMTeacher's engine arguments (no vllm needed): the CPU default for chunked prefill."""

from drawreason.teachers.vllm_backend import VLLMTeacher


def test_cpu_turns_chunked_prefill_off_given_a_model_length():
    teacher = VLLMTeacher("m", max_model_len=4096, max_images_per_prompt=8)
    assert teacher.engine_args(cpu=True)["enable_chunked_prefill"] is False
    assert teacher.engine_args(cpu=True)["max_num_batched_tokens"] == 8192
    on_gpu = teacher.engine_args(cpu=False)
    assert "enable_chunked_prefill" not in on_gpu and on_gpu["limit_mm_per_prompt"] == {"image": 8}


def test_engine_kwargs_win():
    teacher = VLLMTeacher("m", max_model_len=4096, engine_kwargs={"enable_chunked_prefill": True})
    args = teacher.engine_args(cpu=True)
    assert args["enable_chunked_prefill"] is True and "max_num_batched_tokens" not in args


def test_cpu_without_a_model_length_leaves_it_to_vllm(caplog):
    args = VLLMTeacher("m").engine_args(cpu=True)
    assert "enable_chunked_prefill" not in args and "max_model_len" not in args
    assert "set teacher.max_model_len" in caplog.text
