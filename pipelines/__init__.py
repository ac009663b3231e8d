"""Beam wiring: one module per stage, thin shells around the pure core."""
