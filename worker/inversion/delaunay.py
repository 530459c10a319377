"""Delaunay meshes: topology from Qhull on the host, geometry in JAX (docs/maths.md#meshes-and-interpolation).

The triangulation (``scipy.spatial.Delaunay`` on the (y, x) vertices, default options, so co-circular ties break
exactly as in autoarray), point location (``find_simplex``) and nearest vertices (``cKDTree``) run on the host
through ``jax.pure_callback``; they return integers only. Barycentric weights, dual areas and split points are
computed in JAX from the traced coordinates.

A triangulation Qhull refuses (or non-finite vertices) is not an exception: the host functions return the
"failed" sentinel (no simplex, no edge, every point outside the hull), :func:`interpolate` reports it as
``valid`` = False, and the evaluation returns it in ``triangulation_valid``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _qhull(vertices: np.ndarray):
    """``scipy.spatial.Delaunay`` of finite (S, 2) float64 vertices, or None where Qhull refuses them."""
    from scipy.spatial import Delaunay, QhullError

    if not np.all(np.isfinite(vertices)):
        return None
    try:
        return Delaunay(vertices)
    except QhullError:
        return None


def _host_triangulate(vertices):
    v = np.asarray(vertices, dtype=np.float64)
    s = v.shape[0]
    simplices = np.full((2 * s, 3), -1, dtype=np.int32)
    edges = np.full((3 * s, 2), -1, dtype=np.int32)
    tri = _qhull(v)
    if tri is None:
        return simplices, edges
    simplices[: len(tri.simplices)] = tri.simplices
    pairs = np.concatenate([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]], tri.simplices[:, [0, 2]]])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    edges[: len(pairs)] = pairs
    return simplices, edges


def _host_locate(vertices, points):
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    tri = _qhull(v) if np.all(np.isfinite(p)) else None
    if tri is None:
        return np.full(p.shape[0], -1, np.int32), np.zeros(p.shape[0], np.int32)
    simplex = tri.find_simplex(p).astype(np.int32)
    nearest = np.zeros(p.shape[0], np.int32)
    outside = simplex < 0
    if outside.any():
        nearest[outside] = cKDTree(v).query(p[outside], k=1)[1]
    return simplex, nearest


def triangulate(vertices: jnp.ndarray):
    """Simplices (2S, 3) int32 and unique edges (3S, 2) int32 (i < j) of the Delaunay triangulation of the
    (S, 2) float64 ``vertices`` (y, x; arcsec), −1 padded. One host call (sequential under ``vmap``). Never
    raises: vertices Qhull refuses, or non-finite ones, give all −1 (no simplex, no edge)."""
    s = vertices.shape[0]
    shapes = (jax.ShapeDtypeStruct((2 * s, 3), jnp.int32), jax.ShapeDtypeStruct((3 * s, 2), jnp.int32))
    return jax.pure_callback(_host_triangulate, shapes, vertices, vmap_method="sequential")


def locate(vertices: jnp.ndarray, points: jnp.ndarray):
    """For each of the (M, 2) float64 ``points``: the index of the simplex of :func:`triangulate` containing it
    ((M,) int32, −1 outside the hull) and, outside the hull, its nearest vertex ((M,) int32; 0 inside). One host
    call. Never raises: a failed triangulation or non-finite input puts every point outside, nearest vertex 0."""
    m = points.shape[0]
    shapes = (jax.ShapeDtypeStruct((m,), jnp.int32), jax.ShapeDtypeStruct((m,), jnp.int32))
    return jax.pure_callback(_host_locate, shapes, vertices, points, vmap_method="sequential")


def _twice_area(a, b, c):
    """|(b − a) × (c − a)|: twice the area of triangle (a, b, c)."""
    u, v = b - a, c - a
    return jnp.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])


def barycentric(vertices, simplices, points, simplex, nearest):
    """Mappings (M, 3) int32 and weights (M, 3) float64 of the (M, 2) ``points``, given ``simplex`` and
    ``nearest`` from :func:`locate` and the (S, 2) ``vertices`` and (2S, 3) ``simplices`` they refer to.

    Inside triangle (p0, p1, p2): w_0 = A(p1,p2,q)/ΣA, w_1 = A(p0,p2,q)/ΣA, w_2 = A(p0,p1,q)/ΣA (all zero if
    ΣA ≤ 1e-12). Outside the hull: mapping [nearest, −1, −1], weights [1, 0, 0].
    """
    inside = simplex >= 0
    tri = simplices[jnp.maximum(simplex, 0)]  # (M, 3)
    p = vertices[jnp.maximum(tri, 0)]  # (M, 3, 2)
    a0 = _twice_area(p[:, 1], p[:, 2], points)
    a1 = _twice_area(p[:, 0], p[:, 2], points)
    a2 = _twice_area(p[:, 0], p[:, 1], points)
    total = a0 + a1 + a2
    degenerate = total <= 1e-12
    w = jnp.stack([a0, a1, a2], axis=1) / jnp.where(degenerate, 1.0, total)[:, None]
    w = jnp.where(degenerate[:, None], 0.0, w)
    nn_map = jnp.stack([nearest, -jnp.ones_like(nearest), -jnp.ones_like(nearest)], axis=1)
    nn_w = jnp.zeros_like(w).at[:, 0].set(1.0)
    mappings = jnp.where(inside[:, None], tri, nn_map)
    weights = jnp.where(inside[:, None], w, nn_w)
    return mappings, weights


def dual_areas(vertices, simplices):
    """(S,) barycentric dual area of each vertex (arcsec²): A_i = Σ_{triangles ∋ i} area/3, from the (S, 2)
    ``vertices`` and (2S, 3) −1-padded ``simplices`` (padding ignored; all zero for a failed triangulation)."""
    valid = simplices[:, 0] >= 0
    safe = jnp.maximum(simplices, 0)
    p = vertices[safe]
    area = 0.5 * _twice_area(p[:, 0], p[:, 1], p[:, 2])
    contrib = jnp.where(valid, area / 3.0, 0.0)
    out = jnp.zeros(vertices.shape[0], vertices.dtype)
    for k in range(3):
        out = out.at[safe[:, k]].add(contrib)
    return out


def split_points(vertices, areas, areas_factor):
    """(4S, 2) cross points, four per vertex in this order: (y+δ, x), (y−δ, x), (y, x+δ), (y, x−δ) with
    δ = ``areas_factor``·sqrt(A_i), A_i the (S,) dual ``areas`` (arcsec²) of the (S, 2) ``vertices``."""
    d = areas_factor * jnp.sqrt(areas)
    y, x = vertices[:, 0], vertices[:, 1]
    pts = jnp.stack([jnp.stack([y + d, x], 1), jnp.stack([y - d, x], 1),
                     jnp.stack([y, x + d], 1), jnp.stack([y, x - d], 1)], axis=1)
    return pts.reshape(-1, 2)


def interpolate(vertices, points, split: bool, areas_factor: float = 0.5):
    """Everything a Delaunay mapper needs: one triangulation and one point location on the host.

    ``vertices`` (S, 2) and ``points`` (M, 2), float64 (y, x) arcsec. Returns a dict: ``mappings`` (M, 3) int32 and
    ``weights`` (M, 3) float64 (:func:`barycentric`), ``edges`` (3S, 2) int32 −1 padded, ``valid`` () bool (the
    triangulation has at least one simplex), and with ``split`` the ``split_mappings`` / ``split_weights``
    (4S, 3) of the cross points (:func:`split_points`). Never raises (docs/maths.md#meshes-and-interpolation).
    """
    simplices, edges = triangulate(vertices)
    out = {"edges": edges, "valid": simplices[0, 0] >= 0}
    if split:
        sp = split_points(vertices, dual_areas(vertices, simplices), areas_factor)
        queries = jnp.concatenate([points, sp])
    else:
        queries = points
    simplex, nearest = locate(vertices, queries)
    mappings, weights = barycentric(vertices, simplices, queries, simplex, nearest)
    m = points.shape[0]
    out["mappings"], out["weights"] = mappings[:m], weights[:m]
    if split:
        out["split_mappings"], out["split_weights"] = mappings[m:], weights[m:]
    return out
