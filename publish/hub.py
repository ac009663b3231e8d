"""The push_to_hub stage: push a run directory to a Hugging Face Hub dataset repository.

Each stage of the run becomes a config (`cold_start`, `reflective`, `rl_data`) pushed with
`datasets.DatasetDict.push_to_hub` (Parquet shards under `<config>/`, images embedded), then
the generated dataset card is written as README.md. The Hub endpoint is huggingface_hub's
(`HF_ENDPOINT`); the token is huggingface_hub's (`HF_TOKEN`, or the one saved by
`hf auth login`) and is never logged or written anywhere.

Pushing the same run again is idempotent: the Parquet bytes are the same (rows sorted by id),
huggingface_hub leaves unchanged files out of a commit and makes no empty commit, and the card
is a fixed point of datasets' own card update.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drawreason.publish.card import (
    REQUIRED_KEYS,
    action_stats,
    build_card,
    card_body,
    card_metadata,
    collect_sources,
    metadata_errors,
)
from drawreason.publish.dataset import SFT_STAGES, PublishError, build_datasets

_LOG = logging.getLogger(__name__)

STAGE = "push_to_hub"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class PushError(PublishError):
    """The push cannot start (no token, bad repo id) or the card is invalid."""


@dataclass(frozen=True)
class PushConfig:
    """Where and how to push a run directory (`--output`).

    repo_id: the dataset repository, ORG/NAME (created if missing).
    private: create the repository private (an existing repository keeps its visibility).
    revision: the branch to push to (created from main if missing); empty: main.
    max_shard_size: largest Parquet shard datasets writes, e.g. "500MB".
    """

    repo_id: str = ""
    private: bool = False
    revision: str = ""
    max_shard_size: str = "500MB"

    def __post_init__(self) -> None:
        if not _REPO_ID.fullmatch(self.repo_id or ""):
            raise ValueError(f"push_to_hub needs --repo-id ORG/NAME, got {self.repo_id!r}")


def resolve_token() -> str:
    """huggingface_hub's token: $HF_TOKEN, else the one saved by `hf auth login`."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PushError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token)"
        )
    return token


def _existing_metadata(api: Any, repo_id: str, revision: str | None) -> dict[str, Any]:
    """The README metadata on the Hub now (what datasets.push_to_hub just wrote)."""
    from huggingface_hub import DatasetCard
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision)
    except EntryNotFoundError:
        return {}
    with open(path, encoding="utf-8") as f:
        return DatasetCard(f.read()).data.to_dict()


def run_push(
    config: PushConfig, output: str, beam_argv: Sequence[str] = (), overwrite: bool = False
) -> dict[str, Any]:
    """Push the run in `output` to `config.repo_id`; returns {"stage", "accounted", "summary"}.
    `beam_argv` and `overwrite` are not used (the stage runs no pipeline)."""
    del beam_argv, overwrite
    from huggingface_hub import HfApi

    token = resolve_token()
    api = HfApi(token=token)  # endpoint: huggingface_hub's, i.e. $HF_ENDPOINT or the Hub
    revision = config.revision or None
    with tempfile.TemporaryDirectory(prefix="drawreason-push-") as cache_dir:
        run, splits, dicts = build_datasets(output, cache_dir)
        repo = api.create_repo(
            config.repo_id, repo_type="dataset", private=config.private, exist_ok=True
        )
        repo_id = repo.repo_id
        if revision:
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        start = api.repo_info(repo_id, repo_type="dataset", revision=revision).sha
        for config_name, dataset_dict in dicts.items():
            _LOG.info("pushing %s (%s) to %s", config_name, ", ".join(dataset_dict), repo_id)
            dataset_dict.push_to_hub(
                repo_id,
                config_name=config_name,
                data_dir=config_name,
                private=config.private,
                token=token,
                revision=revision,
                max_shard_size=config.max_shard_size,
                commit_message=f"Upload {config_name} (drawreason config {run.config_hash})",
            )
        stats = {}
        if run.stage in SFT_STAGES:
            stats = action_stats(run, splits)
        rows = sum(len(ds) for dd in dicts.values() for ds in dd.values())
    existing = _existing_metadata(api, repo_id, revision)
    sources = collect_sources(run, [s.subset for s in splits])
    metadata = card_metadata(existing, run, sources, rows)
    others = sorted(
        c.get("config_name", "")
        for c in metadata.get("configs") or []
        if c.get("config_name") not in dicts
    )
    card = build_card(metadata, card_body(run, repo_id, splits, sources, stats, others))
    errors = metadata_errors(str(card), REQUIRED_KEYS)
    if errors:
        raise PushError("generated dataset card metadata is invalid: " + "; ".join(errors))
    api.upload_file(
        path_or_fileobj=str(card).encode("utf-8"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=f"Dataset card for {run.config_name} (drawreason config {run.config_hash})",
    )
    end = api.repo_info(repo_id, repo_type="dataset", revision=revision)
    branch = config.revision or "main"
    changed = end.sha != start
    url = f"{api.endpoint}/datasets/{repo_id}/tree/{branch}"
    nc = [s.subset for s in sources if s.non_commercial]
    lines = [
        f"pushed {run.config_name} from {output} to {repo_id} ({branch}): "
        + ", ".join(f"{s.split} {s.kept}" for s in splits)
        + f"; {rows} rows",
        (
            f"  commit {end.sha} {api.endpoint}/datasets/{repo_id}/commit/{end.sha}"
            if changed
            else f"  unchanged: the repository already held this run (commit {end.sha})"
        ),
        f"  browse: {url}",
    ]
    if nc:
        lines.append(f"  NOTE: non-commercial sources: {', '.join(nc)}")
    return {
        "stage": STAGE,
        "accounted": True,
        "summary": "\n".join(lines),
        "repo_id": repo_id,
        "revision": branch,
        "commit": end.sha,
        "changed": changed,
        "rows": {s.split: s.kept for s in splits},
    }
