"""Brightness of the cytoplasm relative to the nuclei in the 16 stage1_train brightfield images,
after data.normalise=gray_invert_percentile: median of the non-nucleus pixels above Otsu's
threshold (the cells) over the median of the nucleus pixels."""
import numpy as np
from skimage.filters import threshold_otsu
from common.data import DSBDataset
from common.folds import image_type
from common.normalise import normalise_image
ds = DSBDataset('/work/shared/dsb2018', 'stage1_train')
ratios = []
for i in sorted(ds.ids):
    im = ds.load_image(i)
    if im.shape[:2] != (1024, 1024) or image_type(im) != 'brightfield':
        continue
    x = normalise_image(im, 'gray_invert_percentile')[..., 0].astype(np.float32)
    lab = ds.load_labels(i)
    cells = (x > threshold_otsu(x)) & (lab == 0)
    ratios.append(np.median(x[cells]) / np.median(x[lab > 0]))
print(len(ratios), 'cytoplasm/nuclei median ratio: median %.2f, range %.2f-%.2f' % (np.median(ratios), min(ratios), max(ratios)))
