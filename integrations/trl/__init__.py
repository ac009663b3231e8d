"""The drawing environment behind TRL's GRPOTrainer(environment_factory=...)."""
