"""Map stages: pure functions of one batch that add columns and never drop rows."""
