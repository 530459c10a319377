"""One router per resource: datasets, inversions, jobs, health, settings."""
