"""Probe: self-training on held-out images (pseudo-labels from the network's own shipped prediction).

python selftrain.py SRC_RUN IDS DST_RUN --steps N --lr LR --mix M [--min-score S]
Copies SRC_RUN to DST_RUN (config, nucleus_size, run_info) with fine-tuned weights.
"""
import argparse, json, shutil, sys, time
from pathlib import Path
sys.path.insert(0, str(Path.cwd()))
import numpy as np
import cv2

ap = argparse.ArgumentParser()
ap.add_argument("src"); ap.add_argument("ids"); ap.add_argument("dst")
ap.add_argument("--steps", type=int, default=300)
ap.add_argument("--lr", type=float, default=3e-4)
ap.add_argument("--mix", type=float, default=0.5)
ap.add_argument("--min-score", type=float, default=0.0)
ap.add_argument("--data", default="/work/shared/dsb2018")
ap.add_argument("--soft", action="store_true", help="targets: the network's own maps, not instances")
ap.add_argument("--hybrid", type=float, default=None, help="hard targets; background pixels whose body map is above this keep the own maps (>1: all hard)")
ap.add_argument("--native", action="store_true", help="pseudo-labels at native size, not the chosen scale")
a = ap.parse_args()

import keras
from common.data import DSBDataset
from common.runs import RunDir
from common.normalise import normalise_image
from common.instances import floors_at_scale, probs_to_instances
from common.augment import build_augmenter
from common.allocator import KeepFreedMemory
from solutions.unet.predict import floor_scale, load_params, load_run, load_sizes
from solutions.unet.inference import predict_image
from solutions.unet.data import CropDataset, load_items
from solutions.unet.losses import build_loss

dst = Path(a.dst)
if dst.exists():
    sys.exit(f"{dst} exists")
src = RunDir(a.src)
ids = [l.strip() for l in open(a.ids) if l.strip()]
ds = DSBDataset(a.data, "stage1_train")
cfg, model = load_run(src.path)
params, sizes = load_params(src, cfg), load_sizes(src, cfg)
t0 = time.time()
pimg, plab, kept, total, scales = [], [], 0, 0, []
nsoft = npix = 0
from solutions.unet.targets import make_targets
if a.hybrid is not None:
    a.soft = True
for i in ids:
    image = ds.load_image(i)
    info = {}
    prob = predict_image(model, image, cfg, params=params, info=info, **sizes)
    s = info.get("scale", 1.0)
    labels, scores = probs_to_instances(prob, floors_at_scale(params, floor_scale(cfg, s)))
    total += len(scores)
    if a.min_score > 0:
        drop = [k + 1 for k, sc in enumerate(scores) if sc < a.min_score]  # assumes labels 1..n order
        labels = np.where(np.isin(labels, drop), 0, labels)
    kept += int(len(np.unique(labels)) - (0 in labels))
    if not a.native and s != 1.0:
        h, w = image.shape[:2]
        size = (max(1, round(w * s)), max(1, round(h * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        labels = cv2.resize(labels.astype(np.int32).astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int32)
    if not a.native and s != 1.0:
        prob = cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)
    scales.append(s)
    pimg.append(normalise_image(image, cfg.data.normalise)); plab.append(prob if a.soft else labels)
    if a.hybrid is not None:
        hard = make_targets(labels, cfg.model.channels, cfg.data.border_width).astype(np.float32)
        soft = (labels == 0) & (prob[..., 0] > a.hybrid)
        plab[-1] = np.where(soft[..., None], prob, hard).astype(np.float32)
        nsoft += int(soft.sum()); npix += soft.size
print(f"[st] pseudo-labels: {len(ids)} images, {kept}/{total} instances kept, scales {np.unique(scales, return_counts=True)}, "
      f"{time.time() - t0:.0f} s; soft pixels {nsoft / max(npix, 1):.4f}", flush=True)
info = json.loads((src.path / "run_info.json").read_text())
fimg, flab = load_items(ds, info["fit_ids"], normalise=cfg.data.normalise)
n_f, n_p = len(fimg), len(pimg)

class Soft(keras.utils.PyDataset):
    def __init__(self, base, k):
        super().__init__()
        self.base, self.k = base, k
    def __len__(self):
        return len(self.base)
    def __getitem__(self, i):
        x, y = self.base[i]
        rng = np.random.default_rng([99, i])
        c = cfg.data.crop_size
        for j in range(len(x) - self.k, len(x)):
            n = int(rng.integers(n_p)); im, t = pimg[n], plab[n]
            h, w = t.shape[:2]
            if h < c or w < c:
                ph, pw = max(0, c - h), max(0, c - w)
                im = np.pad(im, ((0, ph), (0, pw), (0, 0)), mode="reflect"); t = np.pad(t, ((0, ph), (0, pw), (0, 0)), mode="reflect")
                h, w = t.shape[:2]
            yy, xx = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            ci, ct = im[yy:yy + c, xx:xx + c].astype(np.float32), t[yy:yy + c, xx:xx + c]
            r = int(rng.integers(4)); ci, ct = np.rot90(ci, r), np.rot90(ct, r)
            if rng.random() < 0.5:
                ci, ct = ci[:, ::-1], ct[:, ::-1]
            x[j], y[j] = ci, ct
        return x, y

w = np.concatenate([np.full(n_f, (1 - a.mix) / n_f), np.full(n_p, a.mix / n_p)])
aug = build_augmenter(cfg.data.crop_size, cfg.data.augment, seed=cfg.seed,
                      scale_range=cfg.data.scale_range or None)
train = CropDataset(fimg + pimg, flab + plab, crop_size=cfg.data.crop_size, batch_size=cfg.train.batch_size,
                    steps=a.steps, channels=cfg.model.channels, border_width=cfg.data.border_width,
                    augmenter=aug, seed=cfg.seed + 1, training=True, weights=w)
if a.soft:
    train = CropDataset(fimg, flab, crop_size=cfg.data.crop_size, batch_size=cfg.train.batch_size,
                        steps=a.steps, channels=cfg.model.channels, border_width=cfg.data.border_width,
                        augmenter=aug, seed=cfg.seed + 1, training=True)
    train = Soft(train, round(a.mix * cfg.train.batch_size))
model.compile(optimizer=keras.optimizers.Adam(a.lr), loss=build_loss(cfg.loss))
t1 = time.time()
hist = model.fit(train, epochs=1, verbose=2, callbacks=[KeepFreedMemory()])
print(f"[st] fine-tune {a.steps} steps in {time.time() - t1:.0f} s; loss {hist.history['loss'][-1]:.4f}", flush=True)
dst.mkdir(parents=True)
for f in ("config.yaml", "nucleus_size.json", "run_info.json", "state.json"):
    if (src.path / f).exists():
        shutil.copy(src.path / f, dst / f)
(dst / "weights").mkdir()
model.save_weights(dst / "weights" / "best.weights.h5")
(dst / "selftrain.json").write_text(json.dumps(vars(a) | {"kept": kept, "total": total}, indent=1))
print(f"[st] wrote {dst}", flush=True)
