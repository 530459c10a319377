"""The README's example runs against a live service, and its configuration table covers every key."""

import contextlib
import io
import re

from service.config import ServerConfig

from .procs import ROOT

README = (ROOT / "README.md").read_text()


def test_readme_example_runs(stack):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    assert len(code.strip().splitlines()) <= 14
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace("http://127.0.0.1:8000", stack.url), {})
    assert "use_positive_only_solver" in out.getvalue()


def _leaves(model, prefix=""):
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields") and name not in ("warm",):
            yield from _leaves(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_every_config_key_is_documented():
    missing = [key for key in _leaves(ServerConfig) if f"`{key}`" not in README]
    assert not missing, missing
