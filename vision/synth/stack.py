"""Generated microscope focus stacks with exact truth: known surfaces, known z step, defocus blur, noise.

Optics: a telecentric microscope (constant mm/px) looking down; the blur of a point at height h in
the slice focused at z is a disc of diameter ``2 * NA * |h - z|`` (mm), modelled as a Gaussian of
sigma = diameter / 4, combined with a fixed optical blur. A spatially varying blur is rendered by
*gathering*: the albedo is pre-blurred at a ladder of sigmas and each pixel interpolates between
the two levels that bracket its own blur (exact for locally flat surfaces; at height steps it is
the usual approximation). Then shot + read noise and an 8-bit sRGB sensor (`render.sensor`).

Scenes:

* `pin_stack` -- pins of a `BoardScene` seen from above (board, gold pad, flange top, barrel-top
  annulus, dark domed plunger), each surface textured so it has something to focus on; truth per
  pin from `vision.synth.truth.pin_truth`.
* `pad_stack` / `pad_top_image` -- one mating pad (warp dome/bow/saddle, Gaussian dents, V-groove
  scratches, oxide ellipses, grain) with truth: ``macro_pv_um``, scratch lengths, oxidation area
  fraction, the exact height map.

Coordinates: the stage (optical axis) is at board ``stage_xy_mm``; image +u = board +x,
image -v = board +y; the calibration record's plane origin is the optical axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.record import CalibrationRecord, TelecentricModel
from vision.stack_io import FocusStack, stack_from_arrays
from vision.synth import render as R
from vision.synth.scene import BoardScene, PadCondition
from vision.synth.truth import dome_centre_mm, pin_point_mm, pin_truth, tip_xyz_mm

__all__ = ["MicroCamera", "SynthStack", "render_focus_stack", "pin_stack", "pad_surface", "pad_stack", "pad_top_image", "micro_record"]


@dataclass(frozen=True)
class MicroCamera:
    mm_per_px: float = 0.009
    width_px: int = 480
    height_px: int = 360
    numerical_aperture: float = 0.08
    optical_sigma_px: float = 0.5
    camera_id: str = "MICRO_SYN"


@dataclass
class SynthStack:
    stack: FocusStack
    record: CalibrationRecord
    height_mm: np.ndarray  # (H, W) exact surface height per pixel (board z)
    truth: dict
    camera: MicroCamera
    extra: dict = field(default_factory=dict)


#: a barrel top under solder in the mono stack: matte, it sends little of the coaxial light back into a small
#: aperture (rendered wick_gap barrel tops, blurred with the gold around them, read 0.44-0.68 of gold ones)
SOLDER_ALBEDO = 0.40


def micro_record(cam: MicroCamera) -> CalibrationRecord:
    """Exact telecentric record of the generator's microscope: plane origin on the optical axis."""
    s = cam.mm_per_px
    return CalibrationRecord(
        camera_id=cam.camera_id,
        model="telecentric",
        plane="board",
        image_size_px=(cam.width_px, cam.height_px),
        telecentric=TelecentricModel(A=[[1 / s, 0.0], [0.0, -1 / s]], t_px=[cam.width_px / 2 - 0.5, cam.height_px / 2 - 0.5]),
        rms_px=0.0,
        mm_per_px=s,
        mm_per_px_std=0.0,
        rotation_deg=0.0,
        rotation_std_deg=0.0,
        notes="generator microscope (exact)",
    )


def _grid_mm(cam: MicroCamera, stage_xy_mm) -> tuple[np.ndarray, np.ndarray]:
    """Board (x, y) mm of every pixel centre, each (H, W)."""
    v, u = np.mgrid[0 : cam.height_px, 0 : cam.width_px].astype(np.float64)
    x = stage_xy_mm[0] + (u - (cam.width_px / 2 - 0.5)) * cam.mm_per_px
    y = stage_xy_mm[1] - (v - (cam.height_px / 2 - 0.5)) * cam.mm_per_px
    return x, y


def render_focus_stack(height_mm: np.ndarray, albedo: np.ndarray, z_mm, cam: MicroCamera, *, seed: int = 0,
                       exposure: float = 0.9, full_well_e: float = 10000.0, read_noise_e: float = 5.0) -> np.ndarray:
    """Slices (N, H, W[, 3]) uint8 of a surface `height_mm` (H, W) with reflectance `albedo` (H, W[, 3])."""
    rng = np.random.default_rng(seed)
    alb = albedo.astype(np.float32)
    k = 2 * cam.numerical_aperture / cam.mm_per_px / 4.0  # sigma px per mm of defocus
    zs = np.asarray(z_mm, float)
    smax = math.hypot(k * float(np.max(np.abs(height_mm[..., None] - zs))), cam.optical_sigma_px)
    levels = np.concatenate([[cam.optical_sigma_px], cam.optical_sigma_px * np.geomspace(1.25, max(smax / cam.optical_sigma_px, 1.3), 14)])
    bank = np.stack([cv2.GaussianBlur(alb, (0, 0), float(s), borderType=cv2.BORDER_REFLECT) for s in levels])
    out = []
    for z in zs:
        sig = np.sqrt((k * (height_mm - z)) ** 2 + cam.optical_sigma_px**2).astype(np.float32)
        j = np.clip(np.searchsorted(levels, sig) - 1, 0, len(levels) - 2)
        lo, hi = levels[j], levels[j + 1]
        w = np.clip((sig - lo) / (hi - lo), 0, 1).astype(np.float32)
        a = np.take_along_axis(bank, j[None, ..., None] if alb.ndim == 3 else j[None], axis=0)[0]
        b = np.take_along_axis(bank, (j + 1)[None, ..., None] if alb.ndim == 3 else (j + 1)[None], axis=0)[0]
        ww = w[..., None] if alb.ndim == 3 else w
        img = a * (1 - ww) + b * ww
        out.append(R.sensor(img, rng, exposure=exposure, full_well_e=full_well_e, read_noise_e=read_noise_e))
    return np.stack(out)


# -- pins ---------------------------------------------------------------------------------------------
def _paint(zbuf, alb, where, z, value):
    upd = where & (z > zbuf)
    zbuf[upd] = z[upd]
    alb[upd] = value[upd] if np.ndim(value) else value


def _disc_plane(x, y, centre, axis, radius):
    """Footprint and z of a disc of `radius` perpendicular to `axis` centred at `centre` (3,)."""
    dx, dy = x - centre[0], y - centre[1]
    z = centre[2] - (axis[0] * dx + axis[1] * dy) / axis[2]
    return dx * dx + dy * dy <= radius * radius, z


def pin_stack(scene: BoardScene, stage_xy_mm, z_mm, *, cam: MicroCamera | None = None, seed: int = 0,
              texture: float = 0.12) -> SynthStack:
    """Focus stack of the pins of `scene` under a microscope centred at board `stage_xy_mm`.

    Heights are exact per pixel (z-buffer of the visible surfaces); the truth lists every pin in the
    view with the rendered-dev pin schema.
    """
    cam = cam or MicroCamera()
    g = scene.pin_geometry
    rng = np.random.default_rng(seed)
    x, y = _grid_mm(cam, stage_xy_mm)
    H, W = x.shape
    tex = 1 + texture * R.smooth_noise((H, W), rng, sigma_px=1.2)
    zbuf = np.zeros((H, W))
    alb = np.full((H, W), 0.18, np.float32)
    dome_px = np.zeros((H, W), bool)
    blur_h = np.full((H, W), np.nan)  # height that sets each pixel's blur, where it is not its own
    in_view = []
    hw, hh = 0.5 * W * cam.mm_per_px + g.flange_radius_mm, 0.5 * H * cam.mm_per_px + g.flange_radius_mm
    for pin in scene.pins:
        dx, dy = pin.nominal_xy_mm[0] - stage_xy_mm[0], pin.nominal_xy_mm[1] - stage_xy_mm[1]
        if not pin.present or abs(dx) > hw or abs(dy) > hh:
            continue
        axis = pin.axis_dir()
        pad_c = np.array([*pin.nominal_xy_mm, scene.pad_top_z_mm])
        _paint(zbuf, alb, *_disc_plane(x, y, pad_c, np.array([0, 0, 1.0]), scene.pad_diameter_mm / 2), 0.45)
        fl = pin_point_mm(pin, scene, g.flange_thickness_mm)
        _paint(zbuf, alb, *_disc_plane(x, y, fl, axis, g.flange_radius_mm), 0.55)
        bt = pin_point_mm(pin, scene, g.flange_thickness_mm + g.barrel_length_mm)
        # gold mirrors the coaxial light; solder wicked over the barrel top into the plunger gap scatters it
        _paint(zbuf, alb, *_disc_plane(x, y, bt, axis, g.barrel_radius_mm), SOLDER_ALBEDO if pin.solder_in_plunger_gap else 0.85)
        dc = dome_centre_mm(pin, scene)
        tip = tip_xyz_mm(pin, scene)
        cap = g.dome_radius_mm - math.sqrt(g.dome_radius_mm**2 - g.plunger_radius_mm**2)
        rim = tip - axis * cap
        foot, _ = _disc_plane(x, y, rim, axis, g.plunger_radius_mm)
        rr2 = (x - dc[0]) ** 2 + (y - dc[1]) ** 2
        zd = dc[2] + np.sqrt(np.clip(g.dome_radius_mm**2 - rr2, 0, None))
        _paint(zbuf, alb, foot, zd, 0.10)
        mine = foot & (zbuf == zd)
        dome_px |= mine
        blur_h[mine] = rim[2]
        # the pin counts as in view when its plunger is inside the image
        cx, cy = rim[0] - stage_xy_mm[0], rim[1] - stage_xy_mm[1]
        if abs(cx) < 0.5 * W * cam.mm_per_px - g.plunger_radius_mm and abs(cy) < 0.5 * H * cam.mm_per_px - g.plunger_radius_mm:
            in_view.append(pin)
    # machined/plated surfaces carry fine texture; the polished dome does not (a dark, smooth mirror)
    albedo = np.clip(np.where(dome_px, alb, alb * tex), 0.01, 1.0)
    # the polished dome is a featureless dark mirror: what the lens resolves there is the outline of
    # the rim, so dome pixels are blurred as the rim is (a gathering renderer would otherwise blur the
    # outline's inner side by the dome heights above it and bias the rim's focus upwards)
    imgs = render_focus_stack(np.where(np.isnan(blur_h), zbuf, blur_h), albedo, z_mm, cam, seed=seed + 1)
    meta = {"target": "pins", "items": [p.id for p in in_view], "stage_xy_mm": [float(v) for v in stage_xy_mm]}
    st = stack_from_arrays(list(imgs), z_mm, source="synthetic pin stack", meta=meta)
    truth = {"pins": [pin_truth(p, scene) for p in in_view], "z_step_mm": float(np.median(np.diff(z_mm)))}
    return SynthStack(st, micro_record(cam), zbuf.astype(np.float32), truth, cam)


# -- pads ---------------------------------------------------------------------------------------------
def pad_surface(pad: PadCondition, x: np.ndarray, y: np.ndarray, *, pad_top_z_mm: float = 0.05, rng=None,
                grain_um: float = 0.0):
    """Exact pad geometry on a grid of board points (mm).

    Returns ``(height_mm, inside, macro_mm, groove_depth_mm, oxide_weight)`` each (H, W); ``macro_mm``
    is warp + dents only (what flatness measures), grooves and grain excluded.
    """
    u, v = x - pad.center_xy_mm[0], y - pad.center_xy_mm[1]
    a, b = pad.size_mm[0] / 2, pad.size_mm[1] / 2
    inside = (np.abs(u) <= a) & (np.abs(v) <= b)
    pv = pad.warp_pv_um * 1e-3
    if pad.warp_shape == "saddle":
        macro = pv * ((u / a) * (v / b) + 1) / 2
    elif pad.warp_shape == "dome":
        macro = pv * (1 - ((u / a) ** 2 + (v / b) ** 2) / 2)
    elif pad.warp_shape == "bow_x":
        macro = pv * (1 - (u / a) ** 2)
    else:
        macro = np.zeros_like(u)
    for d in pad.dents:
        c, s = d["center_pad_mm"], d["sigma_mm"]
        macro = macro - d["depth_um"] * 1e-3 * np.exp(-((u - c[0]) ** 2 + (v - c[1]) ** 2) / (2 * s * s))
    groove = np.zeros_like(u)
    for sc in pad.scratches:
        p0, p1 = np.asarray(sc["p0_pad_mm"], float), np.asarray(sc["p1_pad_mm"], float)
        d = p1 - p0
        L = float(np.hypot(*d))
        t = np.clip(((u - p0[0]) * d[0] + (v - p0[1]) * d[1]) / (L * L), 0, 1)
        dist = np.hypot(u - (p0[0] + t * d[0]), v - (p0[1] + t * d[1]))
        groove = np.maximum(groove, sc["depth_um"] * 1e-3 * np.clip(1 - dist / (sc["width_mm"] / 2), 0, 1))
    ox = np.zeros_like(u)
    for e in pad.oxidation:
        c, (ra, rb), ang = e["center_pad_mm"], e["radii_mm"], math.radians(e.get("angle_deg", 0.0))
        du, dv = u - c[0], v - c[1]
        p = (du * math.cos(ang) + dv * math.sin(ang)) / ra
        q = (-du * math.sin(ang) + dv * math.cos(ang)) / rb
        ox = np.maximum(ox, (p * p + q * q <= 1).astype(float))
    h = np.where(inside, pad_top_z_mm + macro - groove, 0.0)
    if grain_um > 0 and rng is not None:
        h = h + np.where(inside, grain_um * 1e-3 * R.smooth_noise(u.shape, rng, sigma_px=2.0), 0.0)
    return h, inside, np.where(inside, macro, np.nan), groove, ox * inside


GOLD = np.array([0.78, 0.62, 0.28], np.float32)  # linear RGB reflectance of clean ENIG gold
OXIDE = np.array([0.30, 0.20, 0.12], np.float32)  # brown oxide seen through thin gold
MASK_GREEN = np.array([0.05, 0.16, 0.08], np.float32)


def _pad_albedo(h, inside, groove, ox, x_step_mm, rng, *, texture=0.22, sigma_px=1.5):
    """(texture: the stack generator gives the gold a visible grain so depth from focus has
    something to find; the top image uses a faint one, as plated gold looks at 10 um/px)"""

    gy, gx = np.gradient(h, x_step_mm)
    slope = np.hypot(gx, gy)
    shade = 1.0 / (1.0 + (slope / 0.15) ** 2)  # steep parts send the coaxial light away
    tex = 1 + texture * R.smooth_noise(h.shape, rng, sigma_px=sigma_px)
    col = GOLD[None, None, :] * (1 - ox[..., None]) + OXIDE[None, None, :] * ox[..., None]
    col = col * (shade * tex)[..., None]
    col = col * (1 - 0.75 * (groove > 0))[..., None]
    board = MASK_GREEN[None, None, :] * (1 + 0.3 * R.smooth_noise(h.shape, rng, sigma_px=2.0))[..., None]
    return np.where(inside[..., None], col, board).astype(np.float32)


def _pad_truth(pad: PadCondition, macro: np.ndarray, ox: np.ndarray, inside: np.ndarray) -> dict:
    m = macro[inside]
    # peak-to-valley of the macro shape about its best plane, as the rendered-dev truth defines it
    return {
        "id": pad.id,
        "macro_range_um": float((np.nanmax(m) - np.nanmin(m)) * 1e3),
        "scratches": [{"length_mm": float(np.hypot(*np.subtract(s["p1_pad_mm"], s["p0_pad_mm"]))), **s} for s in pad.scratches],
        "oxidation_area_fraction": float(ox[inside].mean()),
        "warp": pad.warp_shape,
        "dents": pad.dents,
    }


def _pv_about_plane(x, y, z) -> float:
    A = np.column_stack([np.ones_like(x), x, y])
    c, *_ = np.linalg.lstsq(A, z, rcond=None)
    d = z - A @ c
    return float(d.max() - d.min())


def pad_stack(pad: PadCondition, z_mm, *, cam: MicroCamera | None = None, pad_top_z_mm: float = 0.05, seed: int = 0,
              colour: bool = False, stage_xy_mm=None) -> SynthStack:
    """Focus stack of one mating pad under the microscope (default 4.2 um/px, NA 0.12)."""
    cam = cam or MicroCamera(mm_per_px=0.0042, numerical_aperture=0.12)
    rng = np.random.default_rng(seed)
    st_xy = stage_xy_mm if stage_xy_mm is not None else pad.center_xy_mm
    x, y = _grid_mm(cam, st_xy)
    h, inside, macro, groove, ox = pad_surface(pad, x, y, pad_top_z_mm=pad_top_z_mm, rng=rng, grain_um=0.25)
    alb = _pad_albedo(h, inside, groove, ox, cam.mm_per_px, rng)
    if not colour:
        alb = alb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    imgs = render_focus_stack(h, alb, z_mm, cam, seed=seed + 1)
    truth = _pad_truth(pad, macro, ox, inside)
    truth["macro_pv_um"] = _pv_about_plane(x[inside], y[inside], macro[inside]) * 1e3
    truth["z_step_mm"] = float(np.median(np.diff(z_mm)))
    meta = {"target": f"pad:{pad.id}", "stage_xy_mm": [float(v) for v in st_xy]}
    st = stack_from_arrays(list(imgs), z_mm, source=f"synthetic pad stack {pad.id}", meta=meta)
    return SynthStack(st, micro_record(cam), h.astype(np.float32), truth, cam, extra={"inside": inside, "groove": groove, "oxide": ox})


def pad_top_image(pads: list[PadCondition], *, mm_per_px: float = 0.01, size_px=(640, 480), center_mm=None, seed: int = 0,
                  pad_top_z_mm: float = 0.05):
    """Colour top image (H, W, 3) uint8 of several pads (sharp, telecentric) and the truth per pad.

    Returns ``(image, record, truth)``; ``truth[id]`` has the pad's centre in pixels too.
    """
    rng = np.random.default_rng(seed)
    cam = MicroCamera(mm_per_px=mm_per_px, width_px=size_px[0], height_px=size_px[1], optical_sigma_px=0.6, camera_id="TOP_SYN")
    if center_mm is None:
        center_mm = np.mean([p.center_xy_mm for p in pads], axis=0)
    x, y = _grid_mm(cam, center_mm)
    H, W = x.shape
    alb = np.zeros((H, W, 3), np.float32)
    truth = {}
    any_inside = np.zeros((H, W), bool)
    for p in pads:
        h, inside, macro, groove, ox = pad_surface(p, x, y, pad_top_z_mm=pad_top_z_mm, rng=rng)
        a = _pad_albedo(h, inside, groove, ox, mm_per_px, rng, texture=0.06, sigma_px=1.0)
        alb = np.where(inside[..., None], a, alb)
        any_inside |= inside
        t = _pad_truth(p, macro, ox, inside)
        t["center_px"] = [(p.center_xy_mm[0] - center_mm[0]) / mm_per_px + W / 2 - 0.5, -(p.center_xy_mm[1] - center_mm[1]) / mm_per_px + H / 2 - 0.5]
        truth[p.id] = t
    board = MASK_GREEN[None, None, :] * (1 + 0.3 * R.smooth_noise((H, W), rng, sigma_px=2.0))[..., None]
    alb = np.where(any_inside[..., None], alb, board)
    img = R.optical_blur(alb, cam.optical_sigma_px)
    out = R.sensor(img, rng, exposure=1.0, full_well_e=9000.0, read_noise_e=5.0)
    rec = micro_record(cam)
    return out, rec, truth
