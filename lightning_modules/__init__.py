"""LightningModules, callbacks and the LightningCLI of the lab: the only place training logic lives."""
