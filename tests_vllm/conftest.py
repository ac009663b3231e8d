"""A real vLLM engine on CPU for the teacher tests: one tiny random Qwen2-VL per session, served
in process (VLLMTeacher) and by vLLM's OpenAI-compatible server (for OpenAITeacher).

Run only as `.venv-vllm/bin/python -m pytest tests_vllm` (build it: scripts/setup_vllm.sh).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports vllm or transformers: no model hub, no telemetry, a 1 GiB KV cache.
RUNTIME_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
os.environ.update(RUNTIME_ENV)

try:
    import vllm  # noqa: F401
except ModuleNotFoundError:
    pytest.exit(
        "tests_vllm needs vllm: run `.venv-vllm/bin/python -m pytest tests_vllm` "
        "after scripts/setup_vllm.sh",
        returncode=4,
    )

from drawreason.teachers.vllm_backend import VLLMTeacher  # noqa: E402

from tests_vllm.forced import forced_actions  # noqa: E402
from tests_vllm.rollouts import SERVED_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_MODEL_LEN = 4096  # the system prompt alone is ~800 tokens with the tiny tokenizer
MAX_IMAGES = 8  # a 3-view item reaches 7 images in three turns
SERVER_START_TIMEOUT_S = 600.0  # a loaded 2-core machine needed over 300 s
# vLLM 0.32 on CPU kills the engine ("CPU Generator does not use offset") when a seeded request's
# prompt is prefilled in chunks; our requests are seeded, so prompts are prefilled whole.
NO_CHUNKED_PREFILL = {"enable_chunked_prefill": False, "max_num_batched_tokens": 2 * MAX_MODEL_LEN}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2-VL (tokenizer, processor, bf16 weights), built offline."""
    out = tmp_path_factory.mktemp("tiny-qwen2vl")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tiny_qwen2vl.py"), str(out), "--with-model"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def vllm_teacher(tiny_model: Path) -> Iterator[VLLMTeacher]:
    """The in-process teacher, loaded once; questions tagged `[forced]` get structured outputs
    (tests_vllm/forced.py), all others free gibberish."""
    teacher = VLLMTeacher(
        str(tiny_model),
        dtype="bfloat16",
        max_model_len=MAX_MODEL_LEN,
        max_images_per_prompt=MAX_IMAGES,
        enforce_eager=True,
        engine_kwargs=NO_CHUNKED_PREFILL,
        structured_outputs=forced_actions,
    )
    teacher.load()
    yield teacher
    teacher.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="session")
def vllm_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (`.../v1`) of vLLM's OpenAI-compatible server on the tiny model; the model is
    served as SERVED_NAME. Fails with the server log if it exits or is not healthy in time."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(tiny_model),
        "--served-model-name",
        SERVED_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enforce-eager",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--limit-mm-per-prompt",
        f'{{"image": {MAX_IMAGES}}}',
        "--no-enable-chunked-prefill",
        "--max-num-batched-tokens",
        str(NO_CHUNKED_PREFILL["max_num_batched_tokens"]),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **RUNTIME_ENV}
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(f"http://127.0.0.1:{port}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                state = (
                    f"exited with {process.returncode}"
                    if process.poll() is not None
                    else (f"not healthy after {SERVER_START_TIMEOUT_S:.0f} s")
                )
                pytest.fail(f"vLLM server {state}; log tail:\n{tail}", pytrace=False)
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
