"""The wire contract shared by the API and the workers (imports numpy, msgpack and pydantic only).

No JAX, FastAPI or RQ here: the API process, the workers and clients can all import it.
"""
