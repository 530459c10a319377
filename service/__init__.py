"""HTTP service for autoarray-compatible inversions: FastAPI in front, Redis/RQ queue, warm JAX workers."""
