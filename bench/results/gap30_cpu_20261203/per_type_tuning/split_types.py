import sys, os
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from common.data import DSBDataset
from common.paths import SHARED_DSB_DIR
from common.folds import image_type
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
for f in sorted(src.glob("*.npz")):
    t = image_type(ds.load_image(f.stem)); (dst / t).mkdir(parents=True, exist_ok=True)
    (dst / t / f.name).symlink_to(f)
print({t.name: len(list(t.glob("*.npz"))) for t in dst.iterdir()})
