"""Server configuration: one pydantic-settings model read from a YAML file plus environment overrides.

Sources, highest priority first: keyword arguments, environment variables (prefix ``INVERSION_``, nested
delimiter ``__``, e.g. ``INVERSION_SETTINGS__USE_MIXED_PRECISION=true``, ``INVERSION_REDIS_URL=redis://...``), the
YAML file named by ``INVERSION_SERVICE_CONFIG`` (default: the shipped ``service/default_config.yaml``), then the
defaults below, which equal the shipped file (autoarray's defaults for the inversion settings).

The API and the workers read the same file, so both agree on the namespace, limits and defaults.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from service.contract import vocabulary
from service.contract.models import ResolvedSettings

CONFIG_ENV = "INVERSION_SERVICE_CONFIG"
DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")
_ORIGIN = re.compile(r"https?://[^/\s?#]+", re.IGNORECASE)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InversionDefaults(ResolvedSettings):
    """Server defaults of the five ``Settings`` fields (autoarray's ``general.yaml`` values)."""

    use_mixed_precision: bool = False
    use_positive_only_solver: bool = True
    use_edge_zeroed_pixels: bool = True
    use_border_relocator: bool = False
    no_regularization_add_to_curvature_diag_value: float = Field(1.0e-3, ge=0, allow_inf_nan=False)


class NnlsConfig(_Section):
    """Options of the non-negative solver (autoarray reads them from config, not from Settings)."""

    jacobi_preconditioning: bool = vocabulary.NNLS_JACOBI_PRECONDITIONING
    target_kappa: float = vocabulary.NNLS_TARGET_KAPPA


class Limits(_Section):
    """Request limits and the per-key fair share (a key = one API key, or everyone when the service is open)."""

    max_body_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="larger bodies are answered 413")
    max_json_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="larger JSON bodies (and msgpack bodies whose arrays are plain lists, "
        "not binary maps) are answered 413; they are decoded in a separate process, where they take several times "
        "their size in memory (never more than max_body_bytes)")
    max_batch: int = Field(4096, ge=1, description="largest batch axis B of one request")
    max_sub_pixels: int = Field(8 * 1024 * 1024, ge=1, description="largest over-sampled grid of a dataset "
                                "(unmasked pixels x over_sample_size^2)")
    max_queued_jobs: int = Field(1000, ge=1, description="beyond this many jobs waiting for a worker, answer 503")
    per_key_max_jobs: int = Field(256, ge=1, description="unfinished jobs of one key; more are answered 429")
    per_key_max_evaluations: int = Field(
        262144, ge=1, description="summed batch sizes of one key's unfinished jobs; more are answered 429")
    per_key_concurrency: int | None = Field(
        4, ge=1, description="jobs of one key in the queue or running at once; the others wait their turn "
        "(null = no limit)")
    retry_after_s: int = Field(2, ge=1, description="Retry-After of 429 and queue-full 503 answers")

    @model_validator(mode="after")
    def _evaluations_cover_a_batch(self) -> Limits:
        if self.per_key_max_evaluations < self.max_batch:
            raise ValueError("per_key_max_evaluations must be at least max_batch (else a full batch never fits)")
        return self


class JobsConfig(_Section):
    """Waiting, time limits and retention of inversion jobs."""

    default_wait_s: float = Field(30.0, ge=0, description="how long POST /inversions waits before answering 202")
    max_wait_s: float = Field(300.0, ge=0, description="upper bound for Prefer: wait=N")
    job_timeout_s: int = Field(600, ge=1, description="a running job is failed after this long")
    queued_ttl_s: int = Field(86400, ge=1, description="a job not started within this time is discarded")
    result_ttl_s: int = Field(3600, ge=1, description="finished results are kept this long")
    failure_ttl_s: int = Field(86400, ge=1, description="failed jobs are kept this long")
    worker_lost_retries: int = Field(1, ge=0, description="times a job whose worker died is queued again "
                                     "before it is failed")
    timeout_grace_s: float = Field(30.0, ge=0, description="a job still running this long after job_timeout_s "
                                   "is failed by the API (the worker itself stops at job_timeout_s)")
    reap_interval_s: float = Field(1.0, gt=0, description="how often the API looks for jobs of dead workers")


class DatasetsConfig(_Section):
    """Retention of registered datasets."""

    ttl_s: int = Field(7 * 86400, ge=0, description="idle datasets expire after this long (0 = never)")


class CorsConfig(_Section):
    """Cross-origin requests: which web pages of other origins may call the API from a browser."""

    allow_origins: list[str] = Field(
        default_factory=list,
        description="origins (scheme://host[:port], no path) whose pages may call the API from a browser, e.g. "
        "a team's dashboard; [\"*\"] = any origin; empty = none (no CORS headers at all)")
    max_age_s: int = Field(600, ge=0, description="how long a browser may reuse a preflight (OPTIONS) answer")

    @field_validator("allow_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        """Browsers send ``Origin`` as lower-case scheme://host[:port]; a path or trailing slash would never match."""
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin like https://dash.example.org or "
                                 "http://127.0.0.1:3000 (scheme://host[:port], no path or trailing slash)")
        return [origin.lower() for origin in origins]


class WarmSpec(_Section):
    """One pipeline signature a worker compiles at start: a synthetic dataset of this geometry and these objects.

    Missing arrays of the linear objects (source grids, vertices, sigmas, ...) are synthesised by the worker.
    """

    name: str = "small-rectangular"
    shape_native: tuple[int, int] = (20, 20)
    pixel_scales: float = 0.1
    mask_radius: float | None = Field(0.8, description="circular mask radius in arcsec; null = no mask")
    psf_shape: tuple[int, int] = (3, 3)
    over_sample_size_pixelization: int = 2
    over_sample_size_lp: int = 2
    linear_objects: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [8, 8]},
             "regularization": {"type": "constant", "coefficient": 1.0}}
        ]
    )
    precisions: list[Literal["fp64", "mixed"]] = Field(default_factory=lambda: ["fp64", "mixed"])
    batch_sizes: list[int] = Field(default_factory=lambda: [1])
    outputs: list[str] = Field(default_factory=list)


class WorkerConfig(_Section):
    """Worker process settings."""

    name: str | None = Field(None, description="worker name (default: host.pid)")
    engine: str = Field("worker.engine:Engine", description="engine class, 'module:attribute'")
    warm: list[WarmSpec] = Field(default_factory=lambda: [WarmSpec()])
    compile_cache_dir: str | None = Field("~/.cache/inversion-service/jax", description="persistent JAX cache")
    min_compile_time_s: float = Field(1.0, ge=0, description="only cache compilations that took this long")
    mem_fraction: float | None = Field(None, gt=0, le=1, description="XLA client memory fraction (GPU)")
    preallocate: bool | None = Field(None, description="XLA preallocation (GPU); null = JAX default")
    dataset_cache_bytes: int = Field(2 * 1024**3, ge=0, description="LRU budget for prepared datasets")
    heartbeat_interval_s: float = Field(2.0, gt=0)
    heartbeat_ttl_s: float = Field(10.0, gt=0)
    ready_file: str | None = Field(None, description="touched while warm (container health checks)")
    buckets: list[int] | None = Field(None, description="batch bucket sizes the engine pads to (null = its default)")


class ServerConfig(BaseSettings):
    """Everything the API and the workers are configured with."""

    model_config = SettingsConfigDict(env_prefix="INVERSION_", env_nested_delimiter="__", extra="forbid")

    namespace: str = Field("inv", pattern=r"^[A-Za-z0-9_.-]+$", description="prefix of every Redis key")
    redis_url: str = "redis://127.0.0.1:6379/0"
    settings: InversionDefaults = Field(default_factory=InversionDefaults)
    nnls: NnlsConfig = Field(default_factory=NnlsConfig)
    limits: Limits = Field(default_factory=Limits)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    datasets: DatasetsConfig = Field(default_factory=DatasetsConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    api_keys: list[str] = Field(default_factory=list, description="accepted API keys; empty = open service")
    cors: CorsConfig = Field(default_factory=CorsConfig)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get(CONFIG_ENV) or str(DEFAULT_CONFIG_PATH)
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=path)

    def engine_config(self) -> dict[str, Any]:
        """The dict handed to ``Engine(...)``: solver options and server defaults."""
        cfg: dict[str, Any] = {"nnls": self.nnls.model_dump(), "settings": self.settings.model_dump()}
        if self.worker.buckets:
            cfg["buckets"] = list(self.worker.buckets)
        return cfg


def config_path() -> Path:
    """The YAML file in effect."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(**overrides: Any) -> ServerConfig:
    """Read the configuration now (YAML + environment), raising FileNotFoundError for a missing YAML file."""
    path = config_path()
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {path} (from ${CONFIG_ENV}) does not exist")
    return ServerConfig(**overrides)


@lru_cache(maxsize=1)
def cached_config() -> ServerConfig:
    """The process-wide configuration, read once."""
    return load_config()
