"""The drawing environment behind TRL GRPOTrainer(environment_factory=...)."""
