"""Python client of the inversion service: numpy in, numpy out, msgpack on the wire (httpx, msgpack, numpy only).

    from inversion_client import InversionClient

    with InversionClient("http://127.0.0.1:8000") as client:
        dataset_id = client.register_imaging(data, noise_map, psf, mask, pixel_scales=0.1)
        mapper = {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [20, 20]},
                  "regularization": {"type": "constant", "coefficient": np.logspace(-1, 2, 32)}}   # B = 32
        result = client.evaluate(dataset_id, [mapper])
        result.figure_of_merit          # (32,) float64

Sampler adapters (nautilus, emcee, dynesty) are in :mod:`inversion_client.samplers`.
"""

from ._async import AsyncInversionClient
from ._retry import RetryPolicy
from ._sync import InversionClient
from .batching import BATCHABLE_FIELDS, stack_objects
from .errors import (
    BadRequest,
    ClientError,
    Conflict,
    InvalidInput,
    InversionServiceError,
    JobCanceled,
    JobTimeout,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from .models import DatasetInfo, JobInfo, Result

__version__ = "0.1.0"

__all__ = [
    "BATCHABLE_FIELDS",
    "AsyncInversionClient",
    "BadRequest",
    "ClientError",
    "Conflict",
    "DatasetInfo",
    "InvalidInput",
    "InversionClient",
    "InversionServiceError",
    "JobCanceled",
    "JobInfo",
    "JobTimeout",
    "NotFound",
    "PayloadTooLarge",
    "ProblemError",
    "Result",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "stack_objects",
]
