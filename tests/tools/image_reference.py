"""Reference side of the image-folder tests (tests/test_datasets.cpp, test_cli.cpp, test_train.cpp).

PNG files are written here from known pixel arrays with zlib and struct only, so the pixels a decoder must
return are exact; the resize + centre crop is PIL's BILINEAR filter written out in NumPy (float64), the
algorithm core/io/images.h describes. Nothing here calls the code under test.
"""
import gzip
import os
import struct
import zlib

import numpy as np

PNG_GREY, PNG_RGB, PNG_PALETTE, PNG_GREY_ALPHA, PNG_RGBA = 0, 2, 3, 4, 6


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, samples, color_type, bit_depth=8, palette=None, trns=None):
    """samples: [H, W] or [H, W, C] integers as stored (palette indices for PNG_PALETTE)."""
    a = np.asarray(samples)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    if bit_depth == 16:
        rows = a.astype(">u2").reshape(h, w * c)
    elif bit_depth == 8:
        rows = a.astype(np.uint8).reshape(h, w * c)
    else:  # 1, 2, 4 bits per sample, one channel: pack MSB first
        assert c == 1
        per = 8 // bit_depth
        padded = np.zeros((h, (w + per - 1) // per * per), np.uint8)
        padded[:, :w] = a[:, :, 0]
        groups = padded.reshape(h, -1, per)
        rows = np.zeros(groups.shape[:2], np.uint8)
        for k in range(per):
            rows |= (groups[:, :, k] << (8 - bit_depth * (k + 1))).astype(np.uint8)
    raw = b"".join(b"\0" + rows[y].tobytes() for y in range(h))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", bytes(trns))
    out += _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def write_pnm(path, pixels):
    """8-bit PGM ([H, W]) or PPM ([H, W, 3]): the input cjpeg takes."""
    a = np.asarray(pixels, np.uint8)
    magic = b"P5" if a.ndim == 2 else b"P6"
    with open(path, "wb") as f:
        f.write(magic + b"\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + a.tobytes())


def read_pnm(path):
    """Binary PGM / PPM (djpeg's output) as float32 [H, W, C]."""
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    w, h = int(fields[1]), int(fields[2])
    c = 1 if fields[0] == b"P5" else 3
    return np.frombuffer(data[pos:pos + w * h * c], np.uint8).reshape(h, w, c).astype(np.float32)


def luma(rgb):
    return 0.299 * rgb[..., 0:1] + 0.587 * rgb[..., 1:2] + 0.114 * rgb[..., 2:3]


def bilinear_weights(n_in, n_out):
    """[n_out, n_in] matrix of PIL's bilinear (triangle, widened when downscaling) coefficients."""
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - fscale + 0.5), 0)
        hi = min(int(center + fscale + 0.5), n_in)
        j = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) / fscale))
        m[i, lo:hi] = w / w.sum()
    return m


def resize_crop(img, shorter, height, width):
    """img [H, W, C] -> shorter side resized to `shorter` (longer side rounded), centre crop height x width."""
    h, w = img.shape[:2]
    if h < w:
        oh, ow = shorter, max(1, int(np.floor(w * shorter / h + 0.5)))
    elif w < h:
        oh, ow = max(1, int(np.floor(h * shorter / w + 0.5))), shorter
    else:
        oh = ow = shorter
    rows, cols = bilinear_weights(h, oh), bilinear_weights(w, ow)
    out = np.einsum("yh,hwc->ywc", rows, np.einsum("xw,hwc->hxc", cols, img.astype(np.float64)))
    top, left = (oh - height) // 2, (ow - width) // 2
    return out[top:top + height, left:left + width]


def fashion_mnist_pngs(folder, count, source="/usr/share/datasets/fashion-mnist"):
    """The first `count` Fashion-MNIST test images as grey PNGs in one sub-folder per class."""
    source = os.environ.get("CW_FASHION_MNIST_DIR", source)
    x = np.frombuffer(gzip.open(os.path.join(source, "t10k-images-idx3-ubyte.gz")).read()[16:], np.uint8)
    y = np.frombuffer(gzip.open(os.path.join(source, "t10k-labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    x = x.reshape(-1, 28, 28)
    for c in range(10):
        os.makedirs(os.path.join(folder, "class%d" % c), exist_ok=True)
    for i in range(count):
        write_png(os.path.join(folder, "class%d" % y[i], "%05d.png" % i), x[i], PNG_GREY)
