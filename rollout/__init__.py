"""The async multi-turn teacher rollout engine and its reply cache."""
