"""Shim so Beam's --setup_file can build the package for remote workers; see pyproject.toml."""

from setuptools import setup

setup()
