"""RQ worker process: keeps compiled JAX inversion pipelines warm (see worker/main.py)."""
