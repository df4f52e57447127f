"""Scratch: bench_magnify with the gray of coloured bright-background images chosen by $GRAY."""
import os, runpy, sys
import numpy as np
sys.path.insert(0, '/work/main')
import common.normalise as N
from skimage.color import rgb2hed
orig = N.to_gray
MODE = os.environ.get('GRAY', 'lum')

def gray_for_bright_colour(x):
    if MODE == 'red':
        return x[..., 0].copy()          # inverted later: nuclei (absorb red) bright
    if MODE == 'hema':
        h = rgb2hed(x)[..., 0]
        h = (h - h.min()) / max(h.max() - h.min(), 1e-6)
        return (255 - np.rint(h * 255)).astype(np.uint8)  # inverted later
    raise ValueError(MODE)

def to_gray(image):
    x = np.asarray(image)
    if MODE != 'lum' and x.ndim == 3 and N.colourfulness(x) > N.COLOUR_THRESHOLD:
        g = orig(x)
        if N.bright_background(g):
            return gray_for_bright_colour(x)
    return orig(x)

N.to_gray = to_gray
sys.argv = ['bench_magnify.py'] + sys.argv[1:]
runpy.run_path('/work/main/bench/bench_magnify.py', run_name='__main__')
