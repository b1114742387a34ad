#pragma once
// jx::random: counter-based pseudo-random numbers, as jax.random with the threefry-2x32 PRNG.
//
// A key is a uint32[2] array. Every function is written with jx's public ops only (the
// threefry hash too, vectorized over all counters), so it works eagerly, under grad and under
// vmap (a batch of keys, e.g. `vmap([](Array k) { return uniform(k, {3}); })(split(key, 4))`).
//
// Bit generation follows JAX's default since jax 0.5 (`jax_threefry_partitionable = True`,
// checked against jax 0.10.2): the counters of an output of shape S are iota over S (row major),
// split into hi/lo 32-bit words (hi = 0 below 2^32 elements), hashed as
// (b1, b2) = threefry2x32(key, (hi, lo)), and 32-bit draws are b1 ^ b2. split(key, n) is
// threefry2x32(key, (0, i)) for i < n; fold_in(key, d) is threefry2x32(key, (0, uint32(d))).
// (So fold_in(key, i) equals split(key, n)[i], in JAX too.) With these, key / split / fold_in /
// bits / uniform on [0, 1) / randint / bernoulli / permutation are bit-exact with JAX (float64
// draws match JAX with x64 enabled). uniform with other bounds rounds floats * (max - min) + min
// twice where XLA:CPU fuses it into an FMA (1 ulp apart at most); normal and truncated_normal go
// through erf_inv, XLA's polynomial evaluated with glibc's log1p/sqrt, so they agree with JAX to
// a few ulp; categorical agrees except where two perturbed logits tie within those ulp.

#include <optional>

#include "core/ops.h"
#include "core/tree.h"

namespace jx {
namespace random {

/// JAX's PRNGKey(seed) (threefry_seed): uint32[2] = [seed >> 32, seed & 0xFFFFFFFF] of the
/// seed as a 64-bit two's complement number (JAX with x64 enabled; without x64 JAX truncates
/// the seed to int32 first, which differs only for negative seeds and seeds >= 2^31).
Array key(int64_t seed, const Loc& loc = Loc::current());
/// The same from an integer 0-d array (traceable: works under vmap over seeds): int32 and
/// uint32 seeds give [0, seed as uint32] (as JAX for a 32-bit seed), int64 seeds
/// [seed >> 32, seed & 0xFFFFFFFF].
Array key(const Array& seed, const Loc& loc = Loc::current());

/// n new keys, uint32[n, 2].
Array split(const Array& key, int64_t n = 2, const Loc& loc = Loc::current());
/// A new key from `key` and integer 0-d `data` (converted to uint32, wrapping negatives).
Array fold_in(const Array& key, const Array& data, const Loc& loc = Loc::current());
/// Uniformly random uint32 bits of `shape`.
Array bits(const Array& key, const Shape& shape = {}, const Loc& loc = Loc::current());

/// Uniform in [minval, maxval) (float32 or float64); minval/maxval broadcast to `shape`.
Array uniform(const Array& key, const Shape& shape = {}, DType dtype = float32, const Array& minval = 0.0,
              const Array& maxval = 1.0, const Loc& loc = Loc::current());
/// Standard normal samples.
Array normal(const Array& key, const Shape& shape = {}, DType dtype = float32, const Loc& loc = Loc::current());
/// Standard normal samples truncated to (lower, upper); shape defaults to the broadcast shape of
/// the bounds.
Array truncated_normal(const Array& key, const Array& lower, const Array& upper,
                       std::optional<Shape> shape = std::nullopt, DType dtype = float32,
                       const Loc& loc = Loc::current());
/// bool samples, true with probability p; shape defaults to p's.
Array bernoulli(const Array& key, const Array& p = 0.5, std::optional<Shape> shape = std::nullopt,
                const Loc& loc = Loc::current());
/// Samples of the categorical distribution with unnormalized log-probabilities `logits` along
/// `axis` (Gumbel-max, as JAX): int32 indices of logits' shape without `axis`.
Array categorical(const Array& key, const Array& logits, int axis = -1, const Loc& loc = Loc::current());
/// Integers uniform in [minval, maxval) (int32 or uint32), JAX's two-words-then-modulo
/// construction (so bit-exact with JAX). Throws a ValueError when minval >= maxval (JAX returns
/// minval there) or when the bounds are out of the dtype's range.
Array randint(const Array& key, const Shape& shape, int64_t minval, int64_t maxval, DType dtype = int32,
              const Loc& loc = Loc::current());
/// A uniformly random permutation of [0, n) (int32). Same output as jax.random.permutation(key, n):
/// JAX sorts by random 32-bit keys (stable, ceil(3 ln n / ln(2^32 - 1)) rounds); jx has no sort
/// primitive, so each round places element i at its rank, counted pairwise (ties broken by
/// index, as the stable sort) -- O(n^2) time and memory, meant for n up to a few thousand.
Array permutation(const Array& key, int64_t n, const Loc& loc = Loc::current());
/// x shuffled along `axis` by permutation(key, x.shape[axis]) (as jax.random.permutation(key, x, axis)).
Array permutation(const Array& key, const Array& x, int axis = 0, const Loc& loc = Loc::current());

/// The threefry-2x32 block cipher (20 rounds, Random123's threefry2x32_20) applied elementwise:
/// k0, k1 are uint32 0-d (or shaped like the counters), x0, x1 uint32 counters of one shape.
std::pair<Array, Array> threefry2x32(const Array& k0, const Array& k1, const Array& x0, const Array& x1,
                                     const Loc& loc = Loc::current());

}  // namespace random

namespace lax {
/// Inverse error function on (-1, 1) (±inf at ±1, NaN outside), from jx ops with XLA's
/// polynomials (Giles, "Approximating the erfinv function": single precision for float32,
/// the double-precision variant for float64). Integer inputs are rejected.
/// Its derivative is the exact sqrt(pi)/2 * exp(erf_inv(x)^2) (a custom JVP).
Array erf_inv(const Array& x, const Loc& loc = Loc::current());
}  // namespace lax
}  // namespace jx
