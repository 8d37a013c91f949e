"""Training: the loop, losses, schedules, metrics and checkpoints."""
