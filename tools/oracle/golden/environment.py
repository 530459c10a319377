"""Process set-up of the oracle. It must run before autoarray and jaxnnls are imported; `golden/__init__.py` imports
it first, so every module of the package can import autoarray afterwards.

- The NumPy fnnls solver can warm-start from the previous solve of the same size (a process-wide memo). The optimum
  is unique, but the last bits of the answer would depend on which case ran before; the memo is switched off so that
  `--only NAME` and a full run write the same bytes.
- PYAUTO_SMALL_DATASETS and PYAUTO_DISABLE_JAX would change what autoarray computes; they are removed.
- autoarray's JAX path (and jaxnnls' tolerance) assume float64, so jax_enable_x64 is switched on.
"""

import os
import sys

# The environment variables every run sets; MANIFEST.json records them.
ENVIRONMENT = {"AUTOARRAY_NNLS_WARM_START": "0"}
IGNORED_VARIABLES = ("PYAUTO_SMALL_DATASETS", "PYAUTO_DISABLE_JAX")

_too_late = sorted({"autoarray", "autogalaxy", "jaxnnls"} & set(sys.modules))
if _too_late:
    raise RuntimeError(f"golden.environment must be imported before {', '.join(_too_late)}")

os.environ.update(ENVIRONMENT)
for _var in IGNORED_VARIABLES:
    os.environ.pop(_var, None)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
