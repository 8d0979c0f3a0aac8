"""The generator's side view: a telecentric camera looking along +y at a 1 x N row of pins.

Two images of the same scene, as the rendered-dev SIDE_A camera takes them:

* ``back``: a diffuse panel behind the row -> a mono silhouette (board, pads, fillets, pins dark);
* ``front``: lit from the camera side -> RGB, gold plating and grey solder clearly different.

Every part is drawn orthographically at its true 3-D position (world frame = the top camera's
plane frame, the board placed by `vision.synth.truth.board_to_world`): a tilted cylinder is the
hull of its projected end discs, the tip dome a circle of the dome radius. In the front image the
colour of a cylinder pixel is decided by the axial height of the visible (front) surface point, so
the solder's top edge lies exactly where the truth puts it. The truth comes from
`vision.synth.truth`, never from the image.

Projection (OpenCV pixel centres), plane coordinates (X, Z) = world (x, z):
``u = W/2 - 0.5 + (X - cx)/s``, ``v = H/2 - 0.5 - (Z - cz)/s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.record import CalibrationRecord
from vision.synth import render as R
from vision.synth import truth as T
from vision.synth.scene import BoardScene, PinState, TopCamera
from vision.synth.top import top_calibration_record

__all__ = ["SideCamera", "fit_side_camera", "side_affine", "side_calibration_record", "render_side", "side_view_truth",
           "SynthRow", "synth_row"]

BACKLIGHT = 0.92  # linear radiance of the diffuse panel
OPAQUE = 0.004  # what little light an opaque part lets through (scatter)
BACKGROUND = R.rgb8(62, 62, 64)  # front-lit: dark grey space behind the row
FR4_EDGE = R.rgb8(150, 150, 110)
GOLD = R.rgb8(214, 184, 92)
SOLDER = R.rgb8(172, 172, 178)
PASTE = R.rgb8(140, 140, 146)
PAD_GOLD = R.rgb8(205, 184, 112)
SEAM_MM = 0.03  # overlap of adjacent silhouette parts


@dataclass(frozen=True)
class SideCamera:
    """A telecentric side camera looking along +y at the vertical plane of the row.

    ``center_mm`` is the world point (x, z) at the image centre; image +u is world +x, image +v is
    world -z.
    """

    mm_per_px: float = 0.010
    width_px: int = 1600
    height_px: int = 560
    center_mm: tuple[float, float] = (0.0, 1.6)
    camera_id: str = "SIDE_SYN"


def side_affine(camera: SideCamera) -> tuple[np.ndarray, np.ndarray]:
    """Plane (x, z) mm -> pixel affine map ``uv = A @ xz + t``; A (2, 2) px/mm, t (2,) px."""
    s = camera.mm_per_px
    cx, cz = camera.center_mm
    A = np.array([[1.0 / s, 0.0], [0.0, -1.0 / s]])
    t = np.array([camera.width_px / 2.0 - 0.5 - cx / s, camera.height_px / 2.0 - 0.5 + cz / s])
    return A, t


def fit_side_camera(scene: BoardScene, *, mm_per_px: float = 0.010, width_px: int | None = None,
                    height_px: int = 560, board_row_frac: float = 0.785, camera_id: str = "SIDE_SYN") -> SideCamera:
    """A side camera centred on the row's pins, the board surface at `board_row_frac` of the height.

    Without `width_px` the image holds every pad plus 1 mm, rounded up to 16 px.
    """
    if mm_per_px <= 0:
        raise ValueError(f"mm_per_px must be > 0, got {mm_per_px}")
    xs = T.board_to_world(scene, np.array([p.nominal_xy_mm for p in scene.pins], float))[:, 0]
    cx = float((xs.min() + xs.max()) / 2)
    if width_px is None:
        span = xs.max() - xs.min() + scene.pad_diameter_mm + 2.0
        width_px = int(math.ceil(span / mm_per_px / 16) * 16)
    # z = 0 on row v0 = frac * H: cz = (v0 - (H/2 - 0.5)) * s
    v0 = board_row_frac * height_px - 0.5
    cz = (v0 - (height_px / 2.0 - 0.5)) * mm_per_px
    return SideCamera(mm_per_px=mm_per_px, width_px=int(width_px), height_px=int(height_px), center_mm=(cx, cz),
                      camera_id=camera_id)


def side_calibration_record(camera: SideCamera, *, scale_u_rel: float = 1e-4, rotation_u_deg: float = 0.005) -> CalibrationRecord:
    """Exact telecentric record of `camera` for the vertical plane (plane coordinates (x, z) of the world).

    The side camera's plane -> pixel map has the same form as the top camera's (image +v = plane -Y), so
    the record is the top generator's, relabelled for the vertical plane. The model is exact; the stated
    standard uncertainties are those of a typical checkerboard fit.
    """
    as_top = TopCamera(mm_per_px=camera.mm_per_px, width_px=camera.width_px, height_px=camera.height_px,
                       center_mm=camera.center_mm, camera_id=camera.camera_id)
    rec = top_calibration_record(as_top, scale_u_rel=scale_u_rel, rotation_u_deg=rotation_u_deg)
    return rec.model_copy(update={
        "plane": "vertical",
        "target": {"type": "synthetic", "note": "exact model of the generator's side camera"},
        "notes": "synthetic: exact telecentric model of the generator's side camera (vertical plane); uncertainties nominal",
    })


# -- geometry in the world ----------------------------------------------------------------------------------
def _rz(scene: BoardScene) -> np.ndarray:
    m = T.board_to_world_matrix(scene)
    out = np.eye(3)
    out[:2, :2] = m[:2, :2]
    return out


@dataclass
class _Pin:
    """One pin's world geometry: base centre, axis, rotation (local -> world)."""

    base: np.ndarray
    axis: np.ndarray
    rot: np.ndarray
    state: PinState


def _world_pin(scene: BoardScene, pin: PinState) -> _Pin:
    Rz = _rz(scene)
    base = T.board_to_world(scene, T.base_xyz_mm(pin, scene))
    rot = Rz @ T.pin_rotation(pin)
    return _Pin(base, rot[:, 2], rot, pin)


class _Proj:
    def __init__(self, camera: SideCamera):
        self.A, self.t = side_affine(camera)
        self.s = camera.mm_per_px

    def px(self, p_world) -> np.ndarray:
        p = np.asarray(p_world, float)
        return self.A @ np.array([p[0], p[2]]) + self.t

    def world_xz(self, U, V):
        s = self.s
        return (U - self.t[0]) * s, -(V - self.t[1]) * s

    def disc_M(self, rot: np.ndarray, r: float) -> np.ndarray:
        """Pixel semi-axes of a disc of radius r perpendicular to the axis rot[:, 2]."""
        M = self.A @ (rot[[0, 2], :2] * r)  # (x, z) rows of the two in-plane unit vectors
        # a disc seen exactly edge-on is a segment: give it a negligible thickness so the SDF stays defined
        Uu, sv, Vt = np.linalg.svd(M)
        return Uu @ np.diag(np.maximum(sv, 1e-3)) @ Vt


def _cyl_front(pp: _Proj, pin: _Pin, r: float, U, V):
    """Visible (front, smallest y) surface point of the infinite cylinder of radius r about the pin axis.

    Returns (axial mm from the base centre, normal (h, w, 3), hit mask)."""
    x, z = pp.world_xz(U, V)
    a, b = pin.axis, pin.base
    # p(y) = (x, y, z); d = p - b; radial = d - (d.a) a; |radial|^2 = r^2, quadratic in y
    d0 = np.stack([x - b[0], np.full_like(x, -b[1]), z - b[2]], axis=-1)
    e = np.array([0.0, 1.0, 0.0])
    ea = e - (e @ a) * a
    d0a = d0 - (d0 @ a)[..., None] * a
    qa = float(ea @ ea)
    qb = 2 * (d0a @ ea)
    qc = (d0a * d0a).sum(-1) - r * r
    disc = qb * qb - 4 * qa * qc
    hit = disc >= 0
    y = (-qb - np.sqrt(np.maximum(disc, 0))) / (2 * qa)
    d = d0 + y[..., None] * e
    axial = d @ a
    n = d - axial[..., None] * a
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    return axial, n, hit


def _shade(colour: np.ndarray, n: np.ndarray, spec: float) -> np.ndarray:
    """Key light from the camera side and up-left, fill from the camera: diffuse + a soft specular band."""
    facing = np.clip(-n[..., 1], 0, 1)
    k = 0.30 + 0.55 * facing**2 + spec * np.exp(-(((n[..., 0] + 0.35) / 0.18) ** 2)) * facing
    return colour[None, None, :] * k[..., None]


# -- rendering ------------------------------------------------------------------------------------------------
def render_side(scene: BoardScene, camera: SideCamera | None = None, *, seed: int = 0, blur_sigma_px: float | None = None,
                noise: bool = True, supersample: int = 4) -> tuple[np.ndarray, np.ndarray, CalibrationRecord, dict]:
    """Render the side view of a one-row `scene`.

    Parameters
    ----------
    scene : a board with one row of pins (``scene.rows == 1``).
    camera : telecentric side camera; default `fit_side_camera(scene)`.
    seed : seeds the per-image variation (gain, blur, sensor) and the noise.
    blur_sigma_px : optical blur; default drawn from [0.5, 1.0] px.
    noise : False gives noise-free images.

    Returns
    -------
    back : (H, W) uint8 silhouette (sRGB-gamma mono).
    front : (H, W, 3) uint8 RGB, front-lit.
    record : the camera's `CalibrationRecord` (telecentric, vertical plane).
    truth : the truth document with ``views.side`` filled in (`side_view_truth`).
    """
    if scene.pin_geometry is None:
        raise ValueError("render_side draws pin boards; this scene has no pin_geometry")
    if scene.rows != 1 or any(p.row != 0 for p in scene.pins):
        raise ValueError(f"render_side draws a single row of pins; scene {scene.board_id} has {scene.rows} rows")
    camera = camera or fit_side_camera(scene)
    rng = np.random.default_rng(seed)
    gain_b = float(rng.uniform(0.9, 1.05))
    gain_f = float(rng.uniform(0.85, 1.15))
    sigma = float(rng.uniform(0.5, 1.0)) if blur_sigma_px is None else float(blur_sigma_px)
    full_well = float(rng.uniform(7000, 12000))
    read_noise = float(rng.uniform(5, 6))
    pp = _Proj(camera)
    H, W = camera.height_px, camera.width_px
    back = R.Canvas(H, W, channels=1, background=BACKLIGHT, supersample=supersample)
    front = R.Canvas(H, W, channels=3, background=BACKGROUND, supersample=supersample)
    pins = [_world_pin(scene, p) for p in scene.pins if p.present]

    _draw_board(back, front, scene, pp, rng)
    for p in pins:
        _draw_pin(back, front, scene, pp, p)

    out = []
    for canvas, gain in ((back, gain_b), (front, gain_f)):
        img = R.optical_blur(canvas.image, sigma) * gain
        if noise:
            img8 = R.sensor(img, rng, exposure=0.95, full_well_e=full_well, read_noise_e=read_noise)
        else:
            img8 = np.round(R.linear_to_srgb(np.clip(img * 0.95, 0, 1)) * 255).astype(np.uint8)
            if img8.ndim == 3 and img8.shape[2] == 1:
                img8 = img8[..., 0]
        out.append(img8)
    sensor_rec = {"full_well_e": full_well, "read_noise_e": read_noise, "adc_bits": 10, "optical_blur_sigma_px": sigma,
                  "gain_back": gain_b, "gain_front": gain_f, "noise": "Poisson(shot) + Gaussian(read)" if noise else "none",
                  "seed": seed}
    truth = T.board_truth(scene, views={"side": side_view_truth(scene, camera, sensor=sensor_rec)})
    return out[0], out[1], side_calibration_record(camera), truth


def _draw_board(back: R.Canvas, front: R.Canvas, scene: BoardScene, pp: _Proj, rng) -> None:
    Wb, Db, th = scene.size_mm
    corners = T.board_to_world(scene, np.array([[0, 0], [Wb, 0], [Wb, Db], [0, Db]], float))
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    u0, v0 = pp.px([x0, 0, 0])
    u1, v1 = pp.px([x1, 0, -th])
    rect = [[u0, v0], [u1, v0], [u1, v1], [u0, v1]]
    back.fill_polygon(rect, np.array([OPAQUE]), supersample=1)
    h, w = front.shape
    tex = 1.0 + 0.05 * R.smooth_noise((h, w), rng, sigma_px=2.0)

    def edge_colour(U, V):
        r0, c0 = int(V[0, 0]), int(U[0, 0])
        return FR4_EDGE[None, None, :] * tex[r0:r0 + U.shape[0], c0:c0 + U.shape[1], None]

    front.fill_polygon(rect, edge_colour, supersample=1)
    # pads (with paste where a pin is missing) and fiducials: discs of height pad_top_z seen edge-on
    discs = [(p.nominal_xy_mm, scene.pad_diameter_mm / 2, scene.pad_top_z_mm + (0.012 if not p.present and not p.bare_pad else 0.0),
              PASTE if (not p.present and not p.bare_pad) else PAD_GOLD) for p in scene.pins]
    discs += [(f, scene.fiducial_diameter_mm / 2, scene.pad_top_z_mm, PAD_GOLD) for f in scene.fiducials_xy_mm]
    for xy, r, ztop, col in discs:
        c = T.board_to_world(scene, np.asarray(xy, float))
        ua, va = pp.px([c[0] - r, 0, ztop])
        ub, vb = pp.px([c[0] + r, 0, -SEAM_MM])
        poly = [[ua, va], [ub, va], [ub, vb], [ua, vb]]
        back.fill_polygon(poly, np.array([OPAQUE]))
        front.fill_polygon(poly, col * 0.8)


def _draw_pin(back: R.Canvas, front: R.Canvas, scene: BoardScene, pp: _Proj, p: _Pin) -> None:
    g = scene.pin_geometry
    pin = p.state
    t_f, l_b = g.flange_thickness_mm, g.barrel_length_mm
    top_b = t_f + l_b
    wh = T.wicking_height_mm(pin, scene)
    dark = np.array([OPAQUE])

    def at(axial):
        return pp.px(p.base + p.axis * axial)

    # fillet: concave meniscus around the (untilted) base, from the pad rim up the flange side
    if pin.fillet and pin.seating_gap_mm <= 0:
        r_out = g.flange_radius_mm + T.FILLET_OVERHANG_MM
        rr = np.linspace(g.flange_radius_mm, r_out, 24)
        zz = scene.pad_top_z_mm + 0.13 * ((r_out - rr) / T.FILLET_OVERHANG_MM) ** 2
        bx = p.base[0]
        pts = [[bx - r, z] for r, z in zip(rr[::-1], zz[::-1])] + [[bx + r, z] for r, z in zip(rr, zz)]
        pts += [[bx + r_out, -SEAM_MM], [bx - r_out, -SEAM_MM]]
        poly = np.array([pp.px([x, 0, z]) for x, z in pts])
        back.fill_polygon(poly, dark)
        front.fill(R.sdf_polygon(poly), (*(poly.min(0) - 2), *(poly.max(0) + 2)),
                   lambda U, V: _fillet_colour(pp, bx, g.flange_radius_mm, U, V))

    def cyl(r, a0, a1, colour_fn):
        M = pp.disc_M(p.rot, r)
        # the silhouette parts overlap a little (hidden inside the wider part below) so that compositing
        # leaves no seam of backlight between them
        back.fill_ellipse(at(a0 - SEAM_MM if a0 > 0 else a0), M, dark, c1_px=at(a1))
        front.fill_ellipse(at(a0), M, colour_fn, c1_px=at(a1))

    def metal(r, boundary):
        """Gold above `boundary` (axial mm), solder below it."""
        def f(U, V):
            axial, n, _ = _cyl_front(pp, p, r, U, V)
            gold = _shade(GOLD, n, 0.9)
            grey = _shade(SOLDER, n, 0.5)
            return np.where((axial < boundary)[..., None], grey, gold)
        return f

    cyl(g.flange_radius_mm, 0.0, t_f, metal(g.flange_radius_mm, top_b + 1 if wh > 0 else -1.0))
    cyl(g.barrel_radius_mm, t_f, top_b, metal(g.barrel_radius_mm, wh))
    L_tip = g.axial_length_mm - pin.plunger_depression_mm
    r_d, r_p = g.dome_radius_mm, g.plunger_radius_mm
    dome_base = L_tip - r_d + math.sqrt(max(r_d**2 - r_p**2, 0.0))
    cyl(r_p, top_b, dome_base, metal(r_p, top_b + T.PLUNGER_GAP_MENISCUS_MM if pin.solder_in_plunger_gap else -1.0))
    if pin.solder_in_plunger_gap:
        cyl(r_p + 0.02, top_b, top_b + T.PLUNGER_GAP_MENISCUS_MM, metal(r_p + 0.02, top_b + 1.0))
    dc = p.base + p.axis * (L_tip - r_d)
    c = pp.px(dc)
    sphere_M = pp.A * r_d
    dsdf = R.sdf_intersection(R.sdf_ellipse_capsule(c, c, sphere_M),
                              R.sdf_ellipse_capsule(at(dome_base), at(L_tip + 1.0), pp.disc_M(p.rot, r_p)))
    dsdf_back = R.sdf_intersection(R.sdf_ellipse_capsule(c, c, sphere_M),
                                   R.sdf_ellipse_capsule(at(dome_base - SEAM_MM), at(L_tip + 1.0), pp.disc_M(p.rot, r_p)))
    box = R.ellipse_bbox(c, c, sphere_M)

    def dome_colour(U, V):
        x, z = pp.world_xz(U, V)
        dx, dz = x - dc[0], z - dc[2]
        dy = -np.sqrt(np.clip(r_d**2 - dx * dx - dz * dz, 0, None))
        n = np.stack([dx, dy, dz], -1) / r_d
        return _shade(GOLD, n, 0.9)

    back.fill(dsdf_back, box, dark)
    front.fill(dsdf, box, dome_colour)


def _fillet_colour(pp: _Proj, bx: float, r_f: float, U, V):
    x, _ = pp.world_xz(U, V)
    t = np.clip((np.abs(x - bx) - r_f) / T.FILLET_OVERHANG_MM, 0, 1)
    k = 0.5 + 0.4 * np.cos(np.pi * t / 2)
    return SOLDER[None, None, :] * k[..., None]


# -- truth ------------------------------------------------------------------------------------------------------
def side_view_truth(scene: BoardScene, camera: SideCamera, *, sensor: dict | None = None) -> dict:
    """``views.side`` of the truth schema: camera record, board line row, every pin's pixels.

    Besides rendered-dev's ``tip_px``, each present pin has ``base_center_px``, ``barrel_top_center_px``,
    ``tilt_xz_deg`` (the axis angle in the camera's x-z plane, + towards +x) and ``x_world_mm`` (base).
    """
    A, t = side_affine(camera)
    g = scene.pin_geometry
    pins = {}
    for pin in scene.pins:
        if not pin.present:
            continue
        p = _world_pin(scene, pin)
        tip = p.base + p.axis * (g.axial_length_mm - pin.plunger_depression_mm)
        bt = p.base + p.axis * (g.flange_thickness_mm + g.barrel_length_mm)
        pins[pin.id] = {
            "tip_px": T._f(A @ tip[[0, 2]] + t),
            "base_center_px": T._f(A @ p.base[[0, 2]] + t),
            "barrel_top_center_px": T._f(A @ bt[[0, 2]] + t),
            "tilt_xz_deg": float(math.degrees(math.atan2(p.axis[0], p.axis[2]))),
            "x_world_mm": float(p.base[0]),
        }
    cx, cz = camera.center_mm
    return {
        "name": camera.camera_id,
        "model": "orthographic (telecentric)",
        "width_px": camera.width_px,
        "height_px": camera.height_px,
        "mm_per_px": camera.mm_per_px,
        "look_at_target": [float(cx), 0.0, float(cz)],
        "view_dir_world": [0.0, 1.0, 0.0],
        "image_right_world": [1.0, 0.0, 0.0],
        "image_up_world": [0.0, 0.0, 1.0],
        "files": {"front_lit": "side_front.png", "backlit": "side_back.png"},
        "board_top_edge_v_px": float(t[1]),
        "sensor": sensor or {},
        "pins_in_image": pins,
    }


# -- convenience ----------------------------------------------------------------------------------------------------
@dataclass
class SynthRow:
    """One generated row: scene, side camera, both side images, calibration record, truth, recipe (dict)."""

    scene: BoardScene
    camera: SideCamera
    back: np.ndarray
    front: np.ndarray
    record: CalibrationRecord
    truth: dict
    recipe: dict


def synth_row(*, seed: int = 0, cols: int = 6, pitch_mm: float = 2.54, pin_type: str = "A", mask_color: str = "green",
              defect_rate: float = 0.0, mm_per_px: float = 0.010, width_px: int | None = None, noise: bool = True,
              blur_sigma_px: float | None = None, **board_kw) -> SynthRow:
    """Draw a random 1 x `cols` board (`vision.synth.boards.random_board`) and render its side view."""
    from vision.synth.boards import random_board

    scene = random_board(seed, rows=1, cols=cols, pitch_mm=pitch_mm, pin_type=pin_type, mask_color=mask_color,
                         defect_rate=defect_rate, **board_kw)
    cam = fit_side_camera(scene, mm_per_px=mm_per_px, width_px=width_px)
    back, front, rec, truth = render_side(scene, cam, seed=seed, noise=noise, blur_sigma_px=blur_sigma_px)
    return SynthRow(scene, cam, back, front, rec, truth, T.recipe_dict(scene, views=["side_front", "side_back"]))


def stress_row(seed: int = 0, *, cols: int = 6, pin_type: str = "A", pitch_mm: float = 2.54, max_tilt_deg: float = 6.0,
               max_gap_mm: float = 0.3, max_depression_mm: float = 0.5, max_wicking_mm: float = 1.6,
               p_each: float = 0.4) -> BoardScene:
    """A 1 x `cols` row whose every pin draws each side-view quantity independently over its whole range.

    Tilt uniform in [0, `max_tilt_deg`] at any azimuth; with probability `p_each` each: a seating gap in
    (0, `max_gap_mm`] (no fillet then), a plunger depression in (0, `max_depression_mm`], wicking in
    (0, `max_wicking_mm`]. Exercises combinations the defect catalogue of `random_board` never draws.
    """
    from vision.synth.boards import random_board

    rng = np.random.default_rng(10_000 + seed)
    scene = random_board(seed, rows=1, cols=cols, pitch_mm=pitch_mm, pin_type=pin_type, good_jitter=False,
                         board_id=f"SYN-STRESS-{pin_type}-{seed}")
    for p in scene.pins:
        p.tilt_deg = float(rng.uniform(0, max_tilt_deg))
        p.tilt_azimuth_deg = float(rng.uniform(0, 360))
        if rng.uniform() < p_each:
            p.seating_gap_mm, p.fillet = float(rng.uniform(0.005, max_gap_mm)), False
        if rng.uniform() < p_each:
            p.plunger_depression_mm = float(rng.uniform(0.01, max_depression_mm))
        if rng.uniform() < p_each:
            p.wicking_above_flange_mm = float(rng.uniform(0.02, max_wicking_mm))
        p.defects = ["stress"]
    return scene
