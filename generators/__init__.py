"""Procedural sample generators (mazes, ...) whose ground truth yields oracle traces."""
