# Scratch (2026-12-04): an image-only estimate of the brightfield nucleus radius, x1 and x2 magnified, against the true median radius; it followed the cell bodies, not the nuclei. Run: .venv/bin/python rest2.py (ids: the 16 brightfield ids of group fold 3).
import sys, numpy as np, cv2, time
sys.path.insert(0,'/work/main')
from common.data import DSBDataset
from common.normalise import to_gray
from scipy import ndimage as ndi
ds=DSBDataset('/work/shared/dsb2018','stage1_train')
ids=open('/tmp/hmax/bf_ids.txt').read().split()
SIG = 2 ** np.arange(1, 5.01, 0.25)  # 2..32 px
def est(inv):
    g = inv.astype(np.float32)
    # downsample by 2 for speed; sigma in original px
    small = cv2.resize(g, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    e = []
    for s in SIG:
        r = -s**2 * ndi.gaussian_laplace(small, s / 2) / 4 * 4
        e.append(np.percentile(r, 99.5))
    k = int(np.argmax(e))
    return SIG[k] * np.sqrt(2), e
for i in ids[:8]:
    img=ds.load_image(i); inv=255-to_gray(img); l=ds.load_labels(i)
    tr=np.sqrt(np.median(np.bincount(l.ravel())[1:])/np.pi)
    big=cv2.resize(inv,None,fx=2,fy=2,interpolation=cv2.INTER_LINEAR)
    t=time.time(); a,e=est(inv); dt=time.time()-t; b,_=est(big)
    print(i[:6], 'true r %.1f'%tr, 'est x1 %.1f x2 %.1f  %.1fs'%(a,b,dt), np.round(np.array(e)/max(e),2))
