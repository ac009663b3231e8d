"""Maze questions, config validation and the registry: answers recomputed independently."""

from collections import deque

import numpy as np
import pytest
from drawreason.generators import registry
from drawreason.generators.maze import MazeConfig, generate_maze_sample
from drawreason.generators.maze.ascii import maze_from_ascii
from drawreason.generators.maze.grid import ALGORITHMS, generate_maze
from drawreason.generators.maze.questions import (
    LETTERS,
    build_question,
    parse_route,
    route_distractors,
)
from drawreason.generators.maze.solve import DIRECTIONS, solve_maze
from drawreason.generators.seeding import sample_rng


def _walk(tree, start, route: str):
    """Follows a route text step by step; None if it crosses a wall (independent of solve.py)."""
    cur = start
    for part in route.split(", "):
        name, count = part.split(" ")
        di, dj = DIRECTIONS[name]
        for _ in range(int(count)):
            nxt = (cur[0] + di, cur[1] + dj)
            if not tree.has_edge(cur, nxt):
                return None
            cur = nxt
    return cur


def _bfs_moves(tree, start, goal) -> list:
    prev = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for nb in sorted(tree[cur]):
            if nb not in prev:
                prev[nb] = cur
                queue.append(nb)
    cells = [goal]
    while cells[-1] != start:
        cells.append(prev[cells[-1]])
    cells.reverse()
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(cells[:-1], cells[1:], strict=True)]


def _sample(seed: int, **overrides):
    config = MazeConfig(**overrides)
    return generate_maze_sample(f"maze-{seed}", sample_rng(0, f"maze-{seed}"), config)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("g", [3, 4, 5])
def test_route_options_one_valid_rest_invalid_and_distinct(algorithm, g):
    for seed in range(8):
        rng = np.random.default_rng(seed)
        tree = generate_maze(g, algorithm, rng)
        start, goal = (0, 0), (g - 1, g - 1)
        path = solve_maze(tree, start, goal)
        q = build_question("route", tree, g, start, goal, path, rng, 4)
        assert q.question_type == "multiple choice" and len(q.options) == 4
        assert len(set(q.options)) == 4
        assert q.answer == LETTERS[q.correct]
        for k, option in enumerate(q.options):
            assert not option[:2].rstrip().endswith(".")  # no letters: the prompt adds them
            parse_route(option)
            reaches = _walk(tree, start, option) == goal
            assert reaches == (k == q.correct), (option, q.options)


def test_distractors_fill_up_even_on_tiny_mazes():
    rng = np.random.default_rng(0)
    tree = generate_maze(2, "dfs", rng)
    path = solve_maze(tree, (0, 0), (0, 1)) if tree.has_edge((0, 0), (0, 1)) else None
    path = path or solve_maze(tree, (0, 0), (1, 0))
    wrong = route_distractors(tree, path[0], path[-1], path, rng, 9)
    assert len(set(wrong)) == 9
    assert all(_walk(tree, path[0], w) != path[-1] for w in wrong)


def test_correct_letter_is_spread_over_positions():
    letters = [_sample(s, question_mix=(("route", 1.0),)).answer for s in range(200)]
    counts = {letter: letters.count(letter) for letter in "ABCD"}
    assert all(25 <= c <= 75 for c in counts.values()), counts


@pytest.mark.parametrize("seed", range(30))
def test_numerical_answers_match_an_independent_solver(seed):
    for kind in ("moves", "turns"):
        sample = _sample(seed, grid_sizes=(3, 4, 5), question_mix=((kind, 1.0),))
        assert sample.question_type == "numerical" and sample.options == ()
        maze = maze_from_ascii(sample.meta["maze_ascii"])
        moves = _bfs_moves(maze.tree, maze.start, maze.goal)
        turns = sum(1 for a, b in zip(moves[:-1], moves[1:], strict=True) if a != b)
        assert sample.answer == str(len(moves) if kind == "moves" else turns)
        assert "green" in sample.question and "red" in sample.question


def test_sample_fields_and_meta_are_json_native():
    import json

    sample = _sample(1)
    assert sample.data_type == "maze" and sample.max_calls == 20
    assert sample.grid_size == sample.meta["grid_size"] in (3, 4, 5, 6, 7, 8)
    assert len(sample.images) == 1 and sample.images[0].size == (448, 448)
    assert json.loads(json.dumps(sample.meta)) == sample.meta
    assert sample.meta["path_length"] >= max(2, sample.grid_size)


def test_samples_are_deterministic_per_seed():
    a, b, c = _sample(4), _sample(4), _sample(5)
    assert a.replies == b.replies and a.meta == b.meta and a.images[0] == b.images[0]
    assert (a.meta, a.replies) != (c.meta, c.replies)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"grid_sizes": ()}, "grid_sizes"),
        ({"grid_sizes": (1,)}, "grid_sizes"),
        ({"image_size": 450}, "image_size"),
        ({"algorithms": ("bogus",)}, "algorithms"),
        ({"question_mix": (("route", 1.0), ("colour", 1.0))}, "question_mix"),
        ({"question_mix": (("route", 0.0),)}, "question_mix"),
        ({"reflective_share": 1.5}, "reflective_share"),
        ({"mistake_mix": (("shortcut", 1.0),)}, "mistake_mix"),
        ({"mistake_mix": (("wrong_turn", 0.0), ("through_wall", 0.0))}, "mistake_mix"),
        ({"mistake_mix": (("wrong_turn", -1.0), ("through_wall", 2.0))}, "mistake_mix"),
        ({"num_options": 1}, "num_options"),
        ({"max_calls": 1}, "max_calls"),
        ({"min_path_cells": 0}, "min_path_cells"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        MazeConfig(**overrides)


def test_config_builds_from_json_like_dicts():
    from drawreason.schemas.config import build_config, config_to_dict

    config = build_config(MazeConfig, {"grid_sizes": [3, 4], "question_mix": [["moves", 1]]})
    assert config.grid_sizes == (3, 4) and config.question_mix == (("moves", 1.0),)
    assert build_config(MazeConfig, config_to_dict(MazeConfig())) == MazeConfig()


def test_registry_knows_the_maze_and_names_known_generators():
    spec = registry.get_generator("maze")
    assert spec.config_class is MazeConfig and spec.generate is generate_maze_sample
    with pytest.raises(KeyError, match="known generators: .*maze"):
        registry.get_generator("labyrinth")
