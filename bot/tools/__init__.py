"""Measuring qabot: `qabot eval` (answer quality on QA sets) and `qabot bench` (speed, memory)."""
