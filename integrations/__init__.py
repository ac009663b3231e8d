"""Adapters that put the drawing environment behind stock RL trainers (verl today)."""
