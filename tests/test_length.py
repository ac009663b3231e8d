"""Length-aware export: the token estimate, too_long rejections, metrics and the report."""

from __future__ import annotations

import dataclasses
import json

import pytest
from drawreason.filters.length import (
    ESTIMATE,
    LengthCheck,
    LengthConfig,
    estimate_text_tokens,
    image_tokens,
    length_summary,
    load_tokenizer,
    percentile,
    record_length,
)
from drawreason.filters.rules import cold_start_filters
from drawreason.filters.scoring import score_trajectory
from drawreason.pipelines.accounting import CountOutcomesFn, WriteSummaryFn
from drawreason.pipelines.cold_start import ColdStartConfig
from drawreason.pipelines.io import unpack_line
from drawreason.pipelines.outcomes import (
    KEPT,
    REJECTED,
    build_metrics,
    file_lines,
    judge_trajectory,
    stat_keys,
)
from drawreason.pipelines.reflective import ReflectiveConfig
from drawreason.report import ReportConfig, run_report
from drawreason.schemas.metrics import TOKENS, StatKey
from drawreason.schemas.records import rejection_from_dict
from drawreason.schemas.sharegpt import to_sharegpt
from drawreason.trainer.handoff import llamafactory_sft

from tests.factories import make_trajectory

DEFAULT = LengthConfig()


def _scored(traj):
    return dataclasses.replace(traj, scores=score_trajectory(traj))


@pytest.mark.parametrize(
    "width, height, tokens",
    [
        (448, 448, 16 * 16 + 2),  # the generated images: already multiples of 28
        (96, 96, 3 * 3 + 2),  # 96 rounds to 84
        (600, 400, 21 * 14 + 2),  # 588 x 392
        (640, 480, 21 * 16 + 2),  # 307200 px: LLaMA-Factory scales to 591 x 443 -> 588 x 448
        (1024, 1024, 18 * 18 + 2),  # LLaMA-Factory first scales to 512 x 512 (262144 px)
        (20, 20, 2 * 2 + 2),  # up to min_pixels 56 x 56
    ],
)
def test_image_tokens_follow_the_qwen2vl_rule(width, height, tokens):
    assert image_tokens(width, height, DEFAULT) == tokens


def test_image_tokens_without_the_llamafactory_cap():
    config = LengthConfig(image_max_pixels=10**9, max_pixels=1280 * 28 * 28)
    assert image_tokens(1024, 1024, config) == 35 * 35 + 2  # 1036^2 > max_pixels: 980 x 980


def test_estimate_of_a_known_record():
    traj = make_trajectory()  # three 96 x 96 images, 7 messages
    record = to_sharegpt(traj)
    est = record_length(record, [(96, 96)] * 3, DEFAULT)
    text = sum(
        estimate_text_tokens(m["content"].replace("<image>", "")) for m in record["conversations"]
    )
    assert (est.image, est.images, est.template, est.text) == (33, 3, 35, text)
    assert est.total == 33 + 35 + text and est.method == ESTIMATE
    assert estimate_text_tokens("[10, 20]") == 4 + 2  # four digits, ceil(4 other bytes / 3.5)


def test_default_limit_is_the_handoff_cutoff():
    cutoff = llamafactory_sft("m", "d", ["x"], "o")["cutoff_len"]
    assert DEFAULT.max_tokens == cutoff
    assert ColdStartConfig().length.max_tokens == cutoff
    field = {f.name: f for f in dataclasses.fields(ReflectiveConfig)}["length"]
    assert field.default_factory().max_tokens == cutoff


def test_too_long_is_rejected_with_the_estimate_and_the_limit():
    traj = _scored(make_trajectory())
    record = to_sharegpt(traj)
    total = record_length(record, [(96, 96)] * 3, DEFAULT).total
    kept = judge_trajectory(traj, cold_start_filters(), "cold_start", (), LengthCheck(DEFAULT))
    assert kept.status == KEPT and kept.tokens == total
    assert StatKey(TOKENS, "maze", total) in stat_keys(kept)

    check = LengthCheck(LengthConfig(max_tokens=total - 1))
    out = judge_trajectory(traj, cold_start_filters(), "cold_start", (), check)
    assert out.status == REJECTED and out.reason == "too_long"
    rejection = rejection_from_dict(json.loads(out.line))
    assert rejection.trajectory is not None
    assert f"estimated {total} tokens" in rejection.detail
    assert f"> max_tokens {total - 1}" in rejection.detail

    at_limit = LengthCheck(LengthConfig(max_tokens=total))
    assert judge_trajectory(traj, cold_start_filters(), "c", (), at_limit).status == KEPT
    off = LengthCheck(LengthConfig(max_tokens=0))
    assert judge_trajectory(traj, cold_start_filters(), "c", (), off).status == KEPT


def test_a_wrong_answer_keeps_its_first_reason():
    traj = _scored(make_trajectory())
    wrong = dataclasses.replace(traj, scores={**traj.scores, "accuracy": 0.0})
    check = LengthCheck(LengthConfig(max_tokens=1))
    assert judge_trajectory(wrong, cold_start_filters(), "c", (), check).reason == "wrong_answer"


def test_metrics_summarise_token_lengths():
    counts = {
        StatKey(KEPT, "maze"): 4,
        StatKey(TOKENS, "maze", 100): 1,
        StatKey(TOKENS, "maze", 2000): 2,
        StatKey(TOKENS, "maze", 5000): 1,
        StatKey(REJECTED, "maze", "too_long"): 1,
    }
    metrics = build_metrics("cold_start", counts, {"maze": 5})
    assert metrics.accounted and metrics.rejected == {"too_long": 1}
    summary = metrics.subsets["maze"].token_length
    assert (summary.n, summary.min, summary.p50, summary.max) == (4, 100, 2000, 5000)
    assert summary.histogram == {"0": 1, "1024": 2, "4096": 1}
    assert metrics.token_length == summary
    assert percentile({1: 98, 50: 2}, 99) == 50 and percentile({}, 50) == 0
    assert length_summary({}) == {"n": 0}


def test_config_rejects_a_negative_limit():
    with pytest.raises(ValueError, match="max_tokens must be >= 0"):
        LengthConfig(max_tokens=-1)


def test_accounting_with_too_long(tmp_path):
    """Every input is kept, rejected or an error: a limit below every record rejects them all
    as too_long, and nothing is lost."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from drawreason.generators import registry
    from drawreason.pipelines.cold_start import build_pipeline

    from tests.factories import PROVENANCE
    from tests.scripted import OUTCOMES, ScriptedConfig, generate_scripted

    registry.register_generator(
        "scripted", registry.GeneratorSpec(ScriptedConfig, generate_scripted)
    )
    try:
        n = 2 * len(OUTCOMES)
        config = ColdStartConfig(
            num_samples=n, mix={"scripted": 1.0}, length=LengthConfig(max_tokens=10)
        )
        pipeline = TestPipeline(
            runner="FnApiRunner", options=beam.options.pipeline_options.PipelineOptions([])
        )
        build_pipeline(pipeline, config, str(tmp_path), PROVENANCE)
        pipeline.run().wait_until_finish()
    finally:
        registry.unregister_generator("scripted")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["input"] == n and metrics["kept"] == 0
    assert metrics["rejected"]["too_long"] == 2  # the two that every filter keeps
    lines = (tmp_path / "rejected/cold_start/scripted.jsonl").read_text().splitlines()
    too_long = [r for r in map(json.loads, lines) if r["reason"] == "too_long"]
    assert len(too_long) == 2 and all("> max_tokens 10" in r["detail"] for r in too_long)


def test_report_shows_the_token_lengths_the_stage_wrote(tmp_path):
    """The report shows metrics.json's token lengths, estimated by the stage with the run's own
    length config (here a larger min_pixels than the default), never re-estimated."""
    own = LengthConfig(min_pixels=200 * 200, max_pixels=400 * 400)
    trajs = [_scored(make_trajectory(f"maze-{i:08d}")) for i in range(3)]
    outcomes = [
        judge_trajectory(t, cold_start_filters(), "cold_start", (), LengthCheck(own)) for t in trajs
    ]
    fn = CountOutcomesFn()
    acc = fn.create_accumulator()
    for outcome in outcomes:
        acc = fn.add_input(acc, outcome)
    list(WriteSummaryFn(str(tmp_path), "cold_start").process(fn.extract_output(acc), {"maze": 3}))
    for outcome in outcomes:
        for relpath, (_, line) in file_lines(outcome):
            path = tmp_path / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(unpack_line(line) + "\n")
    run_report(ReportConfig(), str(tmp_path))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    record = to_sharegpt(trajs[0])
    total = record_length(record, [(96, 96)] * 3, own).total
    assert total != record_length(record, [(96, 96)] * 3, DEFAULT).total
    assert "Token length per kept SFT record" in html and 'id="p-tokens"' in html
    assert f"maze: n 3, mean {total}, p50 {total}, p90 {total}, p99 {total}" in html
    assert f"length.max_tokens {DEFAULT.max_tokens}" in html  # no config.json: the default


def test_tokenizer_counts_text_tokens(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "one": 1, "two": 2, "three": 3}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    try:
        count = load_tokenizer(str(tmp_path))
    except ValueError as exc:  # transformers installed but wants a full checkpoint folder
        pytest.skip(str(exc))
    assert count("one two three two") == 4
    record = {"conversations": [{"role": "user", "content": "<image>\none two"}]}
    est = LengthCheck(LengthConfig(), count).measure(record, [(448, 448)])[0]
    assert (est.text, est.image, est.template, est.method) == (2, 258, 5, "tokenizer")


def test_a_tokenizer_path_that_does_not_load(tmp_path):
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        try:
            import transformers  # noqa: F401
        except ImportError:
            with pytest.raises(ValueError, match="needs `transformers` or `tokenizers`"):
                load_tokenizer(str(tmp_path))
            return
    with pytest.raises(ValueError, match="does not load"):
        load_tokenizer(str(tmp_path / "missing"))
