"""``python -m worker``: run a worker (what ``inversion-service worker`` replaces itself with)."""

from worker.main import main

if __name__ == "__main__":
    raise SystemExit(main())
