"""Perfect-maze generator: spanning-tree mazes, route questions and solver-derived traces."""

from generators.maze.config import MazeConfig
from generators.maze.sample import generate_maze_sample

__all__ = ["MazeConfig", "generate_maze_sample"]
