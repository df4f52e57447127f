import sys, os
from pathlib import Path
sys.path.insert(0, "/work/main")
from common.data import DSBDataset
from common.folds import image_type
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
for f in sorted(src.glob("*.npz")):
    t = image_type(ds.load_image(f.stem)); (dst / t).mkdir(parents=True, exist_ok=True)
    (dst / t / f.name).symlink_to(f)
print({t.name: len(list(t.glob("*.npz"))) for t in dst.iterdir()})
