"""Cases of a single mapper: every mesh x regularization, the positive-only solver, traced source grids, dataset B
and the unregularized diagonal."""

from __future__ import annotations

from . import deviations as dev
from .lens import LENS_CENTRE, LENS_THETA_E
from .regularizations import REGULARIZATIONS, SPLIT_SCHEMES
from .specs import Case, MapperSpec, settings_dict

MESH_SHORT = {
    "rectangular_uniform": "rect_uniform",
    "delaunay": "delaunay",
    "rectangular_bilinear_adapt_density": "bilinear_density",
}
MESHES = tuple(MESH_SHORT)
# 6x6 keeps the files small; rectangular_uniform + constant uses 7x7 (the oracle_example.py / spec 11.3 problem).
MESH_DEFAULT_SHAPE = {"rectangular_uniform": (6, 6), "delaunay": None, "rectangular_bilinear_adapt_density": (6, 6)}

TRACED_TEXT = (
    f"source_grid = the over-sampled pixelization grid ray-traced through a singular isothermal sphere "
    f"(theta_E={LENS_THETA_E}, centre={list(LENS_CENTRE)}: beta = theta - theta_E (theta-c)/|theta-c|), "
    "source_grid_slim = the traced pixel centres"
)
DATASET_B_TEXT = (
    "Dataset B: 14x18, pixel_scales (0.2, 0.25), origin (0.1, -0.15), annular mask (radii 0.35-1.1 around "
    "(0.25, -0.2), N=69), asymmetric 3x5 PSF. "
)


def mesh_shape(mesh: str, reg: str) -> tuple[int, int] | None:
    """The rectangular shape of a mesh x regularization case (None for Delaunay)."""
    if mesh == "rectangular_uniform" and reg == "constant":
        return (7, 7)
    return MESH_DEFAULT_SHAPE[mesh]


def shape_text(shape) -> str:
    """The shape as a description writes it: " 7x7" for (7, 7), "" for None."""
    return "" if shape is None else f" {shape[0]}x{shape[1]}"


def supported(mesh: str, reg: str) -> bool:
    """Whether autoarray accepts the combination (split schemes need a Delaunay mesh)."""
    return reg not in SPLIT_SCHEMES or mesh == "delaunay"


def reg_deviations(mesh: str, reg: str) -> list:
    """The deviations every case with this mesh and regularization exercises."""
    out = []
    if mesh == "rectangular_bilinear_adapt_density":
        out.append(dev.BILINEAR)
    if reg in ("adapt", "adapt_split"):
        out.append(dev.ADAPT4)
    if reg in SPLIT_SCHEMES:
        out.append(dev.SPLIT_JITTER)
    return out


def mesh_regularization_cases() -> list[Case]:
    """Every supported mesh x regularization, image-plane grid, positive/negative solver (dataset A)."""
    cases = []
    for mesh in MESHES:
        for reg in REGULARIZATIONS:
            if not supported(mesh, reg):
                continue
            shape = mesh_shape(mesh, reg)
            cases.append(
                Case(
                    name=f"{MESH_SHORT[mesh]}__{reg}__posneg",
                    dataset="A",
                    objects=[MapperSpec(mesh=mesh, shape=shape, reg=reg)],
                    settings=settings_dict(),
                    description=f"{mesh}{shape_text(shape)} mapper on the image-plane grid, regularization {reg}, "
                    "positive/negative solver (np.linalg.solve).",
                    deviations=reg_deviations(mesh, reg),
                )
            )
    return cases


def positive_only_cases() -> list[Case]:
    """Positive-only solver with / without edge zeroing, constant regularization. The adaptive rectangular mesh is
    run on the traced grid (what it is designed for; on the unlensed grid its 16 populated nodes fit so poorly that
    the NNLS zeroes the edge ring by itself and edge zeroing changes nothing)."""
    cases = []
    for mesh in MESHES:
        shape = mesh_shape(mesh, "constant")
        traced = mesh == "rectangular_bilinear_adapt_density"
        for edge in (True, False):
            cases.append(
                Case(
                    name=f"{MESH_SHORT[mesh]}__constant__pos_{'edge' if edge else 'noedge'}"
                    + ("__traced" if traced else ""),
                    dataset="A_lensed" if traced else "A",
                    objects=[MapperSpec(mesh=mesh, shape=shape, reg="constant", traced=traced)],
                    settings=settings_dict(positive_only=True, edge=edge),
                    description=f"{mesh}{shape_text(shape)} mapper, constant regularization, positive-only solver "
                    f"(NumPy fnnls), edge zeroing {'on' if edge else 'off'}"
                    + (f"; {TRACED_TEXT}, no border relocation" if traced else "")
                    + ". jax_figure_of_merit: the same case on the JAX path (jaxnnls PDIP).",
                    deviations=reg_deviations(mesh, "constant")
                    + ([dev.EDGE] if edge else [])
                    + ([dev.TRACED_SLIM] if traced else []),
                )
            )
    return cases


def traced_cases() -> list[Case]:
    """Traced (SIS) source grid, border relocation on / off."""
    cases = []
    for mesh, reg in (("rectangular_uniform", "constant"), ("delaunay", "constant")):
        shape = MESH_DEFAULT_SHAPE[mesh]
        for border in (True, False):
            extra = " Delaunay vertices are traced through the same lens." if mesh == "delaunay" else ""
            cases.append(
                Case(
                    name=f"{MESH_SHORT[mesh]}__{reg}__posneg__traced_{'border' if border else 'noborder'}",
                    dataset="A_lensed",
                    objects=[MapperSpec(mesh=mesh, shape=shape, reg=reg, traced=True)],
                    settings=settings_dict(border=border),
                    description=f"{mesh}{shape_text(shape)} + {reg}, {TRACED_TEXT}; border relocator "
                    f"{'ON (dataset.grids.border_relocator passed to interpolator_from)' if border else 'off'}."
                    + extra,
                    deviations=[dev.TRACED_SLIM],
                )
            )
    cases.append(
        Case(
            name="delaunay__adapt_split__posneg__traced_border",
            dataset="A_lensed",
            objects=[MapperSpec(mesh="delaunay", reg="adapt_split", traced=True)],
            settings=settings_dict(border=True),
            description=f"delaunay + adapt_split (the PyAutoLens default source), {TRACED_TEXT}; border relocator ON; "
            "traced vertices (also relocated).",
            deviations=[dev.TRACED_SLIM, dev.ADAPT4, dev.SPLIT_JITTER],
        )
    )
    cases.append(
        Case(
            name="bilinear_density__constant__posneg__traced_noborder",
            dataset="A_lensed",
            objects=[MapperSpec(mesh="rectangular_bilinear_adapt_density", shape=(6, 6), reg="constant", traced=True)],
            settings=settings_dict(border=False),
            description=f"rectangular_bilinear_adapt_density 6x6 + constant, {TRACED_TEXT}; no border relocation.",
            deviations=[dev.TRACED_SLIM, dev.BILINEAR],
        )
    )
    return cases


def dataset_b_cases() -> list[Case]:
    """The non-square dataset B (pixel scales (0.2, 0.25), origin (0.1, -0.15), annular mask, 3x5 PSF)."""
    cases = []
    for mesh, shape, reg in (
        ("rectangular_uniform", (6, 8), "constant"),
        ("rectangular_uniform", (6, 8), "adapt"),
        ("delaunay", None, "constant"),
        ("rectangular_bilinear_adapt_density", (6, 6), "constant"),
    ):
        name_shape = "" if shape is None else f"_{shape[0]}x{shape[1]}"
        cases.append(
            Case(
                name=f"{MESH_SHORT[mesh]}{name_shape}__{reg}__posneg__datasetB",
                dataset="B",
                objects=[MapperSpec(mesh=mesh, shape=shape, reg=reg, overlay_shape=(5, 6))],
                settings=settings_dict(),
                description=DATASET_B_TEXT + f"{mesh}{shape_text(shape)} + {reg}, positive/negative.",
                deviations=reg_deviations(mesh, reg),
            )
        )
    return cases


def unregularized_diagonal_cases() -> list[Case]:
    """A non-default value added to the diagonal of F for unregularized objects."""
    return [
        Case(
            name="rect_uniform__null__posneg__diag1e-5",
            dataset="A",
            objects=[MapperSpec(mesh="rectangular_uniform", shape=(6, 6), reg="null")],
            settings=settings_dict(diag=1e-5),
            description="rectangular_uniform 6x6 mapper without regularization; "
            "no_regularization_add_to_curvature_diag_value = 1e-5 added to every diagonal entry of F.",
        )
    ]
