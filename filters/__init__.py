"""Judges of samples: each says keep, or which reason code rejects it."""
