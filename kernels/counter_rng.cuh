// The counter-based generator of minicnn/counter_rng.py, the same integer formula bit for bit,
// so that a dropout mask drawn here equals the CPU's for the same seed, in any launch geometry.
#pragma once

// MurmurHash3's 32-bit finaliser: a bijection on 32-bit words with full avalanche.
__device__ __forceinline__ unsigned int mix32(unsigned int h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// u in [0, 1) for element i of the draw with keys (key1, key2): the top 24 bits of the hash
// times 2^-24, exact in float and double.
__device__ __forceinline__ real_t counter_uniform(unsigned int i, unsigned int key1, unsigned int key2) {
  unsigned int h = mix32(mix32(i ^ key1) ^ key2);
  return real_t(h >> 8) * real_t(5.9604644775390625e-08);
}
