"""The drawing environment: parse assistant turns, keep per-image state, render, reply."""
