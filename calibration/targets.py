"""Calibration-target detection: chessboard, ChArUco and circle grids.

Every detector takes one image and returns a `TargetDetection`: the image points (N, 2)
in pixels (OpenCV convention, (u, v) = (column, row), integers at pixel centres), the
matching target points (N, 3) in mm on the target plane (z = 0), and the integer target
indices (N, 2) of each point. A view in which the target is not found returns a detection
with ``ok=False`` and the reason -- never an exception -- so that a multi-view calibration
can reject that view by name and go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError

_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.01)


@dataclass
class TargetDetection:
    """Target points found in one image.

    Attributes
    ----------
    ok : bool
        True when the target was found.
    image_points_px : ndarray, shape (N, 2), float64
        (u, v) pixel positions.
    object_points_mm : ndarray, shape (N, 3), float64
        The same points on the target plane in mm (z = 0).
    indices : ndarray, shape (N, 2), int
        Integer target indices (i along the target's first axis, j along the second).
    reason : str
        Why the target was not found (empty when ``ok``).
    meta : dict
        Detector details (method, counts, refinement window).
    """

    ok: bool
    image_points_px: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    object_points_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    indices: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), int))
    reason: str = ""
    meta: dict = field(default_factory=dict)

    @classmethod
    def failed(cls, reason: str, **meta) -> "TargetDetection":
        return cls(ok=False, reason=reason, meta=meta)

    @property
    def n_points(self) -> int:
        return int(len(self.image_points_px))


def parse_grid(text: str, *, what: str = "--inner-corners") -> tuple[int, int]:
    """Parse ``"9x6"`` into (9, 6) (columns, rows); raise InputError on anything else."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        cols, rows = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"{what} {text!r} is not of the form COLSxROWS, e.g. 9x6") from None
    if cols < 2 or rows < 2:
        raise InputError(f"{what} {text!r}: need at least 2 in each direction, e.g. 9x6")
    return cols, rows


def to_gray_u8(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3|4) uint8/uint16/float image -> (H, W) uint8, contrast kept."""
    img = np.asarray(image)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[..., :3]
        if img.shape[2] != 3:
            raise InputError(f"image has {img.shape[2]} channels; give mono or RGB images")
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    elif img.ndim != 2:
        raise InputError(f"image has shape {img.shape}; expected (H, W) or (H, W, 3)")
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    if img.dtype == np.uint16:
        return (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        hi = 1.0 if float(np.nanmax(img)) <= 1.0 else 255.0
        return np.clip(img.astype(np.float32) * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8)
    raise InputError(f"unsupported image sample type {img.dtype}; give 8- or 16-bit images")


def _subpix_half_window(points: np.ndarray, grid: tuple[int, int] | None = None) -> int:
    """Half-size of the cornerSubPix window: about a third of the nearest-corner spacing, 2..5 px.

    A window reaching the neighbouring corners biases the result (it pulls in their edges),
    so it scales with the spacing; 5 (an 11x11 window) is OpenCV's own choice for
    ordinary photographs of a chessboard.
    """
    p = points.reshape(-1, 2)
    if len(p) < 2:
        return 2
    d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    spacing = float(np.median(d.min(axis=1)))
    return int(np.clip(round(spacing / 3.0), 2, 5))


def refine_corners(gray: np.ndarray, points_px: np.ndarray, *, half_window: int | None = None) -> np.ndarray:
    """Subpixel refinement of X-corners (saddle points) with cv2.cornerSubPix.

    Parameters
    ----------
    gray : ndarray, shape (H, W), uint8
    points_px : ndarray, shape (N, 2)
        Initial (u, v) positions.
    half_window : int, optional
        cornerSubPix half window (the window is 2*h+1 px wide); default from the corner spacing.

    Returns
    -------
    ndarray, shape (N, 2), float64
    """
    pts = np.asarray(points_px, np.float32).reshape(-1, 1, 2).copy()
    h = half_window if half_window is not None else _subpix_half_window(pts)
    out = cv2.cornerSubPix(gray, pts, (h, h), (-1, -1), _SUBPIX_CRITERIA)
    return out.reshape(-1, 2).astype(np.float64)


def detect_chessboard(
    image: np.ndarray,
    inner_corners: tuple[int, int],
    *,
    square_mm: float = 1.0,
    partial: bool = False,
    half_window: int | None = None,
) -> TargetDetection:
    """Find the inner corners of a chessboard and refine them to subpixel accuracy.

    Uses ``cv2.findChessboardCornersSB`` (fast pass, then the classic detector, then the
    exhaustive/accurate SB pass for hard views), followed by ``cv2.cornerSubPix``.
    With ``partial=True`` a board only partly in view is accepted
    (``findChessboardCornersSBWithMeta`` with ``CALIB_CB_LARGER``/``CALIB_CB_MARKER``):
    the visible corners keep their board indices.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    inner_corners : (int, int)
        Inner corners per row and per column (columns, rows), e.g. (9, 6).
    square_mm : float, keyword-only
        Square size; sets the scale of ``object_points_mm``.
    partial : bool, keyword-only
        Accept a board that is larger than the field of view or partly hidden.
    half_window : int, optional, keyword-only
        cornerSubPix half window; default about a third of the corner spacing (2..5 px).

    Returns
    -------
    TargetDetection
    """
    cols, rows = (int(v) for v in inner_corners)
    if cols < 2 or rows < 2:
        raise InputError(f"inner corners {cols}x{rows}: need at least 2x2")
    if not square_mm > 0:
        raise InputError(f"square size {square_mm} mm must be > 0")
    gray = to_gray_u8(image)
    if partial:
        flags = cv2.CALIB_CB_LARGER | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY | cv2.CALIB_CB_NORMALIZE_IMAGE
        ok, corners, meta = cv2.findChessboardCornersSBWithMeta(gray, (cols, rows), flags)
        if not ok or corners is None:
            return TargetDetection.failed(f"no {cols}x{rows} chessboard (or part of one) found", method="sb-partial")
        # meta is (rows', cols') of the found grid; 0 marks a corner that is not a valid board corner
        meta = np.asarray(meta)
        r2, c2 = meta.shape
        pts = corners.reshape(r2, c2, 2)
        jj, ii = np.nonzero(meta != 0)
        ij = np.column_stack([ii, jj])
        pts = pts[jj, ii]
        method = "sb-partial"
    else:
        method = "sb"
        ok, corners = cv2.findChessboardCornersSB(gray, (cols, rows), flags=cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not ok:
            method = "classic"
            ok, corners = cv2.findChessboardCorners(gray, (cols, rows), flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not ok:
            method = "sb-accurate"
            ok, corners = cv2.findChessboardCornersSB(
                gray, (cols, rows), flags=cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY | cv2.CALIB_CB_NORMALIZE_IMAGE
            )
        if not ok or corners is None:
            return TargetDetection.failed(f"no {cols}x{rows} chessboard found", method="sb+classic")
        pts = corners.reshape(-1, 2)
        ij = np.indices((cols, rows)).T.reshape(-1, 2)
    h = half_window if half_window is not None else _subpix_half_window(pts)
    pts = refine_corners(gray, pts, half_window=h)
    obj = np.zeros((len(ij), 3))
    obj[:, :2] = ij * float(square_mm)
    return TargetDetection(
        ok=True,
        image_points_px=pts,
        object_points_mm=obj,
        indices=ij.astype(int),
        meta={"method": method, "subpix_half_window_px": h, "n_expected": cols * rows},
    )


def charuco_board(squares: tuple[int, int], square_mm: float, marker_mm: float, dictionary: str, *, legacy: bool = False):
    """Build a ``cv2.aruco.CharucoBoard`` (squares = (columns, rows)); raise InputError for bad options."""
    name = dictionary.upper()
    if not name.startswith("DICT_"):
        name = "DICT_" + name
    if not hasattr(cv2.aruco, name):
        raise InputError(f"unknown ArUco dictionary {dictionary!r}; use e.g. DICT_6X6_250, DICT_4X4_50, DICT_5X5_100")
    if not (0 < marker_mm < square_mm):
        raise InputError(f"marker size {marker_mm} mm must be > 0 and smaller than the square size {square_mm} mm")
    cols, rows = (int(v) for v in squares)
    if cols < 2 or rows < 2:
        raise InputError(f"ChArUco board {cols}x{rows} squares: need at least 2x2")
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
    board = cv2.aruco.CharucoBoard((cols, rows), float(square_mm), float(marker_mm), d)
    if legacy:
        board.setLegacyPattern(True)
    return board


def detect_charuco(
    image: np.ndarray,
    squares: tuple[int, int],
    *,
    square_mm: float,
    marker_mm: float,
    dictionary: str = "DICT_6X6_250",
    legacy: bool = False,
    min_corners: int = 6,
) -> TargetDetection:
    """Find the ChArUco corners of a board (OpenCV >= 4.7 ``cv2.aruco.CharucoDetector``).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    squares : (int, int)
        Squares per row and per column (columns, rows), e.g. (5, 7); the board has
        (columns-1)*(rows-1) ChArUco corners.
    square_mm, marker_mm : float, keyword-only
        Chessboard square and marker side lengths.
    dictionary : str, keyword-only
        ArUco dictionary name, e.g. ``"DICT_6X6_250"``.
    legacy : bool, keyword-only
        Boards made before OpenCV 4.6 with an even number of rows use the legacy layout.
    min_corners : int, keyword-only
        Fewer ChArUco corners than this rejects the view (a pose needs at least 4 non-collinear).

    Returns
    -------
    TargetDetection
        ``indices`` are the ChArUco corner (i, j); ``meta`` holds the marker count.
    """
    board = charuco_board(squares, square_mm, marker_mm, dictionary, legacy=legacy)
    gray = to_gray_u8(image)
    det = cv2.aruco.CharucoDetector(board)
    ch_corners, ch_ids, _mk_corners, mk_ids = det.detectBoard(gray)
    n_markers = 0 if mk_ids is None else int(len(mk_ids))
    n = 0 if ch_ids is None else int(len(ch_ids))
    if n < max(4, int(min_corners)):
        return TargetDetection.failed(
            f"ChArUco board not found ({n_markers} markers, {n} corners; need {max(4, int(min_corners))})", markers=n_markers
        )
    ids = ch_ids.reshape(-1).astype(int)
    cols = int(squares[0]) - 1
    ij = np.column_stack([ids % cols, ids // cols])
    obj = np.asarray(board.getChessboardCorners(), np.float64)[ids]
    return TargetDetection(
        ok=True,
        image_points_px=ch_corners.reshape(-1, 2).astype(np.float64),
        object_points_mm=obj,
        indices=ij,
        meta={"method": "charuco", "markers": n_markers, "n_expected": cols * (int(squares[1]) - 1)},
    )


def detect_circles(
    image: np.ndarray,
    grid: tuple[int, int],
    *,
    spacing_mm: float,
    asymmetric: bool = False,
    contrast: str = "auto",
) -> TargetDetection:
    """Find a circle grid (``cv2.findCirclesGrid``), dark-on-light or light-on-dark.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    grid : (int, int)
        Circles per row and number of rows (columns, rows), OpenCV's pattern size
        (e.g. (4, 11) for OpenCV's asymmetric pattern).
    spacing_mm : float, keyword-only
        OpenCV's grid unit: the centre distance of neighbours in a symmetric grid; for an
        asymmetric grid the distance between rows (neighbours in one row are 2*spacing apart).
    asymmetric : bool, keyword-only
    contrast : {"auto", "dark", "light"}, keyword-only
        Dark circles on a light ground, light circles on a dark ground, or try both.

    Returns
    -------
    TargetDetection
        Object point of circle (i, j): symmetric (i*s, j*s); asymmetric ((2i + j mod 2)*s, j*s).
    """
    cols, rows = (int(v) for v in grid)
    if cols < 2 or rows < 2:
        raise InputError(f"circle grid {cols}x{rows}: need at least 2x2")
    if not spacing_mm > 0:
        raise InputError(f"circle spacing {spacing_mm} mm must be > 0")
    if contrast not in ("auto", "dark", "light"):
        raise InputError(f"contrast {contrast!r} must be auto, dark or light")
    gray = to_gray_u8(image)
    flags = cv2.CALIB_CB_ASYMMETRIC_GRID if asymmetric else cv2.CALIB_CB_SYMMETRIC_GRID
    flags |= cv2.CALIB_CB_CLUSTERING
    tries = {"auto": ["dark", "light"], "dark": ["dark"], "light": ["light"]}[contrast]
    for c in tries:
        g = gray if c == "dark" else 255 - gray  # the default blob detector looks for dark blobs
        for fl in (flags & ~cv2.CALIB_CB_CLUSTERING, flags):
            ok, centers = cv2.findCirclesGrid(g, (cols, rows), flags=fl)
            if ok:
                break
        if ok:
            ji = np.indices((cols, rows)).T.reshape(-1, 2)
            i, j = ji[:, 0], ji[:, 1]
            x = (2 * i + (j % 2)) if asymmetric else i
            obj = np.column_stack([x * spacing_mm, j * spacing_mm, np.zeros(len(i))]).astype(np.float64)
            return TargetDetection(
                ok=True,
                image_points_px=centers.reshape(-1, 2).astype(np.float64),
                object_points_mm=obj,
                indices=ji.astype(int),
                meta={"method": "circles", "contrast": c, "asymmetric": asymmetric, "n_expected": cols * rows},
            )
    kind = "asymmetric" if asymmetric else "symmetric"
    return TargetDetection.failed(f"no {cols}x{rows} {kind} circle grid found ({' or '.join(tries)} circles)")
