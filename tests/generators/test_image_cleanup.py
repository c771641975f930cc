"""The clean-up of generated icons: loose specks go, the subject and its real parts stay."""

from __future__ import annotations

import numpy as np

from genstudio.generators.images.cleanup import components, drop_fragments


def _icon() -> np.ndarray:
    img = np.zeros((64, 64, 4), np.uint8)
    img[16:48, 16:48] = (200, 40, 40, 255)  # the subject
    img[15, 16:48, 3] = 90  # its soft rim (below the threshold, next to it: kept)
    img[22:28, 52:58] = (10, 10, 10, 255)  # a 36-px part beside it (an eye, a handle): kept
    img[4, 4] = img[4, 5] = (250, 250, 0, 255)  # a 2-px speck
    img[60, 30:33] = (0, 200, 0, 255)  # a 3-px speck
    img[59, 30:33, 3] = 60  # the speck's rim goes with it
    img[2, 40, 3] = 40  # faint haze far from everything
    return img


def test_components_are_eight_connected():
    m = np.zeros((5, 5), bool)
    m[0, 0] = m[1, 1] = True  # diagonal neighbours: one shape
    m[4, 4] = True
    labels, n = components(m)
    assert n == 2 and labels[0, 0] == labels[1, 1] != labels[4, 4]


def test_specks_and_haze_are_removed_parts_and_rims_kept():
    img = _icon()
    out, n = drop_fragments(img)
    assert n == 2
    assert out[4, 4, 3] == 0 and out[60, 31, 3] == 0 and out[59, 31, 3] == 0
    assert out[2, 40, 3] == 0
    assert (out[16:48, 16:48] == img[16:48, 16:48]).all() and out[15, 20, 3] == 90
    assert (out[22:28, 52:58] == img[22:28, 52:58]).all()
    assert img[4, 4, 3] == 255  # the input is not changed


def test_a_clean_or_empty_icon_is_left_alone():
    img = np.zeros((64, 64, 4), np.uint8)
    img[10:20, 10:20] = 255
    out, n = drop_fragments(img)
    assert n == 0 and (out == img).all()
    blank = np.zeros((64, 64, 4), np.uint8)
    blank[30, 30, 3] = 50  # only faint haze: nothing solid to judge by
    assert (drop_fragments(blank)[0] == blank).all()
