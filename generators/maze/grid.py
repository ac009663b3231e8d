"""Perfect mazes: random spanning trees of the g x g grid graph, several algorithms."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import networkx as nx
import numpy as np

Cell = tuple[int, int]
Edge = tuple[Cell, Cell]

_BLOCK = 256  # uniforms drawn from the generator at a time (per-call overhead dominates)


class _Stream:
    """Uniform random indices drawn in blocks from one np.random.Generator (deterministic)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._pos = 0

    def index(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        if self._pos >= len(self._buf):
            self._buf = self._rng.random(_BLOCK).tolist()
            self._pos = 0
        u = self._buf[self._pos]
        self._pos += 1
        return min(int(u * n), n - 1)


@lru_cache(maxsize=64)
def grid_cells(g: int) -> tuple[Cell, ...]:
    """All cells (row, col) of the g x g grid in sorted order."""
    return tuple((i, j) for i in range(g) for j in range(g))


@lru_cache(maxsize=64)
def grid_neighbors(g: int) -> dict[Cell, tuple[Cell, ...]]:
    """Sorted grid neighbours of every cell, from networkx's grid_2d_graph(g, g)."""
    grid = nx.grid_2d_graph(g, g)
    return {cell: tuple(sorted(grid[cell])) for cell in grid_cells(g)}


@lru_cache(maxsize=64)
def grid_edges(g: int) -> tuple[Edge, ...]:
    """Every edge of the grid graph once, (smaller cell, larger cell), sorted."""
    nbrs = grid_neighbors(g)
    return tuple((a, b) for a in grid_cells(g) for b in nbrs[a] if a < b)


def _dfs(g: int, stream: _Stream) -> list[Edge]:
    """Randomized depth-first search (recursive backtracker, iterative)."""
    nbrs = grid_neighbors(g)
    cells = grid_cells(g)
    start = cells[stream.index(len(cells))]
    visited = {start}
    stack = [start]
    edges: list[Edge] = []
    while stack:
        cur = stack[-1]
        options = [n for n in nbrs[cur] if n not in visited]
        if not options:
            stack.pop()
            continue
        nxt = options[stream.index(len(options))]
        visited.add(nxt)
        edges.append((cur, nxt))
        stack.append(nxt)
    return edges


def _kruskal(g: int, stream: _Stream) -> list[Edge]:
    """Randomized Kruskal: shuffled edges joined through a union-find."""
    candidates = list(grid_edges(g))
    # Fisher-Yates with the block stream, so only the passed generator drives the order.
    for i in range(len(candidates) - 1, 0, -1):
        k = stream.index(i + 1)
        candidates[i], candidates[k] = candidates[k], candidates[i]
    parent = {cell: cell for cell in grid_cells(g)}

    def find(x: Cell) -> Cell:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges: list[Edge] = []
    target = g * g - 1
    for a, b in candidates:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            edges.append((a, b))
            if len(edges) == target:
                break
    return edges


def _wilson(g: int, stream: _Stream) -> list[Edge]:
    """Wilson's algorithm: loop-erased random walks, a uniform spanning tree."""
    nbrs = grid_neighbors(g)
    cells = grid_cells(g)
    in_tree = {cells[stream.index(len(cells))]}
    edges: list[Edge] = []
    for u in cells:
        if u in in_tree:
            continue
        # Remembering only the last exit of each cell erases the loops of the walk.
        nxt: dict[Cell, Cell] = {}
        cur = u
        while cur not in in_tree:
            options = nbrs[cur]
            nxt[cur] = options[stream.index(len(options))]
            cur = nxt[cur]
        cur = u
        while cur not in in_tree:
            in_tree.add(cur)
            edges.append((cur, nxt[cur]))
            cur = nxt[cur]
    return edges


def _prim(g: int, stream: _Stream) -> list[Edge]:
    """Randomized Prim: grow the tree through a uniformly chosen frontier edge."""
    nbrs = grid_neighbors(g)
    cells = grid_cells(g)
    start = cells[stream.index(len(cells))]
    in_tree = {start}
    frontier = [(start, n) for n in nbrs[start]]
    edges: list[Edge] = []
    while frontier:
        k = stream.index(len(frontier))
        frontier[k], frontier[-1] = frontier[-1], frontier[k]
        a, b = frontier.pop()
        if b in in_tree:
            continue
        in_tree.add(b)
        edges.append((a, b))
        frontier.extend((b, n) for n in nbrs[b] if n not in in_tree)
    return edges


ALGORITHMS: dict[str, Callable[[int, _Stream], list[Edge]]] = {
    "dfs": _dfs,
    "kruskal": _kruskal,
    "wilson": _wilson,
    "prim": _prim,
}


def generate_maze(g: int, algorithm: str, rng: np.random.Generator) -> nx.Graph:
    """A perfect g x g maze: a spanning tree of grid_2d_graph(g, g), nodes (row, col).

    Edges are open passages; grid neighbours without an edge are separated by a wall. Driven
    only by `rng`. Raises ValueError for g < 2 or an unknown algorithm.
    """
    if g < 2:
        raise ValueError(f"grid size must be >= 2, got {g}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown maze algorithm {algorithm!r}; known: {sorted(ALGORITHMS)}")
    edges = ALGORITHMS[algorithm](g, _Stream(rng))
    tree = nx.Graph()
    tree.add_nodes_from(grid_cells(g))
    tree.add_edges_from(edges)
    return tree


def maze_grid_size(tree: nx.Graph) -> int:
    """The side g of a maze graph over the cells of a g x g grid."""
    g = int(round(tree.number_of_nodes() ** 0.5))
    if g * g != tree.number_of_nodes():
        raise ValueError(f"a maze needs g*g nodes, got {tree.number_of_nodes()}")
    return g


def is_perfect_maze(tree: nx.Graph, g: int) -> bool:
    """True iff `tree` spans the g x g grid with grid-adjacent edges only and no cycle."""
    if set(tree.nodes) != set(grid_cells(g)) or tree.number_of_edges() != g * g - 1:
        return False
    nbrs = grid_neighbors(g)
    if any(b not in nbrs[a] for a, b in tree.edges):
        return False
    return nx.is_connected(tree)
