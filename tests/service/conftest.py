"""The service tests use the shared fixtures of tests/conftest.py (Redis, the ``stack`` and ``bare`` APIs)."""
