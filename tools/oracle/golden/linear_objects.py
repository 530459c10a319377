"""Linear objects of a case (mapper, linear Gaussians, image basis): the POST /inversions API dicts built from their
specifications, and the autoarray objects built from those dicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autoarray as aa
import numpy as np

from .datasets import Dataset
from .lens import LENS_CENTRE, LENS_THETA_E, sis_trace, traced_grid_for
from .regularizations import NEEDS_ADAPT_IMAGE, api_regularization, regularization_from
from .specs import BasisSpec, GaussiansSpec, MapperSpec

RECTANGULAR_MESHES = ("rectangular_uniform", "rectangular_bilinear_adapt_density")
DELAUNAY_JITTER_SEED = 7


@dataclass
class Built:
    """A linear object ready to run: its API dict and how to build the autoarray object."""

    api: dict
    make: Callable | None  # (settings, xp) -> linear object (aa route); None for autogalaxy-built objects


class ImageBasis(aa.AbstractLinearObjFuncList):
    """A linear-function list whose columns are fixed images (no operated override: autoarray blurs them itself,
    inside the mask only)."""

    def __init__(self, grid, images: np.ndarray, regularization=None, settings=None, xp=np):
        super().__init__(grid=grid, regularization=regularization, settings=settings or aa.Settings(), xp=xp)
        self._mapping = np.ascontiguousarray(np.asarray(images, dtype=np.float64).T)

    @property
    def params(self) -> int:
        """Number of columns (images)."""
        return self._mapping.shape[1]

    @property
    def mapping_matrix(self):
        """(N, params): the images, one per column."""
        return self._xp.asarray(self._mapping)


def basis_images(ds: Dataset) -> np.ndarray:
    """(4, N): a constant, two circular Gaussians and a tilted plane on the slim pixel centres."""
    g = np.asarray(ds.imaging.grids.lp.array)
    y, x = g[:, 0], g[:, 1]
    return np.stack(
        [
            np.ones_like(y),
            np.exp(-0.5 * ((y - 0.1) ** 2 + (x + 0.2) ** 2) / 0.3**2),
            np.exp(-0.5 * ((y + 0.4) ** 2 + (x - 0.3) ** 2) / 0.25**2),
            0.5 + 0.3 * y - 0.2 * x,
        ]
    )


def delaunay_vertices(ds: Dataset, overlay_shape, jitter_seed: int, ring_points: int = 10) -> tuple[np.ndarray, int]:
    """Image-plane vertices: a jittered Overlay of the mask plus a ring of circle edge points appended last."""
    overlay = aa.image_mesh.Overlay(shape=overlay_shape).image_plane_mesh_grid_from(mask=ds.imaging.mask)
    rng = np.random.default_rng(jitter_seed)
    interior = np.asarray(overlay.array) + rng.normal(scale=0.03, size=np.asarray(overlay.array).shape)
    ps = ds.imaging.mask.pixel_scales[0]
    vertices = aa.image_mesh.append_with_circle_edge_points(
        aa.Grid2DIrregular(interior), centre=ds.mask_centre, radius=ds.mask_radius + ps / 2.0, n_points=ring_points
    )
    return np.asarray(vertices.array if hasattr(vertices, "array") else vertices, dtype=np.float64), ring_points


def api_mesh(ds: Dataset, spec: MapperSpec) -> dict:
    """The mapper's "mesh" field; Delaunay vertices are traced through the lens when the source grid is."""
    if spec.mesh in RECTANGULAR_MESHES:
        return {"type": spec.mesh, "shape": [int(spec.shape[0]), int(spec.shape[1])]}
    if spec.mesh == "delaunay":
        vertices, zeroed = delaunay_vertices(ds, spec.overlay_shape, jitter_seed=DELAUNAY_JITTER_SEED)
        if spec.traced:
            vertices = sis_trace(vertices, LENS_CENTRE, LENS_THETA_E)
        return {"type": "delaunay", "vertices": vertices.tolist(), "zeroed_pixels": zeroed}
    raise ValueError(spec.mesh)


def aa_mesh(mesh_dict: dict) -> tuple[Any, Any]:
    """The autoarray mesh for an API mesh dict, and its source-plane mesh grid (None for rectangular meshes)."""
    if mesh_dict["type"] == "rectangular_uniform":
        return aa.mesh.RectangularUniform(shape=tuple(mesh_dict["shape"])), None
    if mesh_dict["type"] == "rectangular_bilinear_adapt_density":
        return aa.mesh.RectangularBilinearAdaptDensity(shape=tuple(mesh_dict["shape"])), None
    verts = np.asarray(mesh_dict["vertices"])
    mesh = aa.mesh.Delaunay(pixels=len(verts) - mesh_dict["zeroed_pixels"], zeroed_pixels=mesh_dict["zeroed_pixels"])
    return mesh, aa.Grid2DIrregular(verts)


def check_interpolated_grids(ds: Dataset, interpolator, grid, mesh_grid, sub_traced, use_border: bool) -> None:
    """Assert that the grid autoarray interpolates is the supplied (traced) one, relocated if the border relocator is
    on, and that Delaunay interpolates between the supplied vertices (relocated likewise)."""
    relocator = ds.imaging.grids.border_relocator
    used = np.asarray(interpolator.data_grid.over_sampled.array)
    used_slim = np.asarray(interpolator.data_grid.array)
    want_grid = relocator.relocated_grid_from(grid=grid) if use_border else grid
    np.testing.assert_allclose(used, np.asarray(want_grid.over_sampled.array), rtol=0, atol=1e-13)
    np.testing.assert_allclose(used_slim, np.asarray(want_grid.array), rtol=0, atol=1e-13)
    if sub_traced is not None:
        if use_border:
            assert not np.allclose(used, sub_traced), "border relocation changed nothing"
        else:
            np.testing.assert_array_equal(used, sub_traced)
    if mesh_grid is not None:
        want_verts = relocator.relocated_mesh_grid_from(grid=grid, mesh_grid=mesh_grid) if use_border else mesh_grid
        verts_used = np.asarray(interpolator.mesh_grid.array)
        np.testing.assert_allclose(verts_used, np.asarray(want_verts.array), rtol=0, atol=1e-13)


def build_mapper(ds: Dataset, spec: MapperSpec, settings_dict: dict) -> Built:
    """The mapper's API dict (mesh, optional traced source grids, regularization, adapt image) and its aa.Mapper."""
    api: dict = {"type": "mapper", "mesh": api_mesh(ds, spec)}
    grid = ds.imaging.grids.pixelization
    sub_traced = None
    if spec.traced:
        grid, sub_traced, slim_traced = traced_grid_for(ds)
        api["source_grid"] = sub_traced.tolist()
        api["source_grid_slim"] = slim_traced.tolist()
    api["regularization"] = api_regularization(spec.reg)
    adapt = None
    if spec.reg in NEEDS_ADAPT_IMAGE:
        api["adapt_image"] = ds.adapt_slim.tolist()
        adapt = aa.Array2D(values=ds.adapt_slim, mask=ds.imaging.mask)
    use_border = bool(settings_dict["use_border_relocator"])

    def make(settings, xp):
        mesh, mesh_grid = aa_mesh(api["mesh"])
        regularization = regularization_from(api["regularization"])
        aa.Pixelization(mesh=mesh, regularization=regularization)  # autoarray's own compatibility check
        interpolator = mesh.interpolator_from(
            source_plane_data_grid=grid,
            source_plane_mesh_grid=mesh_grid,
            border_relocator=ds.imaging.grids.border_relocator if use_border else None,
            adapt_data=adapt,
            xp=xp,
        )
        check_interpolated_grids(ds, interpolator, grid, mesh_grid, sub_traced, use_border)
        return aa.Mapper(interpolator=interpolator, regularization=regularization, settings=settings, xp=xp)

    return Built(api=api, make=make)


def build_basis(ds: Dataset, spec: BasisSpec) -> Built:
    """The basis' API dict (its images) and the ImageBasis autoarray inverts."""
    images = basis_images(ds)
    api = {"type": "basis", "images": images.tolist(), "regularization": api_regularization(spec.reg)}

    def make(settings, xp):
        reg = regularization_from(api["regularization"])
        return ImageBasis(ds.imaging.grids.lp, images, regularization=reg, settings=settings, xp=xp)

    return Built(api=api, make=make)


def build_gaussians(spec: GaussiansSpec) -> Built:
    """The gaussians' API dict; autogalaxy builds the objects themselves (see extraction.run_autogalaxy)."""
    api = {
        "type": "gaussians",
        "centre": [float(spec.centre[0]), float(spec.centre[1])],
        "ell_comps": [float(spec.ell_comps[0]), float(spec.ell_comps[1])],
        "sigmas": spec.sigmas.tolist(),
        "regularization": None,
    }
    return Built(api=api, make=None)


def build_linear_object(ds: Dataset, spec: Any, settings_dict: dict) -> Built:
    """Dispatch on the spec's kind."""
    if spec.kind == "mapper":
        return build_mapper(ds, spec, settings_dict)
    if spec.kind == "basis":
        return build_basis(ds, spec)
    return build_gaussians(spec)


def unit_gaussian_image(grid, spec: GaussiansSpec, sigma: float) -> np.ndarray:
    """Our reading of autogalaxy's unit-intensity elliptical Gaussian (exp(-(q^2 x'^2 + y'^2)/(2 sigma^2)), no
    normalisation prefactor), averaged over the lp sub-grid; used only to check what autogalaxy returned."""
    e1, e2 = spec.ell_comps
    f = min(np.hypot(e1, e2), 0.999)
    q = (1 - f) / (1 + f)
    phi = 0.5 * np.degrees(np.arctan2(e1, e2))
    if phi < -45:
        phi += 180
    sub = np.asarray(grid.over_sampled.array)
    dy, dx = sub[:, 0] - spec.centre[0], sub[:, 1] - spec.centre[1]
    c, s = np.cos(np.radians(phi)), np.sin(np.radians(phi))
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    img = np.exp(-(q**2 * xr**2 + yr**2) / (2 * sigma**2))
    n = np.asarray(grid.over_sample_size.array).astype(int)
    return img.reshape(len(n), n[0] ** 2).mean(axis=1)
