"""One maze sample: maze, start and goal, question, rendered image and oracle trace."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
from drawreason.generators.base import GeneratedSample
from drawreason.generators.maze.ascii import maze_to_ascii
from drawreason.generators.maze.config import MazeConfig
from drawreason.generators.maze.grid import Cell, generate_maze
from drawreason.generators.maze.questions import build_question
from drawreason.generators.maze.render import render_maze
from drawreason.generators.maze.solve import (
    SideBranch,
    WallCrossing,
    choose_endpoints,
    count_turns,
    farthest_pair,
    path_runs,
    side_branches,
    solve_maze,
    wall_crossings,
)
from drawreason.generators.maze.trace import Mistake, build_trace, can_reflect


def _fits(mistake: Mistake, path: list[Cell], config: MazeConfig) -> bool:
    """The mistake fits the budget; with route granularity it is not in the last segment, since
    a correct whole-route turn always ends its text at the goal and this one could not."""
    if config.trace_granularity == "route" and mistake.run_index == len(path_runs(path)) - 1:
        return False
    return can_reflect(mistake, config.max_calls)


def _usable_branches(tree: nx.Graph, path: list[Cell], config: MazeConfig) -> list[SideBranch]:
    return [b for b in side_branches(tree, path) if _fits(b, path, config)]


def _usable_crossings(
    tree: nx.Graph, path: list[Cell], g: int, config: MazeConfig
) -> list[WallCrossing]:
    """Wall crossings that fit (`_fits`); with junction granularity only those whose run
    starts a turn's group (at the start or a junction), so every turn still ends on one."""
    out = [w for w in wall_crossings(tree, path, g) if _fits(w, path, config)]
    if config.trace_granularity == "junction":
        out = [w for w in out if w.run_index == 0 or tree.degree(w.junction) >= 3]
    return out


def _pick_mistake(
    kinds: list[str], tree: nx.Graph, path: list[Cell], g: int, config: MazeConfig, rng
) -> Mistake | None:
    """The staged mistake of the first kind in `kinds` the route allows: a side branch for a
    wrong turn (preferring straight corridors that end in a dead end), or a run whose end
    has a wall straight ahead."""
    for kind in kinds:
        if kind == "wrong_turn":
            branches = _usable_branches(tree, path, config)
            pool: list[Mistake] = [b for b in branches if b.leaf] or list(branches)
        else:
            pool = list(_usable_crossings(tree, path, g, config))
        if pool:
            return pool[int(rng.integers(len(pool)))]
    return None


def _endpoints(
    tree: nx.Graph, g: int, config: MazeConfig, rng: np.random.Generator, mistake: str | None
) -> tuple[Cell, Cell, list[Cell]]:
    min_moves, min_runs = config.min_moves(g), config.min_route_runs
    picked = None
    if mistake == "wrong_turn":
        # Prefer routes passing a straight dead-end corridor: the clearest wrong turn.
        for leaf_only in (True, False):
            picked = choose_endpoints(
                tree,
                rng,
                min_moves,
                min_runs,
                accept=lambda p, leaf_only=leaf_only: any(
                    b.leaf or not leaf_only for b in _usable_branches(tree, p, config)
                ),
                attempts=32,
            )
            if picked is not None:
                break
    elif mistake == "through_wall":
        picked = choose_endpoints(
            tree,
            rng,
            min_moves,
            min_runs,
            accept=lambda p: bool(_usable_crossings(tree, p, g, config)),
            attempts=32,
        )
    if picked is None:
        picked = choose_endpoints(tree, rng, min_moves, min_runs)
    if picked is None:  # the maze has no route that long: take its longest one
        a, b = farthest_pair(tree)
        if rng.random() < 0.5:
            a, b = b, a
        picked = (a, b, solve_maze(tree, a, b))
    return picked


def _mistake_kind(mistake: Mistake | None) -> str | None:
    if mistake is None:
        return None
    return "through_wall" if isinstance(mistake, WallCrossing) else "wrong_turn"


def _mistake_meta(mistake: Mistake | None) -> dict[str, Any] | None:
    """Where the staged mistake is: its segment, the cell it leaves and the wrong end, and
    the dead end (wrong turn) or the crossed wall (through_wall)."""
    if mistake is None:
        return None
    out: dict[str, Any] = {
        "segment": mistake.run_index + 1,
        "junction": list(mistake.junction),
        "end": list(mistake.end),
        "direction": mistake.direction,
    }
    if isinstance(mistake, WallCrossing):
        out["wall"] = [list(mistake.through), list(mistake.end)]
    else:
        out["dead_end"] = mistake.leaf
    return out


def generate_maze_sample(
    sample_id: str, rng: np.random.Generator, config: MazeConfig
) -> GeneratedSample:
    """A maze question with its image and oracle replies; every choice comes from `rng`.

    Grid size, algorithm and question kind are drawn from `config`; with probability
    `reflective_share` the trace makes a mistake of a kind drawn from `mistake_mix` (a wrong
    turn into a side branch, or a segment on through a wall; the other kind when the maze allows
    only that, none when neither) and corrects it. `sample_id` only names the sample; it does
    not seed anything.
    """
    g = int(config.grid_sizes[int(rng.integers(len(config.grid_sizes)))])
    algorithm = config.algorithms[int(rng.integers(len(config.algorithms)))]
    kinds = [name for name, _ in config.question_mix]
    weights = np.array([w for _, w in config.question_mix], dtype=float)
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    want_reflective = bool(rng.random() < config.reflective_share)
    wanted = None
    if want_reflective:  # drawn only here, so mistake-free samples stay as they were
        names = [name for name, _ in config.mistake_mix]
        shares = np.array([w for _, w in config.mistake_mix], dtype=float)
        wanted = names[int(rng.choice(len(names), p=shares / shares.sum()))]

    tree = generate_maze(g, algorithm, rng)
    start, goal, path = _endpoints(tree, g, config, rng, wanted)
    mistake = None
    if wanted is not None:
        fallback = [n for n, w in config.mistake_mix if n != wanted and w > 0]
        mistake = _pick_mistake([wanted, *fallback], tree, path, g, config, rng)

    question = build_question(kind, tree, g, start, goal, path, rng, config.num_options)
    # The wording draws come last, from their own generator, so they leave the maze, route,
    # question and wrong turn of a seed as they were.
    phrasing = np.random.default_rng(int(rng.integers(2**63)))
    junctions = None
    if config.trace_granularity == "junction":
        junctions = {cell for cell in tree.nodes if tree.degree(cell) >= 3}
    trace = build_trace(
        question,
        path,
        g,
        config.image_size,
        config.max_calls,
        mistake,
        phrasing,
        junctions,
        whole_route=config.trace_granularity == "route",
    )
    image = render_maze(tree, g, start, goal, config.image_size)
    runs = path_runs(path)
    meta: dict[str, Any] = {
        "algorithm": algorithm,
        "grid_size": g,
        "image_size": config.image_size,
        "start": list(start),
        "goal": list(goal),
        "path_length": len(path) - 1,
        "runs": len(runs),
        "turns": count_turns(runs),  # direction changes of the route (not assistant turns)
        "question_kind": kind,
        "reflective": trace.reflective,
        "mistake": _mistake_kind(mistake),
        "mistake_at": _mistake_meta(mistake),
        "tool_turns": trace.tool_turns,
        "assistant_turns": len(trace.replies),
        "packed": any(n > 1 for n in trace.segments_per_turn),
        "maze_ascii": maze_to_ascii(tree, g, start, goal),
    }
    return GeneratedSample(
        question=question.question,
        question_type=question.question_type,
        answer=question.answer,
        options=question.options,
        data_type="maze",
        grid_size=g,
        images=(image,),
        replies=trace.replies,
        max_calls=config.max_calls,
        meta=meta,
    )
