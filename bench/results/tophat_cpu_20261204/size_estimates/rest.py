# Scratch (2026-12-04): an image-only estimate of the brightfield nucleus radius, x1 and x2 magnified, against the true median radius; it followed the cell bodies, not the nuclei. Run: .venv/bin/python rest.py (ids: the 16 brightfield ids of group fold 3).
import sys, numpy as np, cv2
sys.path.insert(0,'/work/main')
from common.data import DSBDataset
from common.normalise import to_gray
from skimage.filters import threshold_multiotsu, threshold_otsu
from scipy import ndimage as ndi
ds=DSBDataset('/work/shared/dsb2018','stage1_train')
ids=open('/tmp/hmax/bf_ids.txt').read().split()
def est(inv):
    t = threshold_multiotsu(inv[::4, ::4], classes=3)
    lab, n = ndi.label(inv > t[1])
    a = np.bincount(lab.ravel())[1:]; a = a[a >= 10]
    return np.sqrt(np.median(a) / np.pi) if a.size else 0, n
for i in ids:
    img=ds.load_image(i); inv=255-to_gray(img); l=ds.load_labels(i)
    ta=np.median(np.bincount(l.ravel())[1:]); tr=np.sqrt(ta/np.pi)
    big=cv2.resize(inv,None,fx=2,fy=2,interpolation=cv2.INTER_LINEAR)
    print(i[:6], 'true r %.1f'%tr, 'est x1 %.1f (%d)'%est(inv), 'x2 %.1f (%d)'%est(big))
