"""Training-side pieces: the reward function trainers load by path (more to come)."""
