"""A tiny generator, written as a new generator is (docs/generators.md): a package with its
config and its generate function, registered by one line (here by the test that uses it,
through `generators.registry.registered`): a coloured square on a grey image, and which colour
it is."""

from tests.tiny_generator.sample import TinyConfig, generate_tiny_sample

__all__ = ["TinyConfig", "generate_tiny_sample"]
