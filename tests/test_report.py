"""The report stage: statistics, sampling, escaping, and the page in a real headless browser."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from drawreason.generators.diversity import Balance, TraceStats
from drawreason.report import ReportConfig, run_report
from drawreason.report.browser import find_chromium
from drawreason.report.data import BottomK, chi_square_p, scan_run
from drawreason.schemas.metrics import StageMetrics
from drawreason.schemas.records import Rejection, RenderedImage, Trajectory, to_json
from drawreason.schemas.sharegpt import to_sharegpt

from tests.factories import make_trajectory

ROOT = Path(__file__).resolve().parents[1]
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _mc_record(sid: str, answer: str, n_options: int = 4) -> Trajectory:
    """A kept trajectory of a multiple-choice question answered with `answer`: one Path Tracer
    turn on a 64x48 image, then the answer."""
    traj = make_trajectory(sid)
    item = dataclasses.replace(
        traj.item,
        question_type="multiple choice",
        options=tuple(f"route {i + 1}" for i in range(n_options)),
        answer="A",
    )
    first, _, last = traj.turns
    last = dataclasses.replace(
        last,
        raw=f"<think> sure </think> Action: Answer\n<answer> {answer} </answer>",
        answer=answer,
    )
    rendered = (RenderedImage(2, 1, "b" * 64 + ".png", 64, 48),)
    return dataclasses.replace(
        traj, item=item, turns=(first, last), rendered=rendered, input_sizes=((64, 48),)
    )


def _write_kept(root: Path, stage: str, trajectories: list[Trajectory]) -> None:
    """Kept trajectories as a stage writes them: the SFT lines and the full records."""
    subsets = sorted({t.subset for t in trajectories})
    for subset in subsets:
        mine = [t for t in trajectories if t.subset == subset]
        _write_jsonl(root / f"sft/{stage}/{subset}.jsonl", [to_sharegpt(t) for t in mine])
        _write_jsonl(root / f"trajectories/{stage}/{subset}.jsonl", [to_json(t) for t in mine])


def _write_jsonl(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _embedded_data(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1))


# --- statistics ------------------------------------------------------------------------------


def test_answer_letter_distribution_and_skew(tmp_path):
    # 30 answers all "B" out of 4 options: a skew the report must flag; 8 balanced elsewhere.
    skewed = [_mc_record(f"maze-{i:03d}", "B") for i in range(30)]
    balanced = [_mc_record(f"scenes-{i:03d}", "ABCD"[i % 4]) for i in range(8)]
    balanced.append(_mc_record("scenes-x", "(C)", n_options=3))
    balanced.append(_mc_record("scenes-y", "not a letter"))
    balanced = [dataclasses.replace(t, subset="scenes") for t in balanced]
    _write_kept(tmp_path, "cold_start", skewed + balanced)
    stats = scan_run(str(tmp_path), 5, 0).stats
    assert dict(stats.letters["maze"]) == {"B": 30}
    assert dict(stats.letters_expected["maze"]) == pytest.approx(
        {"A": 7.5, "B": 7.5, "C": 7.5, "D": 7.5}
    )
    assert dict(stats.letters["scenes"]) == {"A": 2, "B": 2, "C": 3, "D": 2}
    assert stats.letters_expected["scenes"]["A"] == pytest.approx(8 / 4 + 1 / 3)
    assert stats.letters_expected["scenes"]["D"] == pytest.approx(8 / 4)
    assert stats.mc_unparsed["scenes"] == 1
    assert dict(stats.turns["maze"]) == {2: 30}
    assert dict(stats.tool_calls["maze"]) == {1: 30}
    assert stats.sizes["input"]["64x48"] == 40 and stats.sizes["rendered"]["64x48"] == 40

    result = run_report(ReportConfig(), str(tmp_path), [], False)
    assert "skewed multiple-choice answer letters in maze" in result["summary"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Skewed: B is 100% of 30 answers" in html
    assert html.count("Skewed:") == 1  # scenes is not flagged


def test_chi_square_p():
    _, p_uniform = chi_square_p({"A": 25, "B": 25, "C": 25, "D": 25}, {k: 25 for k in "ABCD"})
    _, p_skew = chi_square_p({"A": 70, "B": 10, "C": 10, "D": 10}, {k: 25 for k in "ABCD"})
    assert p_uniform > 0.5 and p_skew < 1e-6
    assert chi_square_p({"E": 1}, {"A": 0.5, "B": 0.5})[1] == 0.0  # a letter with no option


# --- sampling --------------------------------------------------------------------------------


def test_bottom_k_keeps_the_smallest_ranks_in_any_order():
    items = [(r * 7919 % 1000, f"id{r}") for r in range(200)]
    forward, backward = BottomK(5), BottomK(5)
    for rank, key in items:
        forward.add(rank, key, key)
    for rank, key in reversed(items):
        backward.add(rank, key, key)
    expected = [k for _, k in sorted(items)[:5]]
    assert forward.items() == backward.items() == expected
    assert forward.total == 200


def test_sampling_is_bounded_per_group_and_stated(tmp_path):
    kept = [to_sharegpt(make_trajectory(f"maze-{i:05d}")) for i in range(50)]
    # One subset in parts: sft/<stage>/<subset>/<subset>-0000k-of-0000n.jsonl.
    _write_jsonl(tmp_path / "sft/cold_start/maze/maze-00000-of-00002.jsonl", kept[:30])
    _write_jsonl(tmp_path / "sft/cold_start/maze/maze-00001-of-00002.jsonl", kept[30:])
    rejected = [
        to_json(Rejection(f"maze-r{i}", "cold_start", "maze", "wrong_answer", "no", None))
        for i in range(7)
    ] + [to_json(Rejection("maze-t", "cold_start", "maze", "too_few_turns", "2", None))]
    _write_jsonl(tmp_path / "rejected/cold_start/maze.jsonl", rejected)

    result = run_report(ReportConfig(max_per_group=4, seed=3), str(tmp_path), [], False)
    assert (result["shown"], result["total"]) == (4 + 4 + 1, 58)
    assert "9 trajectories shown of 58" in result["summary"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "The viewer shows 9 of 58 trajectories: at most 4 per" in html
    assert "2 group(s) were sampled" in html
    data = _embedded_data(html)
    groups = {(g["status"], g["reason"]): (g["shown"], g["total"]) for g in data["groups"]}
    assert groups == {
        ("kept", ""): (4, 50),
        ("rejected", "wrong_answer"): (4, 7),
        ("rejected", "too_few_turns"): (1, 1),
    }
    ids = [e["id"] for e in data["entries"]]
    assert len(set(ids)) == 9
    # The same seed picks the same ids, another seed other ones; the plots count everything.
    again = _embedded_data(
        run_report(ReportConfig(max_per_group=4, seed=3), str(tmp_path))
        and (tmp_path / "report.html").read_text(encoding="utf-8")
    )
    assert [e["id"] for e in again["entries"]] == ids
    run_report(ReportConfig(max_per_group=4, seed=4), str(tmp_path))
    other = _embedded_data((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert [e["id"] for e in other["entries"]] != ids
    assert scan_run(str(tmp_path), 4, 3).stats.kept["maze"] == 50


def test_kept_turns_carry_the_images_they_rendered(tmp_path):
    _write_kept(tmp_path, "s", [make_trajectory("maze-1")])
    scan = scan_run(str(tmp_path), 5, 0)
    (entry,) = scan.entries()
    assert (entry["status"], entry["gold"], scan.stats.kept["maze"]) == ("kept", "2", 1)
    assert [i["src"] for i in entry["inputs"]] == ["images/aa/" + "a" * 64 + ".png"]
    assert [[i["src"] for i in s["images"]] for s in entry["steps"]] == [
        ["images/bb/" + "b" * 64 + ".png"],
        ["images/cc/" + "c" * 64 + ".png"],
        [],
    ]
    assert entry["steps"][0]["action"] == "Path Tracer"
    assert entry["steps"][2]["answer"] == "2"
    assert entry["steps"][0]["images"][0]["w"] == 96


def test_kept_records_without_a_full_record_are_counted_not_parsed(tmp_path):
    """A run written before every kept record kept its full record: its SFT lines are counted
    and shown, image sizes unknown, and left out of the figures made from record facts."""
    _write_jsonl(tmp_path / "sft/s/maze.jsonl", [to_sharegpt(make_trajectory("maze-1"))])
    scan = scan_run(str(tmp_path), 5, 0)
    (entry,) = scan.entries()
    assert entry["steps"][0]["action"] == "Path Tracer"  # the protocol's parser, not a regex
    assert entry["steps"][0]["images"][0]["w"] is None
    assert scan.stats.kept["maze"] == scan.stats.without_record["maze"] == 1
    assert not scan.stats.turns and not scan.stats.sizes


def test_model_text_cannot_inject_markup(tmp_path):
    traj = make_trajectory("maze-evil")
    turns = list(traj.turns)
    raw = (
        f"<think> {EVIL} </think> Action: Path Tracer</script><!--"
        + turns[0].raw.split("Action: Path Tracer", 1)[1]
    )
    turns[0] = dataclasses.replace(turns[0], raw=raw, think=EVIL)
    traj = dataclasses.replace(traj, turns=tuple(turns))
    _write_jsonl(tmp_path / "sft/cold_start/maze.jsonl", [to_sharegpt(traj)])
    rejection = Rejection("maze-evil2", "cold_start", "maze", "<b>bad</b>", EVIL, traj)
    _write_jsonl(tmp_path / "rejected/cold_start/maze.jsonl", [to_json(rejection)])
    run_report(ReportConfig(title="<i>t</i>"), str(tmp_path))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>window" not in html and "<img src=x" not in html and "<b>bad" not in html
    assert "<i>t</i>" not in html and "&lt;i&gt;t&lt;/i&gt;" in html
    # Only our own two script elements, and the data still round-trips exactly.
    assert html.count("<script") == 2 and html.count("</script>") == 2
    data = _embedded_data(html)
    steps = {e["id"]: e["steps"][0] for e in data["entries"]}
    assert steps["maze-evil"]["think"] == EVIL
    assert steps["maze-evil2"]["think"] == EVIL
    assert "<b>bad</b>" in data["reasons"]


def test_empty_run_dir_still_writes_a_page(tmp_path):
    result = run_report(ReportConfig(), str(tmp_path))
    assert result["accounted"] and "no sft/, rejected/ or rl/ records" in result["summary"]
    assert (tmp_path / "report.html").exists()


def test_rl_records_count_answer_letters(tmp_path):
    records = [
        {
            "id": f"q{i}",
            "problem": "<image>Q?",
            "images": ["images/aa/x.png"],
            "answer": "ABC"[i % 3],
            "question_type": "multiple choice",
            "options": ["l", "r", "u"],
        }
        for i in range(6)
    ] + [
        {
            "id": "n",
            "problem": "Q",
            "images": [],
            "answer": "3",
            "question_type": "numerical",
            "options": [],
        }
    ]
    _write_jsonl(tmp_path / "rl/maze.jsonl", records)
    scan = scan_run(str(tmp_path), 20, 0)
    assert dict(scan.stats.letters["maze"]) == {"A": 2, "B": 2, "C": 2}
    assert scan.stats.kept["maze"] == 7 and scan.shown == 7


# --- the page in a real browser --------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A real cold_start run, plus a hostile kept record and a rejection with its trajectory."""
    out = tmp_path_factory.mktemp("report_run")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_pipeline.py"),
            "--stage",
            "cold_start_data",
            "--num-samples",
            "16",
            "--output",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    kept = json.loads((out / "sft/cold_start/maze.jsonl").read_text().splitlines()[0])
    kept["id"] = "evil-00000001"
    kept["conversations"][2]["content"] = (
        "<think> "
        + EVIL
        + " </think>"
        + (kept["conversations"][2]["content"].split("</think>", 1)[1])
    )
    _write_jsonl(out / "sft/cold_start/evil.jsonl", [kept])
    keys = [p.name for p in sorted((out / "images").rglob("*.png"))[:3]]
    traj = make_trajectory("maze-rejected-1")
    traj = dataclasses.replace(
        traj,
        item=dataclasses.replace(traj.item, images=(keys[0],)),
        rendered=(RenderedImage(2, 1, keys[1], 448, 448), RenderedImage(3, 2, keys[2], 448, 448)),
    )
    bad = Rejection(traj.id, "cold_start", "maze", "too_few_turns", "3 turns", traj)
    (out / "rejected/cold_start").mkdir(parents=True, exist_ok=True)
    with open(out / "rejected/cold_start/maze.jsonl", "a", encoding="utf-8") as f:
        f.write(to_json(bad) + "\n")
    return out


def test_report_in_headless_chromium(real_run, tmp_path):
    browser, driver_path = find_chromium()
    if not browser or not driver_path:
        pytest.skip(
            "chromium/chromedriver not installed (apt-get install chromium "
            "chromium-driver; .ci/run installs them)"
        )
    from drawreason.report.browser import console_errors, open_browser, wait_ready
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    result = run_report(ReportConfig(max_per_group=6), str(real_run), [], False)
    driver = open_browser()
    try:
        driver.get((real_run / "report.html").as_uri())
        wait_ready(driver)
        assert console_errors(driver) == []

        charts = driver.find_elements(By.CSS_SELECTOR, "#plots svg.chart")
        assert len(charts) >= 6
        for chart in charts:
            assert chart.size["width"] > 0 and chart.size["height"] > 0
            bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
            assert any(bar.size["height"] > 0 for bar in bars), chart.get_attribute("id")
        ids = {c.get_attribute("id") for c in charts}
        assert {"p-subsets", "p-turns", "p-actions", "p-sizes"} <= ids
        assert any(i.startswith("p-letters-") for i in ids)

        def shown() -> tuple[str, str, str]:
            srcs = [
                i.get_attribute("src")
                for i in driver.find_elements(By.CSS_SELECTOR, "#step-images img")
            ]
            # Images load asynchronously after a step: wait (bounded) until every one has.
            script = (
                "return Array.from(document.querySelectorAll('#step-images img'))"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
            try:
                WebDriverWait(driver, 10).until(lambda d: d.execute_script(script))
            except TimeoutException:
                pytest.fail(f"step images did not load within 10 s: {srcs}")
            return (
                ",".join(srcs),
                driver.find_element(By.ID, "step-text").text,
                driver.find_element(By.ID, "step-label").text,
            )

        # Step through the first trajectory: each turn shows its own text and rendered image.
        first = driver.find_element(By.CSS_SELECTOR, "#traj-list li.selected").text
        start = shown()
        assert start[2].startswith("question (step 0 of")
        turns = int(re.search(r"of (\d+)", start[2]).group(1))
        driver.find_element(By.ID, "next").click()
        step1 = shown()
        assert step1[0] != start[0] and step1[1] != start[1] and step1[2] == f"turn 1 of {turns}"
        assert "THINK" in step1[1] and "ACTION" in step1[1]
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        step2 = shown()
        assert step2[2] == f"turn 2 of {turns}" and step2[1] != step1[1]
        for _ in range(turns):
            driver.find_element(By.ID, "next").click()
        assert driver.find_element(By.ID, "next").get_attribute("disabled")
        assert "ANSWER" in shown()[1]
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        assert shown()[2] == f"turn {turns - 1} of {turns}"

        # Filters: rejected only, then one reason; the list and the shown trajectory follow.
        Select(driver.find_element(By.ID, "f-status")).select_by_value("rejected")
        badges = driver.find_elements(By.CSS_SELECTOR, "#traj-list li .badge")
        assert badges and all("rejected" in b.get_attribute("class") for b in badges)
        Select(driver.find_element(By.ID, "f-reason")).select_by_value("too_few_turns")
        items = driver.find_elements(By.CSS_SELECTOR, "#traj-list li")
        assert [i.find_element(By.CSS_SELECTOR, ".id").text for i in items] == ["maze-rejected-1"]
        assert driver.find_element(By.ID, "traj-title").text == "maze-rejected-1"
        assert "too_few_turns: 3 turns" in shown()[1]
        driver.find_element(By.ID, "next").click()
        assert (
            "image 2 (448×448), drawn on image 1" in driver.find_element(By.ID, "step-images").text
        )
        Select(driver.find_element(By.ID, "f-status")).select_by_value("")
        Select(driver.find_element(By.ID, "f-reason")).select_by_value("")
        # Clearing the filters keeps the trajectory selected.
        selected = driver.find_element(By.CSS_SELECTOR, "#traj-list li.selected")
        assert selected.find_element(By.CSS_SELECTOR, ".id").text == "maze-rejected-1"

        # Hostile model text is shown as text and never runs.
        Select(driver.find_element(By.ID, "f-subset")).select_by_value("evil")
        driver.find_element(By.ID, "next").click()
        assert "<script>window.__pwned = 1</script>" in shown()[1]
        assert driver.execute_script("return window.__pwned === undefined")

        # The sampling statement is on the page.
        note = driver.find_element(By.ID, "sampling").text
        assert f"The viewer shows {result['shown']} of {result['total']} trajectories" in note
        assert console_errors(driver) == []
        Select(driver.find_element(By.ID, "f-subset")).select_by_value("")
        assert first  # the list was populated at load
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_trace_figures_from_metrics_flag_a_skewed_family(tmp_path):
    """metrics.json `traces` (generators/diversity.py) shown as a diversity table and one
    answer-value chart per subset; a skewed family is flagged in the page and the summary."""
    stats = TraceStats()
    stats.turns["scenes"] = 40
    stats.patterns["scenes"] = Counter({"I box the X.": 30, "Y.": 10})
    balance = stats.balance.setdefault("scenes", Balance())
    for i in range(60):
        balance.add("direction", "A" if i < 45 else "ABCD"[i % 4], ["A", "B", "C", "D"])
        balance.add("closest", "ABC"[i % 3], ["A", "B", "C"])
    (tmp_path / "metrics.json").write_text(
        json.dumps(StageMetrics(stage="cold_start", traces=stats.summary()).to_json())
    )
    result = run_report(ReportConfig(), str(tmp_path))
    assert "skewed answer values in scenes/direction" in result["summary"]
    assert "closest" not in result["summary"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Trace diversity" in html and "Answer values per family · scenes" in html
    assert "<td>scenes</td><td>40</td><td>40</td><td>2</td><td>50.0</td><td>100.0%</td>" in html
    assert html.count("Skewed answers: direction (p = ") == 1


# --- grounding against the oracle ------------------------------------------------------------

MAZE_PLAN = ("good", "wall", "partial", "good")
SCENE_PLAN = ("good", "wrong_box", "fixed", "cosmetic")


@pytest.fixture(scope="module")
def grounded_run(tmp_path_factory) -> Path:
    """A real cold_start run whose mazes and scenes a scripted OpenAI-compatible teacher on
    loopback rolls out (teacher_subsets): grounded trajectories, a line through a wall, a maze
    route left unfinished, a wrong box, a wrong box then fixed, a cosmetic redraw."""
    from drawreason.generators.maze import MazeConfig
    from drawreason.generators.scenes import SceneConfig
    from drawreason.pipelines.cold_start import ColdStartConfig
    from drawreason.pipelines.stage import allocate

    import run_pipeline
    from tests.grounded_teacher import GroundedTeacher, generated_questions
    from tests.scripted_server import ScriptedServer

    base = tmp_path_factory.mktemp("grounded_run")
    scenes = {"question_mix": [["closest", 1.0]], "reflective_share": 0.0}
    config = {"mix": {"maze": 0.5, "scenes": 0.5}, "teacher_subsets": ["maze", "scenes"]}
    (base / "c.json").write_text(json.dumps({**config, "scenes": scenes}))
    stage = ColdStartConfig(
        mix=config["mix"],
        generators={"scenes": SceneConfig(question_mix=(("closest", 1.0),), reflective_share=0.0)},
    )
    configs = {"maze": MazeConfig(), "scenes": stage.generators["scenes"]}
    questions = generated_questions(allocate(8, stage.mix), 0, "cold_start", configs)

    def plan(question) -> str:
        index = int(question.item.id.rsplit("-", 1)[1])
        return (MAZE_PLAN if question.item.id.startswith("maze") else SCENE_PLAN)[index % 4]

    out = base / "out"
    with ScriptedServer(GroundedTeacher(questions, plan)) as server:
        argv = ["--stage", "cold_start_data", "--output", str(out), "--num-samples", "8"]
        argv += ["--config", str(base / "c.json"), "--teacher", "openai"]
        argv += ["--teacher-endpoint", server.base_url, "--teacher-model", "scripted-vlm"]
        assert run_pipeline.main(argv) == 0
        assert not server.script_errors
    return out


def _bars(html: str, chart_id: str) -> dict[str, float]:
    """{tooltip label: value} of every bar of one chart of the page."""
    match = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, re.S)
    assert match, chart_id
    titles = re.findall(r'<rect class="bar"[^>]*><title>(.*?)</title></rect>', match.group(0))
    return {t.rsplit(": ", 1)[0]: float(t.rsplit(": ", 1)[1]) for t in titles}


def test_grounding_figures_of_a_teacher_run_on_generated_tasks(grounded_run):
    from drawreason.schemas.records import rejection_from_dict, trajectory_from_dict

    def lines(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    run_report(ReportConfig(), str(grounded_run))
    html = (grounded_run / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((grounded_run / "metrics.json").read_text())  # as written, untyped

    # Scores from the full records: every trajectory the stage grounded, in one bucket each.
    scores = _bars(html, "p-grounding-scores")
    for subset in ("maze", "scenes"):
        counted = metrics["subsets"][subset]["grounding"]["trajectories"]
        assert sum(v for k, v in scores.items() if k.endswith(f" · {subset}")) == counted == 4
    kept = [
        trajectory_from_dict(record)
        for subset in ("maze", "scenes")
        for record in lines(grounded_run / f"trajectories/cold_start/{subset}.jsonl")
    ]
    assert scores["1 (all) · maze"] == 3  # two good mazes and the unfinished (grounded) route
    fixed = [t for t in kept if t.grounding.corrections and t.grounding.score < 1]
    assert len(fixed) == 1  # the wrong box then fixed
    assert 0.6 <= fixed[0].grounding.score < 0.7  # its wrong box counts against it
    assert scores["0.6-0.7 · scenes"] >= 1
    wrong_box = [
        rejection_from_dict(record)
        for record in lines(grounded_run / "rejected/cold_start/scenes.jsonl")
    ]
    assert [r.reason for r in wrong_box] == ["ungrounded_box"]

    # Reasons and redraw kinds from metrics.json, per subset.
    assert _bars(html, "p-grounding-reasons") == {
        "line_through_wall · maze": 1,
        "line_through_wall · scenes": 0,
        "route_invalid · maze": 1,
        "route_invalid · scenes": 0,
        "ungrounded_box · maze": 0,
        "ungrounded_box · scenes": 1,
    }
    redraws = _bars(html, "p-grounding-redraws")
    assert {k: v for k, v in redraws.items() if v} == {
        "corrective · scenes": 1,
        "cosmetic · scenes": 1,
    }
    assert "regressive · scenes" in redraws  # every kind is shown, at 0 too


def test_grounding_scores_come_from_the_records_alone(grounded_run, tmp_path):
    """Without metrics.json the score figure is drawn from the full records, and the two
    figures that need the stage's counters say they have none (no claim of zero)."""
    import shutil

    for folder in ("sft", "rejected", "trajectories"):
        shutil.copytree(grounded_run / folder, tmp_path / folder)
    run_report(ReportConfig(), str(tmp_path))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert sum(_bars(html, "p-grounding-scores").values()) == 8
    assert html.count("metrics.json has no grounding counts.") == 2
    assert "p-grounding-reasons" not in html and "No trajectory was rejected" not in html


def test_grounding_figures_without_grounding_say_so(tmp_path):
    """A run with nothing grounded (oracle traces, real data) gets one empty grounding figure,
    and a metrics record without grounding counters reads as none."""
    from drawreason.report.grounding import GroundingScores, grounding_figures, grounding_metrics
    from drawreason.schemas.metrics import Grounding, SubsetMetrics

    _write_kept(tmp_path, "cold_start", [_mc_record("m-1", "A")])
    metrics = StageMetrics(
        stage="cold_start",
        input=3,
        kept=1,
        rejected={"wrong_answer": 2},
        subsets={"maze": SubsetMetrics(input=3, kept=1, rejected={"wrong_answer": 2})},
    )
    (tmp_path / "metrics.json").write_text(json.dumps(metrics.to_json()))
    run_report(ReportConfig(), str(tmp_path))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Grounding against the oracle" in html and "p-grounding" not in html
    assert grounding_metrics(metrics) == {} and grounding_metrics(None) == {}
    (figure,) = grounding_figures(metrics, GroundingScores())
    assert "Nothing in this run was grounded" in figure[1]
    rejected = {"route_invalid": 3, "too_long": 1}
    with_reasons = StageMetrics(
        stage="cold_start", subsets={"maze": SubsetMetrics(rejected=rejected)}
    )
    (found,) = grounding_metrics(with_reasons).values()
    assert found.rejected == {"route_invalid": 3} and found.corrections == {}
    counted = Grounding(trajectories=2, operations=5, grounded=4, corrections={"corrective": 1})
    with_counts = StageMetrics(
        stage="cold_start", subsets={"maze": SubsetMetrics(grounding=counted)}
    )
    (found,) = grounding_metrics(with_counts).values()
    assert (found.trajectories, found.operations, found.grounded) == (2, 5, 4)
    assert found.corrections == {"corrective": 1} and found.rejected == {}


def test_score_buckets_cover_nothing_drawn_to_all_grounded():
    from drawreason.report.grounding import SCORE_BUCKETS, score_bucket
    from drawreason.schemas.oracle import ElementCheck, Grounding

    def grounding(n_grounded: int, n: int) -> Grounding:
        checks = tuple(
            ElementCheck(1, i, "a", "Path Tracer", 1, i < n_grounded, 1.0) for i in range(n)
        )
        return Grounding(checks, (), round(n_grounded / n, 4) if n else 0.0)

    assert score_bucket(grounding(0, 0)) == "none"
    assert score_bucket(grounding(0, 3)) == "0.0"
    assert score_bucket(grounding(2, 3)) == "0.6"
    assert score_bucket(grounding(9, 10)) == "0.9"
    assert score_bucket(grounding(99, 100)) == "0.9"  # almost is not all
    assert score_bucket(grounding(4, 4)) == "1"
    assert {score_bucket(grounding(k, 10)) for k in range(11)} | {"none"} == set(SCORE_BUCKETS)


def test_grounding_plots_in_headless_chromium(grounded_run):
    browser, driver_path = find_chromium()
    if not browser or not driver_path:
        pytest.skip("chromium/chromedriver not installed (.ci/run installs them)")
    from drawreason.report.browser import console_errors, open_browser, wait_ready
    from selenium.webdriver.common.by import By

    run_report(ReportConfig(max_per_group=4), str(grounded_run))
    driver = open_browser()
    try:
        driver.get((grounded_run / "report.html").as_uri())
        wait_ready(driver)
        assert console_errors(driver) == []
        for chart_id in ("p-grounding-scores", "p-grounding-reasons", "p-grounding-redraws"):
            chart = driver.find_element(By.ID, chart_id)
            assert chart.is_displayed()
            assert chart.size["width"] >= 200 and chart.size["height"] >= 150, chart_id
            bars = [b for b in chart.find_elements(By.CSS_SELECTOR, "rect.bar")]
            assert any(b.size["height"] > 0 and b.size["width"] > 0 for b in bars), chart_id
            figure = chart.find_element(By.XPATH, "./ancestor::figure")
            caption = figure.find_element(By.TAG_NAME, "figcaption").text
            assert caption and figure.find_element(By.CSS_SELECTOR, "p.note").text
            # the figure holds its chart, and no label runs out of the chart's drawing area
            assert figure.size["width"] >= chart.size["width"]
            outside = driver.execute_script(
                "const svg = arguments[0], box = svg.viewBox.baseVal;"
                "return Array.from(svg.querySelectorAll('text:not([transform])'))"
                ".filter(t => { const b = t.getBBox();"
                " return b.x < 0 || b.y < 0 || b.x + b.width > box.width + 0.5"
                " || b.y + b.height > box.height + 0.5; }).map(t => t.textContent);",
                chart,
            )
            assert outside == [], (chart_id, outside)
        assert console_errors(driver) == []
    finally:
        driver.quit()
