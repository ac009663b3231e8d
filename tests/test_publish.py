"""push_to_hub: a small run pushed to a loopback Hub (tests/hub_server.py) with the real
`datasets`/`huggingface_hub` clients, loaded back with `datasets.load_dataset`, pushed again
(idempotent), and its dataset card checked.

The clients run in subprocesses: huggingface_hub reads HF_ENDPOINT, HF_HOME and
HF_HUB_DISABLE_XET when it is imported, so a fresh interpreter is the reliable way to point it
at the loopback server. HF_HUB_DISABLE_XET=1 because the server has no Xet storage and
huggingface_hub picks Xet on the client side whenever hf_xet is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from drawreason.publish.card import (
    REQUIRED_KEYS,
    SourceInfo,
    build_card,
    card_body,
    card_metadata,
    collect_sources,
    license_metadata,
    metadata_errors,
)
from drawreason.publish.dataset import read_run, split_sources

from tests.hub_server import HubServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_loopbackTestToken_7f3a9c"  # recognisable, so a leak is easy to spot
REPO = "drawreason-test/demo"

PUSH = """
import json, logging, sys
logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
from drawreason.publish.hub import PushConfig, run_push
result = run_push(PushConfig(repo_id=sys.argv[1], revision=sys.argv[3]), sys.argv[2])
print(result["summary"])
print("RESULT " + json.dumps(result))
"""

LOAD = """
import hashlib, json, sys
import datasets
repo, config, image_column = sys.argv[1], sys.argv[2], sys.argv[3]
dd = datasets.load_dataset(repo, config)
out = {}
for split, ds in dd.items():
    assert isinstance(ds.features[image_column].feature, datasets.Image), ds.features
    first = ds[0][image_column][0]  # decoded: a PIL image, as the Hub viewer shows it
    raw = ds.cast_column(image_column, datasets.List(datasets.Image(decode=False)))
    rows = []
    for row in raw:
        images = [hashlib.sha256(im["bytes"]).hexdigest() for im in row[image_column]]
        rest = {k: v for k, v in row.items() if k != image_column}
        rows.append({"images": images, **rest})
    out[split] = {"rows": rows, "first_size": list(first.size)}
print("LOADED " + json.dumps(out))
"""


def _env(hub: HubServer, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_ENDPOINT=hub.url,
        HF_TOKEN=TOKEN,
        HF_HUB_DISABLE_XET="1",
        HF_HOME=str(home / "hf"),
        HF_DATASETS_CACHE=str(home / "datasets"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def _python(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _tagged(proc: subprocess.CompletedProcess, tag: str) -> dict:
    line = next(line for line in proc.stdout.splitlines() if line.startswith(tag + " "))
    return json.loads(line[len(tag) + 1 :])


def _make_run(stage: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "run_pipeline.py", "--stage", stage, "--output", str(out)]
        + ["--num-samples", "6", "--direct_num_workers", "1"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    return {
        "cold_start": _make_run("cold_start_data", base / "cs"),
        "rl_data": _make_run("rl_data", base / "rl"),
    }


@pytest.fixture(scope="module")
def hub():
    server = HubServer(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pushed(runs, hub, tmp_path_factory) -> dict:
    """The cold-start run pushed once; the push subprocess and the repo state after it."""
    home = tmp_path_factory.mktemp("client")
    proc = _python(PUSH, [REPO, str(runs["cold_start"]), ""], _env(hub, home))
    return {"proc": proc, "home": home, "result": _tagged(proc, "RESULT")}


def _expected_sft(run: Path) -> dict[str, list[dict]]:
    out = {}
    for split in ("maze", "scenes"):
        rows = []
        for line in (run / "sft" / "cold_start" / f"{split}.jsonl").read_text().splitlines():
            record = json.loads(line)
            images = [hashlib.sha256((run / p).read_bytes()).hexdigest() for p in record["images"]]
            rows.append(
                {"images": images, "id": record["id"], "conversations": record["conversations"]}
            )
        out[split] = sorted(rows, key=lambda r: r["id"])
    return out


def test_push_then_load_back_equal(runs, hub, pushed):
    metrics = json.loads((runs["cold_start"] / "metrics.json").read_text())
    loaded = _tagged(
        _python(LOAD, [REPO, "cold_start", "images"], _env(hub, pushed["home"])), "LOADED"
    )
    expected = _expected_sft(runs["cold_start"])
    assert sorted(loaded) == sorted(expected)
    for split, rows in expected.items():
        got = loaded[split]["rows"]
        assert len(got) == metrics["subsets"][split]["kept"] == len(rows)
        assert got == rows  # same ids in id order, same conversations, byte-equal images
        assert loaded[split]["first_size"] == [448, 448]
    files = set(hub.head(hub.repo("dataset", REPO), "main").files)
    assert {"cold_start/maze-00000-of-00001.parquet", "README.md"} <= files
    kept = {split: entry["kept"] for split, entry in metrics["subsets"].items()}
    assert pushed["result"]["rows"] == kept


def test_token_sent_but_never_logged(hub, pushed):
    proc = pushed["proc"]
    assert TOKEN not in proc.stdout
    assert TOKEN not in proc.stderr
    assert TOKEN not in json.dumps(pushed["result"])
    assert f"Bearer {TOKEN}" in hub.authorizations
    assert all(auth == f"Bearer {TOKEN}" for auth in hub.authorizations)


def test_repush_is_idempotent(runs, hub, pushed):
    repo = hub.repo("dataset", REPO)
    before_head = repo.branches["main"]
    before_commits = len(repo.commits)
    before_files = dict(hub.head(repo, "main").files)
    proc = _python(PUSH, [REPO, str(runs["cold_start"]), ""], _env(hub, pushed["home"]))
    result = _tagged(proc, "RESULT")
    assert result["changed"] is False
    assert "unchanged" in result["summary"]
    assert repo.branches["main"] == before_head
    assert len(repo.commits) == before_commits
    assert hub.head(repo, "main").files == before_files


def test_card_metadata_and_content(runs, hub, pushed):
    from huggingface_hub import DatasetCard, DatasetCardData

    readme = hub.read("dataset", REPO, "README.md").decode()
    assert metadata_errors(readme, REQUIRED_KEYS) == []
    card = DatasetCard(readme)
    data = card.data.to_dict()
    assert DatasetCardData(**data).to_dict() == data
    assert data["license"] == "apache-2.0"  # generated data only
    assert data["task_categories"] == ["image-text-to-text", "visual-question-answering"]
    assert data["size_categories"] == ["n<1K"]
    config = next(c for c in data["configs"] if c["config_name"] == "cold_start")
    assert {f["split"] for f in config["data_files"]} == {"maze", "scenes"}
    metrics = json.loads((runs["cold_start"] / "metrics.json").read_text())
    kept = {split: entry["kept"] for split, entry in metrics["subsets"].items()}
    info = data["dataset_info"]
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == kept
    body = card.text
    for text in (
        "LLaMA-Factory",
        '"hf_hub_url": "drawreason-test/demo"',
        f"| `maze` | `maze` | {kept['maze']} | {kept['maze']} | 0 | 0 |",
        "## Rejections",
        "Path Tracer / row",
        "reflective",
        "config hash",
        json.loads((runs["cold_start"] / "config.json").read_text())["code_version"],
        "## Sources and licences",
        "`generated:maze`",
        "## Decontamination",
    ):
        assert text in body, text
    assert "Non-commercial" not in body


def test_rl_config_pushed_beside_and_loaded_back(runs, hub, pushed):
    run = runs["rl_data"]
    proc = _python(PUSH, [REPO, str(run), ""], _env(hub, pushed["home"]))
    assert TOKEN not in proc.stdout + proc.stderr
    loaded = _tagged(
        _python(LOAD, [REPO, "rl_data", "images"], _env(hub, pushed["home"])), "LOADED"
    )
    for split in ("maze", "scenes"):
        lines = (run / "rl" / f"{split}.jsonl").read_text().splitlines()
        records = sorted((json.loads(line) for line in lines), key=lambda r: r["id"])
        got = loaded[split]["rows"]
        assert [r["id"] for r in got] == [r["id"] for r in records]
        for row, record in zip(got, records, strict=True):
            assert row["images"] == [
                hashlib.sha256((run / "rl" / p).read_bytes()).hexdigest()
                for p in record["images"]  # relative to the JSONL's folder
            ]
            assert row["answer"] == record["answer"]
            assert row["image_path"] == record["image_path"]
    readme = hub.read("dataset", REPO, "README.md").decode()
    assert metadata_errors(readme, REQUIRED_KEYS) == []
    from huggingface_hub import DatasetCard

    card = DatasetCard(readme)
    assert {c["config_name"] for c in card.data.configs} == {"cold_start", "rl_data"}
    assert "trainer/reward.py:compute_score" in card.text
    assert "`cold_start`" in card.text  # listed among the other configs


def test_push_to_branch(runs, hub, pushed):
    proc = _python(
        PUSH, ["drawreason-test/branchy", str(runs["cold_start"]), "v1"], _env(hub, pushed["home"])
    )
    result = _tagged(proc, "RESULT")
    repo = hub.repo("dataset", "drawreason-test/branchy")
    assert result["revision"] == "v1"
    assert "cold_start/maze-00000-of-00001.parquet" in hub.head(repo, "v1").files
    assert set(hub.head(repo, "main").files) == {".gitattributes"}


def test_non_commercial_source_is_flagged(runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(runs["cold_start"], run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["config"]["inputs"] = [
        {"kind": "generic", "path": "/data/vqa_nc.jsonl", "name": "vqa", "license": "cc-by-nc-4.0"}
    ]
    (run_dir / "config.json").write_text(json.dumps(config))
    # A rejected trajectory of another real source carries its item's licence.
    rejected = run_dir / "rejected" / "cold_start"
    rejected.mkdir(parents=True, exist_ok=True)
    item = {
        "id": "x1",
        "question": "q",
        "source": "spar:/data/spar",
        "license": "cc-by-4.0",
        "images": ["a.png"],
    }
    (rejected / "spar.jsonl").write_text(
        json.dumps({"reason": "wrong", "trajectory": {"item": item}}) + "\n"
    )
    run = read_run(str(run_dir))
    sources = collect_sources(run, ["maze", "scenes", "vqa", "spar"])
    by_subset = {s.subset: s for s in sources}
    assert by_subset["maze"] == SourceInfo("maze", "generated:maze", "apache-2.0")
    assert by_subset["vqa"].license == "cc-by-nc-4.0" and by_subset["vqa"].non_commercial
    assert by_subset["spar"].license == "cc-by-4.0" and not by_subset["spar"].non_commercial
    meta = license_metadata(sources)
    assert meta["license"] == "other" and "cc-by-nc-4.0" in meta["license_name"]
    splits = split_sources(run)
    body = card_body(run, REPO, splits, sources, {})
    assert "> **Non-commercial data.**" in body.split("## Subsets")[0]  # before everything
    assert "`vqa` (generic:/data/vqa_nc.jsonl, cc-by-nc-4.0)" in body
    assert "**no (non-commercial)**" in body
    card = build_card(card_metadata({}, run, sources, 12), body)
    assert metadata_errors(str(card)) == []


def test_invalid_metadata_is_rejected():
    good = "---\nlicense: apache-2.0\ntask_categories:\n- image-text-to-text\n---\n# x\n"
    assert metadata_errors(good) == []
    assert metadata_errors(good, REQUIRED_KEYS)  # no configs, no size category
    for bad in (
        "---\nlicense: apache-2.1\n---\n",
        "---\nlicense: other\n---\n",
        "---\nsize_categories:\n- tiny\n---\n",
        "---\ntask_categories:\n- drawing\n---\n",
        "---\nconfigs:\n- config_name: a\n  data_files: 3\n---\n",
        "---\nlicense: [unclosed\n---\n",
        "# no metadata\n",
    ):
        assert metadata_errors(bad), bad


def test_missing_token_is_a_clear_error(runs, monkeypatch):
    import huggingface_hub
    from drawreason.publish.hub import PushConfig, PushError, run_push

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PushError, match="HF_TOKEN"):
        run_push(PushConfig(repo_id=REPO), str(runs["cold_start"]))
    with pytest.raises(ValueError, match="ORG/NAME"):
        PushConfig(repo_id="no-namespace")
