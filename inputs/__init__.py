"""Real spatial QA data: sources, format adapters, media loading (see README)."""
