"""Golden-case generator: runs the real autoarray / autogalaxy and writes the JSON cases the tests compare against.

Run it in the oracle environment (Python 3.12, see tools/oracle/README.md and requirements-oracle.txt):

    python tools/oracle/generate_golden.py                      # all cases + MANIFEST.json
    python tools/oracle/generate_golden.py --only NAME          # one case (MANIFEST.json left as it is)
    python tools/oracle/generate_golden.py --list               # list the case names
    python tools/oracle/generate_golden.py --out DIR            # write somewhere else

Every input is built from fixed NumPy seeds; the output is byte-for-byte reproducible. The format of one case is
described in docs/internals.md ("Golden cases"); `dataset` and `linear_objects` are the request bodies of
POST /datasets and POST /inversions (openapi/openapi.json).

Only autoarray's / autogalaxy's public API is called (aa.Imaging, aa.Mask2D, aa.mesh, aa.reg, aa.Mapper,
aa.Inversion, aa.m.MockFitImaging, aa.AbstractLinearObjFuncList, ag.lp_linear.Gaussian, ag.lp_basis.Basis,
ag.Galaxy, ag.Pixelization, ag.FitImaging). Nothing of their code is reproduced here.

The code is the package tools/oracle/golden/ (this folder is on sys.path when the script runs); importing it sets
up the process (x64, environment variables) before autoarray and jaxnnls are imported.
"""

import sys

from golden.cli import main

if __name__ == "__main__":
    sys.exit(main())
