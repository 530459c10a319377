"""The notes a case carries under "deviations": autoarray behaviour a re-implementation must decide on
(docs/numerics.md, "Deliberate differences", labelled B.n there) or a property of the case's data that a test
should know about."""

BILINEAR = (
    "Appendix B.1 (still present in 2026.10.26.1): RectangularBilinearAdaptDensity flattens mesh index (iy, ix) as "
    "(n - iy)*n + ix with iy, ix in [1, n-1], so only rows 2..n-1 and columns 1..n-2 receive non-zero weight (row "
    "n-1, the bottom edge row, is populated; rows 0-1 and columns 0, n-1 are empty); only shape[0] is used. The "
    "y-weights are the corrected bilinear ones (t on the upper index)."
)
ADAPT4 = (
    "Appendix B.6: Adapt-family regularization squares the per-pixel weight twice: effective coefficient "
    "(inner*p + outer*(1-p))**4."
)
EDGE = (
    "Appendix B.7: edge zeroing (positive-only solver only) assumes mappers are the last linear objects; zeroed "
    "pixels are exact zeros in the reconstruction but stay in F, H and C for the log-determinants."
)
MIXED_DET = (
    "Appendix B.8: with function lists + a mapper, regularization_term and both log-determinants use only the "
    "mapper block (reduced matrices); chi_squared uses the full model."
)
MIXED_PRECISION = (
    "Appendix B.9 / A (installed 2026.10.26.1, JAX path): mapper mapping matrix stored as float32, its PSF "
    "convolution rFFT'd in complex64 and multiplied/inverted in complex128 (fp64 out); the light-profile (gaussians) "
    "convolution runs fully in float32; F and D both use fp64 1/sigma (the snapshot's D/F inconsistency is fixed); "
    "solve, NNLS, log-dets fp64. The expected values are the JAX mixed-precision ones; compare with a loose tolerance "
    "(expected_fp64_figure_of_merit is the fp64 NumPy value of the same case)."
)
PADDED_BLURRING = (
    "Dataset A: unmasked pixels lie within half a PSF of the array edge, so autoarray pads the mask (15x15 -> 17x17) "
    "and the blurring region of the gaussians includes pixels OUTSIDE the supplied array (evaluated on the padded "
    "grid, sub size 1)."
)
TRACED_SLIM = (
    "Traced grid: autoarray also uses the traced slim grid (one point per image pixel): the border relocator fits its "
    "ellipse to the slim border pixels and the adaptive rectangular mesh builds its CDF from it. Here it is the traced "
    "pixel centres (as PyAutoLens traces dataset.grids.pixelization), sent as source_grid_slim (N, 2); it is NOT the "
    "mean of the traced sub-pixels."
)
SPLIT_JITTER = (
    "Split schemes: H is nearly singular (log det H may be negative); NumPy vs JAX log_det_regularization_matrix_term "
    "agree only to ~1e-8 absolute."
)
