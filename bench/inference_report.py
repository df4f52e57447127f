"""Markdown tables of ``bench/bench_inference.py`` records (see that file for the fields)."""

from __future__ import annotations

STAGES = ("load", "normalise", "tta_views", "forward", "tta_merge", "postprocess", "write")
#: network passes per image for each (solution family, TTA)
VIEWS = {("unet", "none"): 1, ("unet", "hflip"): 2, ("unet", "flip"): 4, ("unet", "d4"): 8,
         ("maskrcnn", "none"): 1, ("maskrcnn", "hflip"): 2, ("maskrcnn", "flip"): 2}


def _views(rec: dict) -> int:
    return VIEWS[("maskrcnn" if rec["config"].startswith("maskrcnn") else "unet", rec["tta"])]


def _ms(x: float | None) -> str:
    return "" if x is None else f"{1000 * x:.0f}"


def _rate(x: float) -> str:
    """images/s with enough digits for slow cases (0.004, not 0.00)."""
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def breakdown_table(records: list[dict], code: str = "new") -> str:
    """One row per (config, TTA, size): images/s, first image, ms per image per stage, memory."""
    head = ("| config | TTA | size | images | images/s (end to end) | CPU s per image | first image s | "
            + " | ".join(f"{s} ms" for s in STAGES[:3]) + " | forward ms per view | "
            + " | ".join(f"{s} ms" for s in STAGES[4:]) + " | stages sum ms | peak RSS MiB | model RSS MiB | npz MiB |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in records:
        if r.get("code") != code or "error" in r:
            continue
        st = r["stages_s_per_image"]
        cells = [_ms(st.get(s)) for s in STAGES[:3]]
        fwd = st.get("forward")
        cells.append(_ms(None if fwd is None else fwd / _views(r)))
        cells += [_ms(st.get(s)) for s in STAGES[4:]]
        total = sum(st.values()) if st else None
        rows.append(f"| {r['config']} | {r['tta']} | {r['size']} | {r['n_images']} | "
                    f"**{_rate(r['images_per_s'])}** | {r['cpu_s_per_image']:.2f} | {r['first_image_s']:.1f} | "
                    + " | ".join(cells)
                    + f" | {_ms(total)} | {r['peak_rss_mib']:.0f} | {r['model_rss_mib']:.0f} | "
                      f"{r['npz_mib_per_image']:.2f} |")
    return "\n".join(rows)


def comparison_table(records: list[dict]) -> str:
    """Base against new images/s (and peak RSS) side by side, for each combination run with both."""
    by = {(r["config"], r["tta"], r["size"], r["code"]): r for r in records if "error" not in r}
    rows = ["| config | TTA | size | base images/s | new images/s | speed-up | base CPU s per image | "
            "new CPU s per image | base peak MiB | new peak MiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (config, tta, size, code), new in by.items():
        base = by.get((config, tta, size, "base"))
        if code != "new" or base is None:
            continue
        rows.append(f"| {config} | {tta} | {size} | {_rate(base['images_per_s'])} | **{_rate(new['images_per_s'])}** | "
                    f"{new['images_per_s'] / base['images_per_s']:.2f}x | {base['cpu_s_per_image']:.2f} | "
                    f"{new['cpu_s_per_image']:.2f} | {base['peak_rss_mib']:.0f} | "
                    f"{new['peak_rss_mib']:.0f} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def render(runs: list[dict], records: list[dict]) -> str:
    """The results folder's README: what ran where (each run of the bench), then the tables."""
    fails = [r for r in records if "error" in r]
    load = lambda xs: " ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    parts = ["# Inference time per stage (bench/bench_inference.py)", ""]
    for k, meta in enumerate(runs):
        parts += [
            f"Run {k} (the `run` field of its records in results.json):", "",
            f"- Command: `{meta['command']}`",
            f"- Machine: {meta['machine']}",
            f"- Load average (1, 5, 15 min): {load(meta['load_start'])} at the start, {load(meta['load_end'])} "
            "at the end. The machine is shared: every figure is a lower bound.",
            "- Commits: " + ", ".join(f"{name} `{c}`" for name, c in meta["commits"].items()),
            f"- {meta['started']} to {meta['finished']}. cpu30 weights: "
            + (f"`{meta['unet_run']}`" if meta.get("unet_run") else "random") + "; the other models random.",
            ""]
    parts += [
        "Stage columns are milliseconds per image, measured inside the solutions' own predict code "
        "(`common.timing`); post-processing and writing run on worker threads while the network runs, "
        "so the stages can add up to more than the wall time. `forward ms per view` is the network time "
        "of all views divided by their number (4 for flip TTA, 2 for Mask R-CNN's flip). "
        "`first image s` includes tracing the graph for that shape. Peak RSS is the subprocess's "
        "`ru_maxrss` (TensorFlow runtime included); model RSS is the peak before the first image. "
        "`mix` is a set of out-of-fold stage1_train images, sizes as they come.",
        "", "## Breakdown (this checkout)", "", breakdown_table(records)]
    cmp = comparison_table(records)
    if cmp:
        parts += ["", "## Before / after (each base figure measured right after the new one)", "", cmp]
    if fails:
        parts += ["", "## Failed", ""] + [f"- {r['config']} {r['tta']} {r['size']} ({r['code']}): {r['error']}"
                                         for r in fails]
    return "\n".join(parts) + "\n"
