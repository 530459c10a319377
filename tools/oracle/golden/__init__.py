"""The autoarray oracle as a package: builds the golden imaging cases and writes them as JSON.

Importing any module of this package first runs `environment`, which switches on JAX's float64 mode and fixes the
environment variables autoarray reads, before autoarray or jaxnnls can be imported (see tools/oracle/README.md).
The command line is `golden.cli` (tools/oracle/generate_golden.py calls it).
"""

from . import environment  # noqa: F401  (must stay the first import: it runs before autoarray / jaxnnls load)
