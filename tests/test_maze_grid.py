"""Maze grids: perfect spanning trees per algorithm, determinism, ASCII round trip, solving."""

from collections import deque

import networkx as nx
import numpy as np
import pytest
from drawreason.generators.maze.ascii import maze_from_ascii, maze_to_ascii
from drawreason.generators.maze.grid import ALGORITHMS, generate_maze, is_perfect_maze
from drawreason.generators.maze.questions import format_route
from drawreason.generators.maze.solve import farthest_pair, path_runs, side_branches, solve_maze

SIZES = (3, 4, 5)

# Pinned outputs for seed 0 on 4x4: any change to an algorithm or to how it consumes the
# random generator changes the data, and should be deliberate.
GOLDEN_4X4_SEED0 = {
    "dfs": """
#########
# #   # #
# # # # #
# # #   #
# # ### #
# #   # #
# ##### #
#       #
#########""",
    "kruskal": """
#########
# #     #
# ### ###
#       #
# ##### #
#   #   #
##### ###
#       #
#########""",
    "wilson": """
#########
#   #   #
# # # ###
# # #   #
# # ### #
# #   # #
##### # #
#       #
#########""",
    "prim": """
#########
#     # #
##### # #
#   #   #
# ### ###
# #     #
# # ### #
#     # #
#########""",
}

FIXTURE = """
#########
#S    # #
##### # #
#   #   #
# # ### #
# #   # #
# ### # #
#   #  G#
#########"""


def _edge_set(tree: nx.Graph) -> frozenset:
    return frozenset(frozenset(e) for e in tree.edges)


def _bfs_path(tree: nx.Graph, start, goal) -> list:
    """An independent BFS (not networkx's) for checking the solver."""
    prev = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for nb in tree[cur]:
            if nb not in prev:
                prev[nb] = cur
                queue.append(nb)
    path = [goal]
    while path[-1] != start:
        path.append(prev[path[-1]])
    return path[::-1]


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("g", SIZES)
def test_every_algorithm_makes_a_perfect_maze(algorithm, g):
    for seed in range(10):
        tree = generate_maze(g, algorithm, np.random.default_rng(seed))
        assert tree.number_of_nodes() == g * g
        assert tree.number_of_edges() == g * g - 1
        assert nx.is_connected(tree) and nx.is_tree(tree)
        for (i, j), (k, m) in tree.edges:
            assert abs(i - k) + abs(j - m) == 1
            assert 0 <= min(i, j, k, m) and max(i, j, k, m) < g
        assert is_perfect_maze(tree, g)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_same_seed_same_maze_different_seeds_differ(algorithm):
    a = generate_maze(5, algorithm, np.random.default_rng(123))
    b = generate_maze(5, algorithm, np.random.default_rng(123))
    assert _edge_set(a) == _edge_set(b)
    mazes = {_edge_set(generate_maze(5, algorithm, np.random.default_rng(s))) for s in range(12)}
    assert len(mazes) >= 11


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_golden_mazes_are_stable(algorithm):
    tree = generate_maze(4, algorithm, np.random.default_rng(0))
    assert maze_to_ascii(tree, 4) == GOLDEN_4X4_SEED0[algorithm].strip("\n")


def test_generate_maze_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown maze algorithm 'nope'"):
        generate_maze(4, "nope", np.random.default_rng(0))
    with pytest.raises(ValueError, match="grid size"):
        generate_maze(1, "dfs", np.random.default_rng(0))


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("g", SIZES)
def test_ascii_round_trip(algorithm, g):
    tree = generate_maze(g, algorithm, np.random.default_rng(7))
    path = solve_maze(tree, (0, 0), (g - 1, g - 1))
    text = maze_to_ascii(tree, g, (0, 0), (g - 1, g - 1), path[1:-1])
    parsed = maze_from_ascii(text)
    assert parsed.grid_size == g
    assert _edge_set(parsed.tree) == _edge_set(tree)
    assert parsed.start == (0, 0) and parsed.goal == (g - 1, g - 1)
    assert parsed.route == frozenset(path[1:-1])
    assert maze_to_ascii(parsed.tree, g, parsed.start, parsed.goal, parsed.route) == text


def test_ascii_fixture_solves_to_the_known_route():
    maze = maze_from_ascii(FIXTURE)
    assert is_perfect_maze(maze.tree, 4)
    path = solve_maze(maze.tree, maze.start, maze.goal)
    assert format_route(path_runs(path)) == "right 2, down 1, right 1, down 2"
    # Only the last run starts beside a side passage: up from (1, 3) into the dead end (0, 3).
    branches = side_branches(maze.tree, path)
    assert [(b.run_index, b.junction, b.direction, b.end, b.leaf) for b in branches] == [
        (3, (1, 3), "up", (0, 3), True)
    ]


@pytest.mark.parametrize(
    "text, message",
    [("###\n# #\n##", "odd square"), ("#####\n#   #\n# # #\n#    \n#####", "expected '#'")],
)
def test_ascii_rejects_malformed_pictures(text, message):
    with pytest.raises(ValueError, match=message):
        maze_from_ascii(text)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("g", SIZES)
def test_solver_path_is_connected_and_shortest(algorithm, g):
    rng = np.random.default_rng(11)
    tree = generate_maze(g, algorithm, rng)
    cells = sorted(tree.nodes)
    for _ in range(10):
        a, b = (cells[int(k)] for k in rng.choice(len(cells), 2, replace=False))
        path = solve_maze(tree, a, b)
        assert path[0] == a and path[-1] == b
        assert all(tree.has_edge(u, v) for u, v in zip(path[:-1], path[1:], strict=True))
        assert len(path) == len(_bfs_path(tree, a, b))
        assert len(set(path)) == len(path)


def test_solver_rejects_cells_outside_the_maze():
    tree = generate_maze(3, "dfs", np.random.default_rng(0))
    with pytest.raises(ValueError, match="goal"):
        solve_maze(tree, (0, 0), (3, 3))


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_farthest_pair_is_a_longest_route(algorithm):
    tree = generate_maze(4, algorithm, np.random.default_rng(5))
    a, b = farthest_pair(tree)
    lengths = dict(nx.all_pairs_shortest_path_length(tree))
    assert lengths[a][b] == max(max(d.values()) for d in lengths.values())
