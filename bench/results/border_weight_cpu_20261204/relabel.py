"""Re-post-process saved U-Net maps with the shipped watershed.yaml thresholds into a new folder.

Usage: relabel.py SRC DST IDS   (SRC a predictions folder with prob maps; IDS one id per line)
"""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.instances import probs_to_instances
from common.predictions import load_prediction, save_prediction
src, dst, ids = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]).read_text().split()
params = {"mask_threshold": 0.6, "seed_threshold": 0.7, "centre_threshold": 0.65, "min_area": 30,
          "min_seed_area": 8, "min_area_rel": 0.0, "merge_border": 0.0, "split_solidity": 0.9, "split_depth": 0.2}
dst.mkdir(parents=True, exist_ok=True)
for i in ids:
    p = load_prediction(src / f"{i}.npz")
    lab, sc = probs_to_instances(p.prob, {**params, "channels": list(p.channels) if p.channels else ["body", "border", "centre"]})
    save_prediction(dst / f"{i}.npz", lab, sc, prob=p.prob, channels=p.channels)
print(len(ids), "relabelled into", dst)
