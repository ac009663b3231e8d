"""Perfect-maze generator: spanning-tree mazes, route questions and solver-derived traces."""

from drawreason.generators.maze.config import MazeConfig
from drawreason.generators.maze.sample import generate_maze_sample

__all__ = ["MazeConfig", "generate_maze_sample"]
