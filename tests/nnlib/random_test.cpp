// jx::random: threefry-2x32 against the Random123 known-answer vectors, keys and samplers
// against values produced by JAX, moments of the samplers, vmap over keys, errors.
//
// JAX literals below were produced with `pip install jax` (jax 0.10.2, jaxlib 0.10.2, CPU,
// jax_threefry_partitionable = True, the default) by e.g.
//   jax.random.split(jax.random.PRNGKey(0))                       (printed as hex)
//   jax.lax.bitcast_convert_type(jax.random.uniform(jax.random.PRNGKey(42), (5,)), jnp.uint32)
// and the float64 ones with jax.config.update("jax_enable_x64", True).
#include <cmath>
#include <set>

#include "nnlib/random.h"
#include "testing/check_vmap.h"
#include "testing/testing.h"

using namespace jx;
namespace jr = jx::random;

namespace {
std::vector<uint32_t> u32s(const Array& x) { return x.to_vector<uint32_t>(); }
Array ua(std::vector<uint32_t> v) { return array(v); }
// The bit patterns of a float32 array.
std::vector<uint32_t> f32_bits(const Array& x) { return u32s(lax::bitcast_convert_type(x, uint32)); }
double mean_of(const Array& x) { return mean(x.astype(float64)).item<double>(); }
double var_of(const Array& x) { return var(x.astype(float64)).item<double>(); }
}  // namespace

#define CHECK_NEAR(got, want, tol)                   \
  do {                                               \
    const double got_ = (got), want_ = (want);       \
    INFO("got ", got_, ", want ", want_, " +- ", tol); \
    CHECK(std::abs(got_ - want_) <= (tol));          \
  } while (0)

TEST_CASE("threefry2x32: Random123 known-answer vectors (threefry2x32_20)") {
  struct Kat {
    uint32_t k0, k1, x0, x1, y0, y1;
  };
  // From Random123's kat_vectors (threefry2x32 20 rounds).
  const Kat kats[] = {{0, 0, 0, 0, 0x6b200159, 0x99ba4efe},
                      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7},
                      {0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3, 0xc4923a9c, 0x483df7a0}};
  for (const Kat& k : kats) {
    auto [y0, y1] = jr::threefry2x32(Array(k.k0), Array(k.k1), ua({k.x0}), ua({k.x1}));
    CHECK(u32s(y0) == std::vector<uint32_t>{k.y0});
    CHECK(u32s(y1) == std::vector<uint32_t>{k.y1});
  }
  // Key-shaped like the counters: all three at once.
  auto [y0, y1] = jr::threefry2x32(ua({0, 0xffffffff, 0x13198a2e}), ua({0, 0xffffffff, 0x03707344}),
                                   ua({0, 0xffffffff, 0x243f6a88}), ua({0, 0xffffffff, 0x85a308d3}));
  CHECK(u32s(y0) == std::vector<uint32_t>{0x6b200159, 0x1cb996fc, 0xc4923a9c});
  CHECK(u32s(y1) == std::vector<uint32_t>{0x99ba4efe, 0xbb002be7, 0x483df7a0});
}

TEST_CASE("random.key: threefry_seed layout") {
  CHECK(u32s(jr::key(0)) == std::vector<uint32_t>{0, 0});
  CHECK(u32s(jr::key(42)) == std::vector<uint32_t>{0, 42});
  // [seed >> 32, seed & 0xffffffff] (JAX with x64: PRNGKey(-1) = [0xffffffff, 0xffffffff]).
  CHECK(u32s(jr::key((int64_t{1} << 40) + 5)) == std::vector<uint32_t>{0x100, 5});
  CHECK(u32s(jr::key(-1)) == std::vector<uint32_t>{0xffffffff, 0xffffffff});
  // From arrays: int32 seeds have no high word; int64 ones do.
  CHECK(u32s(jr::key(Array(42))) == std::vector<uint32_t>{0, 42});
  CHECK(u32s(jr::key(scalar(-1, int32))) == std::vector<uint32_t>{0, 0xffffffff});
  CHECK(u32s(jr::key(scalar(static_cast<double>((int64_t{1} << 40) + 5), int64))) == std::vector<uint32_t>{0x100, 5});
  CHECK(jr::key(7).dtype() == uint32);
  CHECK(jr::key(7).shape() == Shape{2});
}

TEST_CASE("random.split / fold_in / bits: bit-exact with JAX") {
  Array ks = jr::split(jr::key(0));
  REQUIRE(ks.shape() == Shape{2, 2});
  // jax.random.split(PRNGKey(0))
  CHECK(u32s(ks) == std::vector<uint32_t>{0x6b200159, 0x99ba4efe, 0x375f238f, 0xcddb151d});
  // jax.random.split(PRNGKey(1), 3)
  CHECK(u32s(jr::split(jr::key(1), 3)) ==
        std::vector<uint32_t>{0x1e3f1835, 0x6e752082, 0x74298876, 0xfc8d8048, 0x918ca911, 0xe3ab1c6b});
  // jax.random.fold_in(PRNGKey(0), 7)
  CHECK(u32s(jr::fold_in(jr::key(0), 7)) == std::vector<uint32_t>{0xa1ef7a4d, 0x116eb6b3});
  // jax.random.bits(PRNGKey(0), (2, 3))
  Array b = jr::bits(jr::key(0), {2, 3});
  CHECK(b.shape() == Shape{2, 3});
  CHECK(u32s(b) == std::vector<uint32_t>{0xf29a4fa7, 0xfa843692, 0x55110e28, 0x77faa835, 0x91e43bb7, 0x2a5e6943});
  CHECK(jr::split(jr::key(3), 0).shape() == Shape{0, 2});
  CHECK(jr::bits(jr::key(3)).shape() == Shape{});
}

TEST_CASE("random.uniform: bit-exact with JAX") {
  Array u = jr::uniform(jr::key(42), {5});
  REQUIRE(u.dtype() == float32);
  // jax.random.uniform(PRNGKey(42), (5,)) = [0.48870957, 0.6797972, 0.6162715, 0.5610161, 0.4506446]
  CHECK(f32_bits(u) == std::vector<uint32_t>{0x3efa3824, 0x3f2e0730, 0x3f1dc3f8, 0x3f0f9ec0, 0x3ee6bae4});
  // jax.random.uniform(PRNGKey(3), (2, 2), minval=-2., maxval=3.): XLA:CPU fuses
  // floats * (maxval - minval) + minval into an FMA, jx rounds twice: within 1 ulp.
  CHECK_ALLCLOSE_TOL(jr::uniform(jr::key(3), {2, 2}, float32, -2.0, 3.0),
                     (std::vector<double>{-1.629737138748169, 2.6907215118408203, 1.2447850704193115,
                                          2.8781049251556396}),
                     2.5e-7, 0);
  // x64: jax.random.uniform(PRNGKey(42), (3,), dtype=float64)
  Array d = jr::uniform(jr::key(42), {3}, float64);
  REQUIRE(d.dtype() == float64);
  auto dv = d.to_vector<double>();
  CHECK(dv[0] == 0.4267275666499091);
  CHECK(dv[1] == 0.015010069515314584);
  CHECK(dv[2] == 0.5741444178995352);
  // Array bounds broadcast against the shape.
  Array lo = array(std::vector<float>{0.f, 10.f, 100.f});
  Array v = jr::uniform(jr::key(1), {1000, 3}, float32, lo, lo + 1.0);
  CHECK(min(v, {0}).to_vector<float>() >= std::vector<float>{0.f, 10.f, 100.f});
  CHECK(max(v, {0}).to_vector<float>() < std::vector<float>{1.f, 11.f, 101.f});
}

TEST_CASE("random.normal and erf_inv: match JAX") {
  // jax.random.normal(PRNGKey(1), (4,)); erf_inv is XLA's polynomial on glibc's log1p, so a
  // few ulp of slack.
  CHECK_ALLCLOSE_TOL(jr::normal(jr::key(1), {4}),
                     (std::vector<double>{-0.15443718433380127, 0.08470727503299713, -0.135980486869812,
                                          -0.15503625571727753}),
                     1e-6, 1e-7);
  // x64: jax.random.normal(PRNGKey(1), (3,), dtype=float64)
  CHECK_ALLCLOSE_TOL(jr::normal(jr::key(1), {3}, float64),
                     (std::vector<double>{-1.184284421837855, -0.11617040844628398, 0.17269028009903425}), 1e-14,
                     1e-15);
  // jax.lax.erf_inv on float32 and float64.
  Array x32 = array(std::vector<float>{-0.999f, -0.5f, 0.0f, 0.1f, 0.9f, 0.99999f});
  CHECK_ALLCLOSE_TOL(lax::erf_inv(x32),
                     (std::vector<double>{-2.3267576694488525, -0.4769362807273865, 0.0, 0.08885598927736282,
                                          1.163087010383606, 3.1232049465179443}),
                     1e-6, 1e-7);
  Array x64 = array(std::vector<double>{-0.999, -0.5, 0.0, 0.1, 0.9, 0.99999, 1 - 1e-12});
  CHECK_ALLCLOSE_TOL(lax::erf_inv(x64),
                     (std::vector<double>{-2.3267537655135273, -0.47693627620446977, 0.0, 0.08885599049425769,
                                          1.163087153676674, 3.123413274341634, 5.042031898572648}),
                     1e-13, 1e-15);
  // Edges: ±1 -> ±inf, outside [-1, 1] -> NaN.
  auto e = lax::erf_inv(array(std::vector<float>{1.f, -1.f, 1.5f})).to_vector<float>();
  CHECK(e[0] == INFINITY);
  CHECK(e[1] == -INFINITY);
  CHECK(std::isnan(e[2]));
  // erf(erf_inv(x)) = x.
  Array xs = linspace(-0.99, 0.99, 41, true, float64);
  CHECK_ALLCLOSE_TOL(erf(lax::erf_inv(xs)), testing::values(xs), 1e-13, 1e-14);
}

TEST_CASE("erf_inv: derivative is sqrt(pi)/2 exp(erf_inv(x)^2)") {
  for (double x : {-0.9, -0.3, 0.0, 0.5, 0.95}) {
    CAPTURE(x);
    double y = grad([](const Array& v) { return lax::erf_inv(v); })(scalar(x, float64)).item<double>();
    double e = lax::erf_inv(scalar(x, float64)).item<double>();
    CHECK(y == doctest::Approx(std::sqrt(M_PI) / 2 * std::exp(e * e)).epsilon(1e-12));
  }
  // Under vmap the gradient is per element.
  Array xs = array(std::vector<double>{-0.5, 0.25});
  Array g = vmap([](const Array& v) { return grad([](const Array& u) { return lax::erf_inv(u); })(v); })(xs);
  auto ev = lax::erf_inv(xs).to_vector<double>();
  CHECK_ALLCLOSE(g, (std::vector<double>{std::sqrt(M_PI) / 2 * std::exp(ev[0] * ev[0]),
                                         std::sqrt(M_PI) / 2 * std::exp(ev[1] * ev[1])}));
}

TEST_CASE("random samplers: bit-exact values of the discrete ones, close values of the rest (JAX)") {
  // jax.random.truncated_normal(PRNGKey(5), -1.0, 2.0, (4,))
  CHECK_ALLCLOSE_TOL(jr::truncated_normal(jr::key(5), -1.0, 2.0, Shape{4}),
                     (std::vector<double>{0.1015203446149826, 1.3562079668045044, 0.709476113319397,
                                          -0.7176439762115479}),
                     1e-5, 1e-6);
  // jax.random.bernoulli(PRNGKey(6), 0.3, (8,))
  Array bern = jr::bernoulli(jr::key(6), 0.3, Shape{8});
  CHECK(bern.dtype() == bool_);
  CHECK(bern.to_vector<int>() == std::vector<int>{0, 1, 1, 1, 0, 0, 0, 1});
  // jax.random.categorical(PRNGKey(7), log([[.1, .2, .7], [.5, .25, .25]]))
  Array logits = log(array(std::vector<float>{0.1f, 0.2f, 0.7f, 0.5f, 0.25f, 0.25f}, Shape{2, 3}));
  Array cat = jr::categorical(jr::key(7), logits);
  CHECK(cat.dtype() == int32);
  CHECK(cat.to_vector<int>() == std::vector<int>{1, 1});
  // jax.random.categorical(PRNGKey(8), zeros((6, 4)), axis=0)
  CHECK(jr::categorical(jr::key(8), zeros({6, 4}), 0).to_vector<int>() == std::vector<int>{3, 3, 0, 1});
  // jax.random.randint(PRNGKey(9), (6,), -5, 17)
  CHECK(jr::randint(jr::key(9), {6}, -5, 17).to_vector<int>() == std::vector<int>{10, 4, 1, -4, 0, -3});
  // jax.random.randint(PRNGKey(9), (4,), -2**31, 2**31 - 1)
  CHECK(jr::randint(jr::key(9), {4}, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max())
            .to_vector<int>() == std::vector<int>{-1561035775, -1145407839, 427967928, -1386937731});
  // jax.random.randint(PRNGKey(10), (4,), 3, 1000, dtype=uint32)
  Array ru = jr::randint(jr::key(10), {4}, 3, 1000, uint32);
  CHECK(ru.dtype() == uint32);
  CHECK(u32s(ru) == std::vector<uint32_t>{181, 354, 620, 642});
  // jax.random.permutation(PRNGKey(11), 10), and n = 1 (zero sort rounds)
  CHECK(jr::permutation(jr::key(11), 10).to_vector<int>() == std::vector<int>{1, 5, 3, 2, 0, 8, 4, 9, 6, 7});
  CHECK(jr::permutation(jr::key(11), 1).to_vector<int>() == std::vector<int>{0});
  CHECK(jr::permutation(jr::key(11), 0).shape() == Shape{0});
  // jax.random.permutation(PRNGKey(11), arange(20).reshape(10, 2))
  Array m = reshape(arange(20), {10, 2});
  CHECK(jr::permutation(jr::key(11), m).to_vector<int>() ==
        std::vector<int>{2, 3, 10, 11, 6, 7, 4, 5, 0, 1, 16, 17, 8, 9, 18, 19, 12, 13, 14, 15});
}

TEST_CASE("random samplers: moments of 10^5 samples") {
  const int64_t n = 100000;
  // Each tolerance is ~5 standard errors of the estimate (se of a mean: sd / sqrt(n); of a
  // variance: sqrt((mu4 - sd^4) / n)), so a correct sampler fails with negligible probability.
  Array u = jr::uniform(jr::key(0), {n});
  CHECK_NEAR(mean_of(u), 0.5, 0.0046);        // se 0.00091
  CHECK_NEAR(var_of(u), 1.0 / 12, 0.0012);    // se 0.00024
  CHECK(min(u).item<float>() >= 0.f);
  CHECK(max(u).item<float>() < 1.f);
  Array u2 = jr::uniform(jr::key(1), {n}, float64, -3.0, 5.0);
  CHECK_NEAR(mean_of(u2), 1.0, 0.037);        // se 0.0073
  CHECK_NEAR(var_of(u2), 64.0 / 12, 0.076);   // se 0.015
  CHECK(min(u2).item<double>() >= -3.0);

  Array z = jr::normal(jr::key(2), {n});
  CHECK_NEAR(mean_of(z), 0.0, 0.016);         // se 0.0032
  CHECK_NEAR(var_of(z), 1.0, 0.023);          // se 0.0045
  CHECK(all(isfinite(z)).item<bool>());
  // Fraction beyond 2 sigma: 2 (1 - Phi(2)) = 0.0455 (se 0.00066).
  CHECK_NEAR(mean_of(greater(abs(z), 2.0)), 0.0455, 0.0033);
  Array z64 = jr::normal(jr::key(2), {n}, float64);
  CHECK_NEAR(mean_of(z64), 0.0, 0.016);
  CHECK_NEAR(var_of(z64), 1.0, 0.023);

  // Truncated to (-1, 2): mean (phi(a) - phi(b)) / Z, var 1 + (a phi(a) - b phi(b)) / Z - mean^2
  // with phi the standard normal density and Z = Phi(b) - Phi(a) (hand formulas).
  auto phi = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); };
  auto Phi = [](double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); };
  const double a = -1, b = 2, Z = Phi(b) - Phi(a);
  const double tm = (phi(a) - phi(b)) / Z;
  const double tv = 1 + (a * phi(a) - b * phi(b)) / Z - tm * tm;  // ~0.50
  Array t = jr::truncated_normal(jr::key(3), a, b, Shape{n});
  CHECK_NEAR(mean_of(t), tm, 0.012);          // se 0.0022
  CHECK_NEAR(var_of(t), tv, 0.012);           // se ~0.0021
  CHECK(min(t).item<float>() > -1.f);
  CHECK(max(t).item<float>() < 2.f);

  Array bern = jr::bernoulli(jr::key(4), 0.3, Shape{n});
  CHECK_NEAR(mean_of(bern), 0.3, 0.0073);     // se 0.00145

  Array ri = jr::randint(jr::key(5), {n}, -3, 7);
  CHECK(min(ri).item<int>() == -3);
  CHECK(max(ri).item<int>() == 6);
  CHECK_NEAR(mean_of(ri), 1.5, 0.046);        // se 0.0091
  CHECK_NEAR(var_of(ri), 99.0 / 12, 0.12);    // se ~0.024

  // Categorical frequencies follow softmax(logits) (20000 draws; se <= 0.0033).
  Array logits = log(array(std::vector<float>{0.1f, 0.2f, 0.7f}));
  Array draws = jr::categorical(jr::key(6), broadcast_to(logits, {20000, 3}));
  const double probs[] = {0.1, 0.2, 0.7};
  for (int k = 0; k < 3; ++k) {
    CAPTURE(k);
    CHECK_NEAR(mean_of(equal(draws, k)), probs[k], 0.016);
  }
}

TEST_CASE("random.permutation: a permutation, uniform over positions") {
  Array p = jr::permutation(jr::key(12), 50);
  auto v = p.to_vector<int>();
  CHECK(std::set<int>(v.begin(), v.end()).size() == 50);
  CHECK(*std::min_element(v.begin(), v.end()) == 0);
  CHECK(*std::max_element(v.begin(), v.end()) == 49);
  // Where element 0 lands over 400 keys: uniform over the 4 positions (se 0.022 each).
  Array keys = jr::split(jr::key(13), 400);
  Array perms = vmap([](const Array& k) { return jr::permutation(k, 4); })(keys);
  REQUIRE(perms.shape() == Shape{400, 4});
  Array first = sum(equal(perms, 0).astype(int32) * arange(4), {1});  // position of 0
  for (int pos = 0; pos < 4; ++pos) {
    CAPTURE(pos);
    CHECK_NEAR(mean_of(equal(first, pos)), 0.25, 0.11);
  }
}

TEST_CASE("random keys: split and fold_in give independent streams") {
  Array ks = jr::split(jr::key(0), 4);
  std::set<std::vector<uint32_t>> streams;
  for (int i = 0; i < 4; ++i) streams.insert(u32s(jr::bits(ks[i], {8})));
  streams.insert(u32s(jr::bits(jr::key(0), {8})));
  streams.insert(u32s(jr::bits(jr::fold_in(jr::key(0), 100), {8})));
  streams.insert(u32s(jr::bits(jr::fold_in(jr::key(0), 101), {8})));
  streams.insert(u32s(jr::bits(jr::fold_in(jr::key(1), 100), {8})));
  CHECK(streams.size() == 8);
  // As in JAX (partitionable threefry): fold_in(key, i) is split(key, n)[i] (both hash (0, i)).
  CHECK(u32s(jr::fold_in(jr::key(0), 1)) == u32s(ks[1]));
  // Same key, same stream; different keys: uncorrelated uniforms.
  CHECK(u32s(jr::bits(ks[1], {8})) == u32s(jr::bits(ks[1], {8})));
  Array a = jr::uniform(ks[0], {20000}, float64) - 0.5;
  Array b = jr::uniform(ks[1], {20000}, float64) - 0.5;
  double corr = mean(a * b).item<double>() / std::sqrt(var_of(a) * var_of(b));
  CHECK(std::abs(corr) < 0.03);
}

TEST_CASE("random under vmap: a batch of keys equals the loop") {
  Array keys = jr::split(jr::key(0), 4);
  // jax.vmap(lambda k: jax.random.uniform(k, (3,)))(jax.random.split(PRNGKey(0), 4))
  Array u = vmap([](const Array& k) { return jr::uniform(k, {3}); })(keys);
  CHECK_ALLCLOSE_TOL(u,
                     (std::vector<double>{0.8423141241073608, 0.1823786497116089, 0.22717809677124023,
                                          0.007293820381164551, 0.020891189575195312, 0.5814265012741089,
                                          0.9024494886398315, 0.9122928380966187, 0.34104764461517334,
                                          0.26698946952819824, 0.733950138092041, 0.9537230730056763}),
                     0, 0);
  using testing::check_vmap;
  check_vmap([](const std::vector<Array>& a) { return jr::uniform(a[0], {3}); }, {keys}, {0});
  check_vmap([](const std::vector<Array>& a) { return jr::normal(a[0], {2, 2}); }, {keys}, {0});
  check_vmap([](const std::vector<Array>& a) { return jr::split(a[0], 3); }, {keys}, {0});
  check_vmap([](const std::vector<Array>& a) { return jr::fold_in(a[0], a[1]); }, {keys, arange(4)}, {0, 0});
  check_vmap([](const std::vector<Array>& a) { return jr::randint(a[0], {5}, 0, 10); }, {keys}, {0});
  check_vmap([](const std::vector<Array>& a) { return jr::truncated_normal(a[0], -0.5, 0.5, Shape{3}); }, {keys}, {0});
  check_vmap([](const std::vector<Array>& a) { return jr::bernoulli(a[0], a[1]); },
             {keys, array(std::vector<float>{0.1f, 0.5f, 0.9f, 0.3f})}, {0, 0});
  check_vmap([](const std::vector<Array>& a) { return jr::categorical(a[0], a[1]); }, {keys, zeros({4, 5})},
             {0, 0});
  check_vmap([](const std::vector<Array>& a) { return jr::permutation(a[0], 6); }, {keys}, {0});
  // Keys stored along axis 1.
  check_vmap([](const std::vector<Array>& a) { return jr::bits(a[0], {2}); }, {transpose(keys)}, {1});
  // vmap over integer seeds.
  check_vmap([](const std::vector<Array>& a) { return jr::key(a[0]); }, {arange(5)}, {0});
}

TEST_CASE("random under grad: reparameterized samples differentiate") {
  // d/dmu sum(mu + sigma * z) = n; d/dsigma = sum(z).
  Array key = jr::key(3);
  Array z = jr::normal(key, {5});
  auto f = [&](const Array& p) {
    Array mu = p[0], sigma = p[1];
    return sum(mu + sigma * jr::normal(key, {5}));
  };
  Array g = grad(f)(array(std::vector<float>{0.5f, 2.f}));
  CHECK_ALLCLOSE(g, (std::vector<double>{5.0, sum(z).item<double>()}));
  // Through uniform's bounds: d/dhi uniform(lo, hi) = u01.
  auto h = [&](const Array& hi) { return sum(jr::uniform(key, {4}, float32, 0.0, hi)); };
  double dh = grad(h)(scalar(2.0, float32)).item<double>();
  CHECK(dh == doctest::Approx(sum(jr::uniform(key, {4})).item<double>()).epsilon(1e-6));
}

TEST_CASE("random: samplers trace to bit operations on the key (no concrete values needed)") {
  auto jp = make_jaxpr([](const Array& k) { return jr::normal(k, {3}); })(jr::key(0));
  const std::string text = jp.str();
  CHECK(text.find("a:u32[2]") != std::string::npos);
  for (const char* prim : {"xor", "shift_left", "shift_right_logical", "bitcast_convert_type", "or"}) {
    CAPTURE(prim);
    CHECK(text.find(std::string(" = ") + prim) != std::string::npos);
  }
  // Evaluating the traced program on another key equals the eager call.
  CHECK(u32s(make_jaxpr([](const Array& k) { return jr::bits(k, {4}); })(jr::key(0))(std::vector<Array>{jr::key(9)})[0]) ==
        u32s(jr::bits(jr::key(9), {4})));
}

TEST_CASE("random: errors name the function and what was received") {
  Array k = jr::key(0);
  CHECK_THROWS_WITH_AS(jr::uniform(zeros({2}), {3}), doctest::Contains("[random.uniform] key must be a uint32[2]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(jr::uniform(zeros({2}), {3}), doctest::Contains("f32[2]"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::split(zeros({3}, uint32)), doctest::Contains("u32[3]"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::normal(jr::split(k), {3}), doctest::Contains("[random.normal] key"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::uniform(k, {3}, int32), doctest::Contains("float32 or float64, got int32"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::uniform(k, {-1}), doctest::Contains("negative dimension"), ShapeError);
  CHECK_THROWS_WITH_AS(jr::uniform(k, {3}, float32, zeros({2})), doctest::Contains("minval f32[2]"), ShapeError);
  CHECK_THROWS_WITH_AS(jr::randint(k, {3}, 5, 5), doctest::Contains("[random.randint] needs minval < maxval"),
                       ValueError);
  CHECK_THROWS_WITH_AS(jr::randint(k, {3}, 7, 2), doctest::Contains("minval 7, maxval 2"), ValueError);
  CHECK_THROWS_WITH_AS(jr::randint(k, {3}, -1, 5, uint32), doctest::Contains("out of the range of uint32"),
                       ValueError);
  CHECK_THROWS_WITH_AS(jr::randint(k, {3}, 0, 5, float32), doctest::Contains("int32 or uint32"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::bernoulli(k, Array(1), Shape{2}), doctest::Contains("p must be floating"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::bernoulli(k, zeros({3}), Shape{2}), doctest::Contains("does not broadcast"), ShapeError);
  CHECK_THROWS_WITH_AS(jr::categorical(k, zeros({3}), 1), doctest::Contains("axis 1 is out of range"), ShapeError);
  CHECK_THROWS_WITH_AS(jr::categorical(k, zeros({3}, int32)), doctest::Contains("floating"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::fold_in(k, 1.5), doctest::Contains("[random.fold_in] data must be a 0-d integer"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(jr::permutation(k, -2), doctest::Contains("n must be >= 0"), ValueError);
  CHECK_THROWS_WITH_AS(jr::key(Array(1.5)), doctest::Contains("[random.key] seed"), DTypeError);
  CHECK_THROWS_WITH_AS(jr::truncated_normal(k, zeros({2}), zeros({3})), doctest::Contains("truncated_normal"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::erf_inv(arange(3)), doctest::Contains("[erf_inv] needs a floating-point operand"),
                       DTypeError);
}
