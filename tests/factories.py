"""Small hand-built records shared by tests."""

from drawreason.schemas.records import LineOp, Provenance, QAItem, RenderedImage, Trajectory, Turn

PROVENANCE = Provenance(producer="test", config_hash="abc", seed=0, code_version="test")


def make_trajectory(sid: str = "maze-00000001", termination: str = "answered") -> Trajectory:
    item = QAItem(
        id=sid,
        images=("a" * 64 + ".png",),
        question="How many moves?",
        question_type="numerical",
        answer="2",
        data_type="maze",
        grid_size=3,
        source="generated:maze",
        license="apache-2.0",
    )
    turns = (
        Turn(
            raw='<think> go </think> Action: Path Tracer\n```json\n[{"index": 1}]\n```',
            think="go",
            action="Path Tracer",
            operations=(LineOp(1, (10.0, 10.0), (50.0, 10.0), "segment 1"),),
            new_images=(2,),
            env_reply="<image>\nThe index of the given image is 2 (width: 96, height: 96).\nGo on.",
        ),
        Turn(
            raw='<think> down </think> Action: Path Tracer\n```json\n[{"index": 2}]\n```',
            think="down",
            action="Path Tracer",
            operations=(LineOp(2, (50.0, 10.0), (50.0, 50.0), "segment 2"),),
            new_images=(3,),
            env_reply="<image>\nThe index of the given image is 3 (width: 96, height: 96).\nGo on.",
        ),
        Turn(
            raw="<think> 2 </think> Action: Answer\n<answer> 2 </answer>",
            think="2",
            action="Answer",
            answer="2",
        ),
    )
    rendered = (
        RenderedImage(2, 1, "b" * 64 + ".png", 96, 96),
        RenderedImage(3, 2, "c" * 64 + ".png", 96, 96),
    )
    return Trajectory(
        item=item,
        subset="maze",
        system_prompt="You draw.",
        user_prompt="<image>\nThe index of the given image is 1 (width: 96, height: 96).\nQ?",
        input_sizes=((96, 96),),
        turns=turns,
        rendered=rendered,
        termination=termination,
        provenance=PROVENANCE,
        scores={"accuracy": 1.0},
        meta={"algorithm": "dfs", "path": [[0, 0], [0, 1]]},
    )
