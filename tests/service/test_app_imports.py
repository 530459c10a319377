"""The API process never imports JAX (checked in a fresh interpreter)."""

import subprocess
import sys

from .procs import ROOT


def test_api_does_not_import_jax():
    code = (
        "import sys\n"
        "import service.app, service.cli, service.devserver\n"
        "app = service.app.create_app()\n"
        "app.openapi()\n"
        "bad = sorted(m for m in sys.modules if m == 'jax' or m.startswith(('jax.', 'jaxlib', 'worker')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_contract_imports_neither_fastapi_nor_rq():
    code = (
        "import sys\n"
        "import service.contract.models, service.contract.serializer, service.contract.validation\n"
        "import service.contract.grids, service.contract.datasets, service.contract.responses\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'fastapi', 'rq', 'starlette'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
