"""The generator's top view: a telecentric camera looking down on a board of pogo pins.

Every part is drawn orthographically at its true 3-D position (a tilted disc is an ellipse, a
tilted cylinder the hull of its end discs), bottom to top, so the geometry of the image is exact;
the shading is deliberately simple (a test instrument, not a path tracer). The truth comes from
`vision.synth.truth`, never from the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.record import CalibrationRecord, TelecentricModel
from vision.synth import render as R
from vision.synth import truth as T
from vision.synth.scene import BoardScene, PinState, TopCamera

LIGHTINGS = ("coaxial", "coaxial+ring")

# base colours (linear radiance, from sRGB 8-bit)
MASK = {"green": R.rgb8(52, 72, 58), "black": R.rgb8(28, 28, 30)}
GOLD = R.rgb8(236, 214, 140)  # flat polished gold facing the coaxial light
PAD_GOLD = R.rgb8(205, 184, 112)  # ENIG pad, slightly matte
GOLD_WALL = R.rgb8(70, 58, 30)  # gold surfaces seen edge-on (walls of a tilted pin)
SOLDER = R.rgb8(168, 168, 178)
PASTE = R.rgb8(132, 132, 140)
BORE = R.rgb8(16, 14, 10)
OUTSIDE = R.rgb8(4, 4, 4)
#: width of the edge break (chamfer) on the outer edge of the flange and barrel tops (mm)
EDGE_BREAK_MM = 0.03


def fit_top_camera(scene: BoardScene, *, mm_per_px: float = 0.014, margin_mm: float = 1.0,
                   camera_id: str = "TOP_SYN", multiple: int = 16) -> TopCamera:
    """A top camera whose image holds the whole placed board plus `margin_mm`, centred on it.

    The image size is rounded up to a multiple of `multiple` px.
    """
    if mm_per_px <= 0:
        raise ValueError(f"mm_per_px must be > 0, got {mm_per_px}")
    W, D = scene.size_mm[:2]
    corners = T.board_to_world(scene, np.array([[0, 0], [W, 0], [W, D], [0, D]], float))
    lo, hi = corners.min(axis=0) - margin_mm, corners.max(axis=0) + margin_mm
    size = (hi - lo) / mm_per_px
    w, h = (int(math.ceil(s / multiple) * multiple) for s in size)
    return TopCamera(mm_per_px=mm_per_px, width_px=w, height_px=h, center_mm=tuple(float(c) for c in (lo + hi) / 2),
                     camera_id=camera_id)


def top_calibration_record(camera: TopCamera, *, scale_u_rel: float = 1e-4, rotation_u_deg: float = 0.005) -> CalibrationRecord:
    """The exact telecentric record of `camera` (plane = board plane, plane frame = world frame).

    The model is exact; the stated standard uncertainties (`scale_u_rel` of the scale,
    `rotation_u_deg`) are those of a typical checkerboard calibration, so that downstream
    uncertainty propagation is exercised.
    """
    A, t = T.top_affine(camera)
    s = camera.mm_per_px
    u_a = scale_u_rel / s  # px/mm
    u_t = 0.02  # px
    cov = np.diag([u_a**2, (math.radians(rotation_u_deg) / s) ** 2, (math.radians(rotation_u_deg) / s) ** 2, u_a**2,
                   u_t**2, u_t**2])
    return CalibrationRecord(
        camera_id=camera.camera_id,
        model="telecentric",
        plane="board",
        image_size_px=(camera.width_px, camera.height_px),
        telecentric=TelecentricModel(A=A.tolist(), t_px=t.tolist(), cov=cov.tolist()),
        rms_px=0.0,
        mm_per_px=s,
        mm_per_px_std=s * scale_u_rel,
        rotation_deg=0.0,
        rotation_std_deg=rotation_u_deg,
        target={"type": "synthetic", "note": "exact model of the generator's camera"},
        created="2026-01-01T00:00:00+00:00",
        notes="synthetic: exact telecentric model of the generator's top camera; uncertainties are nominal",
    )


@dataclass
class _Ctx:
    scene: BoardScene
    camera: TopCamera
    L: np.ndarray  # board xy mm -> px linear part
    o: np.ndarray
    Linv: np.ndarray
    ring: float  # ring-light weight (0 = coaxial only)
    rng: np.random.Generator

    def px(self, p_board) -> np.ndarray:
        return self.L @ np.asarray(p_board, float)[:2] + self.o

    def board_xy(self, U, V) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre grids -> board x, y (mm)."""
        du, dv = U - self.o[0], V - self.o[1]
        return self.Linv[0, 0] * du + self.Linv[0, 1] * dv, self.Linv[1, 0] * du + self.Linv[1, 1] * dv


def _disc_M(ctx: _Ctx, rot: np.ndarray, radius_mm: float) -> np.ndarray:
    """Pixel semi-axis matrix of a disc of `radius_mm` perpendicular to the pin axis (rotation `rot`)."""
    return ctx.L @ (radius_mm * rot[:2, :2])


def render_top(scene: BoardScene, camera: TopCamera | None = None, *, seed: int = 0, lighting: str = "coaxial",
               blur_sigma_px: float | None = None, noise: bool = True, supersample: int = 4,
               exposure: float = 0.8) -> tuple[np.ndarray, CalibrationRecord, dict]:
    """Render the top view of `scene`.

    Parameters
    ----------
    scene : the board and its pins (with defects).
    camera : telecentric top camera; default `fit_top_camera(scene)`.
    seed : seeds everything random (texture, lighting variation, blur, sensor noise).
    lighting : ``"coaxial"`` or ``"coaxial+ring"`` (the ring light brightens sloped surfaces).
    blur_sigma_px : optical blur; default drawn from [0.5, 1.0] px.
    noise : False gives a noise-free image (for tests of geometry).
    supersample : coverage samples per pixel along each axis.
    exposure : radiance -> fraction of the full well.

    Returns
    -------
    image : (H, W, 3) uint8 RGB.
    record : the camera's `CalibrationRecord` (telecentric, plane board; plane frame = world frame).
    truth : the truth document (`vision.synth.truth.board_truth`) with ``views.top`` filled in.
    """
    if lighting not in LIGHTINGS:
        raise ValueError(f"lighting must be one of {LIGHTINGS}, got {lighting!r}")
    if scene.pin_geometry is None:
        raise ValueError("render_top draws pin boards; this scene has no pin_geometry")
    if scene.mask_color not in MASK:
        raise ValueError(f"mask_color must be one of {sorted(MASK)}, got {scene.mask_color!r}")
    camera = camera or fit_top_camera(scene)
    rng = np.random.default_rng(seed)
    # per-image variation, drawn first so the geometry never shifts the random stream
    gain = float(rng.uniform(0.85, 1.15))
    gradient = (float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1)))
    sigma = float(rng.uniform(0.5, 1.0)) if blur_sigma_px is None else float(blur_sigma_px)
    full_well = float(rng.uniform(7000, 12000))
    read_noise = float(rng.uniform(5, 6))
    ring = 0.0 if lighting == "coaxial" else float(rng.uniform(0.3, 0.5))

    L, o = T.board_to_top_linear(scene, camera)
    ctx = _Ctx(scene, camera, L, o, np.linalg.inv(L), ring, rng)
    H, W = camera.height_px, camera.width_px
    canvas = R.Canvas(H, W, background=OUTSIDE, supersample=supersample)

    _draw_board(canvas, ctx)
    for f in scene.fiducials_xy_mm:
        c = ctx.px([f[0], f[1]])
        canvas.fill_ellipse(c, ctx.L * (scene.fiducial_diameter_mm / 2), PAD_GOLD * (1 + 0.3 * ring))
    for pin in scene.pins:
        _draw_pin(canvas, ctx, pin)

    img = R.optical_blur(canvas.image, sigma)
    img *= R.lighting_field((H, W), gain=gain, gradient=gradient, vignetting=0.05)[..., None]
    if noise:
        out = R.sensor(img, rng, exposure=exposure, full_well_e=full_well, read_noise_e=read_noise)
    else:
        out = np.round(R.linear_to_srgb(np.clip(img * exposure, 0, 1)) * 255).astype(np.uint8)

    lighting_rec = {"mode": lighting, "gain": gain, "gradient_xy": list(gradient), "ring_weight": ring,
                    "vignetting": 0.05}
    sensor_rec = {"exposure_scale": exposure, "full_well_e": full_well, "read_noise_e": read_noise, "adc_bits": 10,
                  "output": "8-bit sRGB-gamma RGB", "optical_blur_sigma_px": sigma,
                  "noise": "Poisson(shot) + Gaussian(read)" if noise else "none", "supersample": supersample,
                  "seed": seed}
    truth = T.board_truth(scene, views={"top": T.top_view_truth(scene, camera, lighting=lighting_rec, sensor=sensor_rec)})
    return out, top_calibration_record(camera), truth


# -- drawing ----------------------------------------------------------------------------------------------
def _draw_board(canvas: R.Canvas, ctx: _Ctx) -> None:
    W, D = ctx.scene.size_mm[:2]
    poly = np.array([ctx.px(p) for p in ([0, 0], [W, 0], [W, D], [0, D])])
    h, w = canvas.shape
    tex = 1.0 + 0.06 * R.smooth_noise((h, w), ctx.rng, sigma_px=2.0) + 0.03 * R.smooth_noise((h, w), ctx.rng, sigma_px=12.0)
    base = MASK[ctx.scene.mask_color] * (1 + 0.4 * ctx.ring)

    def color(U, V):
        r0, c0 = int(V[0, 0]), int(U[0, 0])
        return base[None, None, :] * tex[r0:r0 + U.shape[0], c0:c0 + U.shape[1], None]

    canvas.fill_polygon(poly, color, supersample=1)


def _textured(ctx: _Ctx, colour: np.ndarray, amp: float):
    """A colour with fine seeded grain (matte surfaces: paste, pad)."""
    def f(U, V):
        n = ctx.rng.standard_normal(U.shape).astype(np.float32)
        return colour[None, None, :] * (1 + amp * n)[..., None]
    return f


def _draw_pin(canvas: R.Canvas, ctx: _Ctx, pin: PinState) -> None:
    sc, g = ctx.scene, ctx.scene.pin_geometry
    ring = ctx.ring
    eye = np.eye(3)
    pad_c = ctx.px(pin.nominal_xy_mm)
    pad_r = sc.pad_diameter_mm / 2
    canvas.fill_ellipse(pad_c, _disc_M(ctx, eye, pad_r), _textured(ctx, PAD_GOLD * (1 + 0.3 * ring), 0.04))
    if not pin.present:
        if not pin.bare_pad:
            canvas.fill_ellipse(pad_c, _disc_M(ctx, eye, pad_r * 0.85), _textured(ctx, PASTE * (1 + 0.3 * ring), 0.18))
        return

    rot = T.pin_rotation(pin)
    axis = pin.axis_dir()
    base = T.base_xyz_mm(pin, sc)

    def at(axial):  # pixel of the axis point `axial` mm above the base centre
        return ctx.px(base + axis * axial)

    wh = T.wicking_height_mm(pin, sc)
    t_f, l_b = g.flange_thickness_mm, g.barrel_length_mm
    top_b = t_f + l_b

    # fillet: concave solder meniscus around the flange, rotationally symmetric about the base
    if pin.fillet and pin.seating_gap_mm <= 0:
        r_out = g.flange_radius_mm + T.FILLET_OVERHANG_MM
        bx, by = base[0], base[1]

        def fillet_colour(U, V):
            x, y = ctx.board_xy(U, V)
            t = np.clip((np.hypot(x - bx, y - by) - g.flange_radius_mm) / T.FILLET_OVERHANG_MM, 0, 1)
            # a concave meniscus: steep against the flange (reflects the coaxial light away: dark),
            # flattening towards the pad (brighter); its middle slope catches some ring light. Shaped on the
            # path-traced fillets of rendered-dev: beside the flange a quarter of the gold's lightness (L*),
            # rising 2.2-3.3x to the foot with the ring light, 4.8-8.4x without (here 2.5-2.8x and 3.0-3.3x)
            k = 0.05 + 1.2 * t**2.5 + ring * 0.12 * np.sin(np.pi * t)
            return SOLDER[None, None, :] * k[..., None]

        canvas.fill_ellipse(ctx.px(base), _disc_M(ctx, eye, r_out), fillet_colour)

    wall = GOLD_WALL * (1 + 2.0 * ring)
    solder_wall = SOLDER * (0.3 + 0.5 * ring)
    M_f = _disc_M(ctx, rot, g.flange_radius_mm)
    canvas.fill_ellipse(at(0.0), M_f, solder_wall if wh > 0 else wall, c1_px=at(t_f))  # flange rim
    # machined top faces have a small edge break (chamfer) that sends the coaxial light away: a thin dark rim
    canvas.fill_ellipse(at(t_f), M_f, wall)
    canvas.fill_ellipse(at(t_f), _disc_M(ctx, rot, g.flange_radius_mm - EDGE_BREAK_MM),
                        SOLDER * 0.9 if wh > 0 else GOLD)  # flange top
    M_b = _disc_M(ctx, rot, g.barrel_radius_mm)
    if wh > 0:
        # concave meniscus in the flange/barrel corner: sloped, so darker
        canvas.fill_ellipse(at(t_f), _disc_M(ctx, rot, g.barrel_radius_mm + 0.12), SOLDER * (0.45 + 0.4 * ring))
    canvas.fill_ellipse(at(t_f), M_b, wall, c1_px=at(top_b))  # barrel wall
    if wh > t_f:
        canvas.fill_ellipse(at(t_f), M_b, solder_wall, c1_px=at(min(wh, top_b)))
    gap = pin.solder_in_plunger_gap
    canvas.fill_ellipse(at(top_b), M_b, solder_wall if gap else wall)  # edge break of the barrel top
    canvas.fill_ellipse(at(top_b), _disc_M(ctx, rot, g.barrel_radius_mm - EDGE_BREAK_MM),
                        SOLDER * 0.85 if gap else GOLD)  # barrel-top ring
    r_bore = g.plunger_radius_mm + T.BORE_CLEARANCE_MM
    canvas.fill_ellipse(at(top_b), _disc_M(ctx, rot, r_bore), SOLDER * 0.6 if gap else BORE)

    # plunger: cylinder from the barrel top to where the dome meets it, then the dome
    L_tip = g.axial_length_mm - pin.plunger_depression_mm
    r_d, r_p = g.dome_radius_mm, g.plunger_radius_mm
    dome_base = L_tip - r_d + math.sqrt(max(r_d**2 - r_p**2, 0.0))
    M_p = _disc_M(ctx, rot, r_p)
    canvas.fill_ellipse(at(top_b), M_p, wall, c1_px=at(dome_base))
    if gap:
        canvas.fill_ellipse(at(top_b), _disc_M(ctx, rot, r_p + 0.02), solder_wall,
                            c1_px=at(top_b + T.PLUNGER_GAP_MENISCUS_MM))
    dc = T.dome_centre_mm(pin, sc)

    def dome_colour(U, V):
        x, y = ctx.board_xy(U, V)
        s = np.clip(np.hypot(x - dc[0], y - dc[1]) / r_d, 0, 1)
        theta = np.arcsin(s)  # angle of the surface normal from +z
        k = 0.10 + 1.35 * np.exp(-((theta / 0.15) ** 2)) + ring * 0.9 * s**2
        return GOLD[None, None, :] * k[..., None]

    canvas.fill_ellipse(at(dome_base), M_p, dome_colour)
    # the part of the dome that bulges past its rim ellipse when tilted
    sphere_M = ctx.L * r_d
    dsdf = R.sdf_intersection(R.sdf_ellipse_capsule(ctx.px(dc), ctx.px(dc), sphere_M),
                              R.sdf_ellipse_capsule(at(dome_base), at(L_tip + 1.0), M_p))
    canvas.fill(dsdf, R.ellipse_bbox(ctx.px(dc), ctx.px(dc), sphere_M), dome_colour)


# -- convenience ------------------------------------------------------------------------------------------
@dataclass
class SynthBoard:
    """One generated board: scene, camera, top image, calibration record, truth and recipe (dicts)."""

    scene: BoardScene
    camera: TopCamera
    image: np.ndarray
    record: CalibrationRecord
    truth: dict
    recipe: dict


def synth_board(*, seed: int = 0, rows: int = 1, cols: int = 4, pitch_mm: float = 2.54, pin_type: str = "A",
                mask_color: str = "green", defect_rate: float = 0.0, mm_per_px: float = 0.02,
                lighting: str = "coaxial", noise: bool = True, blur_sigma_px: float | None = None,
                **board_kw) -> SynthBoard:
    """Draw a random board (`vision.synth.boards.random_board`) and render its top view."""
    from vision.synth.boards import random_board

    scene = random_board(seed, rows=rows, cols=cols, pitch_mm=pitch_mm, pin_type=pin_type, mask_color=mask_color,
                         defect_rate=defect_rate, **board_kw)
    cam = fit_top_camera(scene, mm_per_px=mm_per_px)
    img, rec, truth = render_top(scene, cam, seed=seed, lighting=lighting, noise=noise, blur_sigma_px=blur_sigma_px)
    return SynthBoard(scene, cam, img, rec, truth, T.recipe_dict(scene))
