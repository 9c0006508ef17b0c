"""A counter-based random generator: uniform numbers as a pure function of (seed, counter, index).

Element i of draw number ``counter`` of stream ``seed`` is

    h = mix32(mix32(i ^ key1) ^ key2),   u = (h >> 8) / 2**24  in [0, 1)

where mix32 is MurmurHash3's 32-bit finaliser (a bijection with full avalanche) and key1, key2
are derived from seed and counter. No state is carried from one element to the next, so a CUDA
kernel that computes the same integer formula for element i draws exactly the same number: the
dropout mask of a seed is identical on the CPU and the GPU, in any launch geometry. The 24-bit
mantissa makes u exactly representable in float32.
"""
import numpy as np

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9  # 2**32 / golden ratio, the usual odd constant for spreading keys


def mix32_int(h):
    """MurmurHash3 fmix32 on a Python int (used for the per-draw keys)."""
    h &= MASK32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    h ^= h >> 16
    return h


def mix32(h):
    """MurmurHash3 fmix32 on a uint32 array (multiplications wrap modulo 2**32)."""
    h = h ^ (h >> 16)
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def stream_keys(seed, counter):
    """The two 32-bit keys of draw ``counter`` of stream ``seed``."""
    key1 = mix32_int(seed ^ mix32_int(seed >> 32))
    key2 = mix32_int(key1 + (counter * GOLDEN) + (counter >> 32))
    return key1, key2


def uniform(seed, counter, shape, dtype=np.float32, xp=np):
    """Array of ``shape`` with u[i] in [0, 1) for the flat index i, a function of (seed, counter, i)."""
    size = int(np.prod(shape))
    if size >= 2 ** 32:
        raise ValueError(f"counter_rng.uniform: at most 2**32 elements per draw, asked for {size}")
    return uniform_at(seed, counter, xp.arange(size, dtype=np.uint32), dtype).reshape(shape)


def uniform_at(seed, counter, index, dtype=np.float32):
    """u at the given flat indices (a uint32 array) of draw ``counter`` of stream ``seed``:
    any part of a draw, without drawing the rest."""
    key1, key2 = stream_keys(int(seed), int(counter))
    h = mix32(mix32(index ^ np.uint32(key1)) ^ np.uint32(key2))
    return (h >> 8).astype(dtype) * dtype_scale(dtype)


def dtype_scale(dtype):
    return np.dtype(dtype).type(2.0 ** -24)

