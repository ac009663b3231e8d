"""Whole-file reads and writes through Beam's FileSystems, without Beam pipelines."""
