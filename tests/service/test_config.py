"""Server configuration: the shipped YAML, a YAML named by the environment, environment overrides."""

import pytest
import yaml
from pydantic import ValidationError

from service.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, ServerConfig, load_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("INVERSION_"):
            monkeypatch.delenv(key)


def test_shipped_yaml_equals_the_model_defaults():
    shipped = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    defaults = {name: field.get_default(call_default_factory=True) for name, field in ServerConfig.model_fields.items()}
    for key, value in shipped.items():
        default = defaults[key]
        dumped = default.model_dump() if hasattr(default, "model_dump") else default
        assert ServerConfig.model_validate({key: value}).model_dump()[key] == dumped, key


def test_default_settings_are_autoarrays():
    cfg = load_config()
    assert cfg.settings.model_dump() == {
        "use_mixed_precision": False, "use_positive_only_solver": True, "use_edge_zeroed_pixels": True,
        "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-3}
    assert cfg.nnls.jacobi_preconditioning is True and cfg.nnls.target_kappa == 1e-11
    assert cfg.api_keys == []


def test_yaml_from_environment_and_env_overrides(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"namespace": "x", "settings": {"use_positive_only_solver": False},
                                    "jobs": {"default_wait_s": 2}}))
    monkeypatch.setenv(CONFIG_ENV, str(path))
    monkeypatch.setenv("INVERSION_SETTINGS__USE_MIXED_PRECISION", "true")
    monkeypatch.setenv("INVERSION_REDIS_URL", "redis://example:1/2")
    monkeypatch.setenv("INVERSION_API_KEYS", '["k1"]')
    cfg = load_config()
    assert cfg.namespace == "x" and cfg.redis_url == "redis://example:1/2" and cfg.api_keys == ["k1"]
    assert cfg.settings.use_positive_only_solver is False and cfg.settings.use_mixed_precision is True
    assert cfg.settings.use_edge_zeroed_pixels is True  # untouched fields keep the defaults
    assert cfg.jobs.default_wait_s == 2 and cfg.jobs.result_ttl_s == 3600


def test_unknown_keys_and_missing_file_are_errors(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"limits": {"max_bach": 3}}))
    monkeypatch.setenv(CONFIG_ENV, str(path))
    with pytest.raises(ValidationError, match="max_bach"):
        load_config()
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        load_config()
