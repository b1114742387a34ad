// Checkpoints: safetensors round trips, names, interop with the Python reference writer,
// corrupt-file validation and mismatch reporting.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "testing/testing.h"

namespace fs = std::filesystem;
using namespace jx;

namespace {

struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("jx_checkpoint_test") {}
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

/// A file from a header text and data bytes; the size field defaults to the header's length.
std::string raw_file(const std::string& header, const std::string& data, std::optional<uint64_t> size = std::nullopt) {
  return u64le(size ? *size : header.size()) + header + data;
}

/// The message of the ValueError that f throws ("" if none, "<other>" for another type).
template <class F>
std::string value_error(F&& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<other exception> ") + e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Exact equality of dtype, shape and elements.
void check_same(const Array& got, const Array& expected) {
  REQUIRE(got.defined());
  CHECK(got.dtype() == expected.dtype());
  CHECK(got.shape() == expected.shape());
  if (got.dtype() == bool_) {
    CHECK(got.to_vector<uint8_t>() == expected.to_vector<uint8_t>());
  } else if (got.dtype() == int64) {
    CHECK(got.to_vector<int64_t>() == expected.to_vector<int64_t>());
  } else if (got.dtype() == uint32) {
    CHECK(got.to_vector<uint32_t>() == expected.to_vector<uint32_t>());
  } else {
    CHECK(got.to_vector<double>() == expected.to_vector<double>());
  }
}

fs::path data_dir() { return fs::path(__FILE__).parent_path() / "data"; }

// The tensors of tests/nnlib/data/reference.safetensors, built independently of the file.
Tree reference_tree() {
  return Tree{
      {"block0", Tree{{"attn", Tree{{"wq", array<float>({-1.f, -0.5f, 0.f, 0.5f, 1.f, 1.5f}, Shape{2, 3})},
                                    {"bias", array<double>({1.5, -2.25, 1e-300})}}}}},
      {"layers", Tree::list({Tree{{"w", array<int32_t>({-1, 2, -3, 2147483647}, Shape{2, 2})}},
                             Tree{{"w", array<int64_t>({-(int64_t{1} << 40), 0, int64_t{1} << 62})}}})},
      {"mask", array<bool>({true, false, false, true}, Shape{2, 2})},
      {"count", array<uint32_t>({4000000000u}, Shape{})},
      {"empty", zeros({0, 4})},
  };
}

struct Block {
  Array wq;
  std::vector<Array> layers;
};
JX_TREE(Block, wq, layers)

}  // namespace

TEST_CASE("checkpoint: round trip of a nested jx::Tree with every dtype") {
  TempDir tmp;
  Tree params = reference_tree();
  nn::save(params, tmp / "params.safetensors");
  Tree loaded = nn::load(tmp / "params.safetensors");
  auto [want, want_def] = tree_flatten(params);
  auto [got, got_def] = tree_flatten(loaded);
  CHECK(got_def == want_def);  // lists come back as lists, dicts as dicts
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) check_same(got[i], want[i]);
  CHECK(loaded["layers"].is_list());
  CHECK(loaded["layers"][1]["w"].array().to_vector<int64_t>()[2] == (int64_t{1} << 62));
  CHECK_FALSE(fs::exists(tmp / "params.safetensors.tmp"));
}

TEST_CASE("checkpoint: tensor names are tree paths joined by '.'") {
  TempDir tmp;
  std::map<std::string, Block> model;
  model["block0"] = Block{ones({2, 2}), {zeros({3}), zeros({1}, int32)}};
  model["head"] = Block{full({1}, 2.0), {}};
  nn::save(model, tmp / "m.safetensors");
  std::vector<std::string> names;
  for (auto& t : nn::inspect(tmp / "m.safetensors")) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"block0.layers.0", "block0.layers.1", "block0.wq", "head.wq"});

  // load_into restores the struct types; load gives the dynamic tree.
  auto back = nn::load_into(tmp / "m.safetensors", model);
  check_same(back["block0"].layers[1], zeros({1}, int32));
  check_same(back["head"].wq, full({1}, 2.0));
  Tree dyn = nn::load(tmp / "m.safetensors");
  check_same(dyn["block0"]["layers"][0].array(), zeros({3}));

  // None nodes have no tensors; tuples index like lists.
  Tree with_none{{"a", none}, {"b", ones({1})}};
  nn::save(with_none, tmp / "n.safetensors");
  CHECK(nn::inspect(tmp / "n.safetensors").size() == 1);
  nn::save(std::make_tuple(ones({1}), std::vector<Array>{zeros({2})}), tmp / "t.safetensors");
  names.clear();
  for (auto& t : nn::inspect(tmp / "t.safetensors")) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"0", "1.0"});
  Tree t = nn::load(tmp / "t.safetensors");
  REQUIRE(t.is_list());
  check_same(t[1][0].array(), zeros({2}));
}

TEST_CASE("checkpoint: metadata round trips") {
  TempDir tmp;
  nn::save(Tree{{"w", ones({2})}}, tmp / "m.safetensors", {{"step", "100"}, {"format", "jx"}});
  CHECK(nn::load_metadata(tmp / "m.safetensors") == nn::Metadata{{"format", "jx"}, {"step", "100"}});
  nn::save(Tree{{"w", ones({2})}}, tmp / "n.safetensors");
  CHECK(nn::load_metadata(tmp / "n.safetensors").empty());
  CHECK(!contains(read_bytes(tmp / "n.safetensors"), "__metadata__"));
}

// tests/nnlib/data/reference.safetensors was written by the Python package (safetensors 0.8.0):
//   import numpy as np
//   from safetensors.numpy import save_file
//   tensors = {
//       "block0.attn.wq": (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
//       "block0.attn.bias": np.array([1.5, -2.25, 1e-300], dtype=np.float64),
//       "layers.0.w": np.array([[-1, 2], [-3, 2147483647]], dtype=np.int32),
//       "layers.1.w": np.array([-(2**40), 0, 2**62], dtype=np.int64),
//       "mask": np.array([[True, False], [False, True]]),
//       "count": np.array(4000000000, dtype=np.uint32),
//       "empty": np.zeros((0, 4), dtype=np.float32),
//   }
//   save_file(tensors, "reference.safetensors", metadata={"format": "np"})
TEST_CASE("checkpoint: a file written by Python safetensors loads with the right values") {
  fs::path ref = data_dir() / "reference.safetensors";
  REQUIRE_MESSAGE(fs::exists(ref), ref.string());
  Tree loaded = nn::load(ref);
  auto [want, want_def] = tree_flatten(reference_tree());
  auto [got, got_def] = tree_flatten(loaded);
  CHECK(got_def == want_def);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) check_same(got[i], want[i]);
  CHECK(nn::load_metadata(ref) == nn::Metadata{{"format", "np"}});
  auto restored = nn::load_into(ref, reference_tree());
  check_same(restored["block0"]["attn"]["bias"].array(), array<double>({1.5, -2.25, 1e-300}));
}

TEST_CASE("checkpoint: jx writes the same bytes as Python safetensors") {
  // Byte equality with the reference writer's output means Python reads jx's files exactly as
  // it reads its own (same header, order, padding and data).
  TempDir tmp;
  nn::save(reference_tree(), tmp / "jx.safetensors", {{"format", "np"}});
  std::string mine = read_bytes(tmp / "jx.safetensors");
  std::string theirs = read_bytes(data_dir() / "reference.safetensors");
  REQUIRE(!theirs.empty());
  CHECK(mine.size() == theirs.size());
  CHECK(mine == theirs);
}

TEST_CASE("checkpoint: the header is padded with spaces to a multiple of 8 bytes") {
  TempDir tmp;
  for (std::string name : {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"}) {
    CAPTURE(name);
    nn::save(Tree{{name, ones({1})}}, tmp / "p.safetensors");
    std::string bytes = read_bytes(tmp / "p.safetensors");
    REQUIRE(bytes.size() >= 8);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    CHECK(n % 8 == 0);
    CHECK(bytes.size() == 8 + n + 4);
    std::string header = bytes.substr(8, n);
    std::string json = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    CHECK(header.substr(0, json.size()) == json);
    CHECK(header.substr(json.size()) == std::string(n - json.size(), ' '));
    CHECK(n - json.size() < 8);
  }
}

TEST_CASE("checkpoint: corrupt and truncated files give a ValueError naming the file") {
  TempDir tmp;
  const std::string f32x2 = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, '\0');
  struct Case {
    std::string label;
    std::string bytes;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"empty file", "", "fewer than the 8-byte header size"},
      {"short size field", std::string(5, '\x01'), "fewer than the 8-byte header size"},
      {"header size larger than the file", raw_file(f32x2, eight, 1000), "larger than the rest of the file"},
      {"header size beyond the limit", raw_file(f32x2, eight, uint64_t{1} << 62), "exceeds the limit"},
      {"truncated data", raw_file(f32x2, std::string(5, '\0')), "outside the data section"},
      {"trailing bytes", raw_file(f32x2, std::string(12, '\0')), "the data section has 12 bytes"},
      {"invalid JSON", raw_file(R"({"w":{"dtype":"F32",)", eight), "not valid JSON"},
      {"header not an object", raw_file("[1, 2]  ", ""), "not a JSON object"},
      {"entry not an object", raw_file(R"({"w":3})", ""), "not an object"},
      {"missing dtype", raw_file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", eight), "\"dtype\""},
      {"shape not an array", raw_file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight), "\"shape\""},
      {"negative dim", raw_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
       "not a non-negative integer"},
      {"fractional dim", raw_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", eight),
       "not a non-negative integer"},
      {"offsets arity", raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight), "[begin, end]"},
      {"negative offset", raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", eight),
       "not non-negative integers"},
      {"end before begin", raw_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight),
       "end before they begin"},
      {"offsets out of range", raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", eight),
       "outside the data section"},
      {"huge offsets", raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]}})", eight),
       "outside the data section"},
      {"shape/offset size mismatch", raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
       "f32[3] needs 12 bytes but data_offsets [0, 8] hold 8"},
      {"overflowing shape", raw_file(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight),
       "needs too many bytes"},
      {"overlapping tensors",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                eight),
       "overlap"},
      {"gap between tensors",
       raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                std::string(12, '\0')),
       "not contiguous"},
      {"unknown dtype", raw_file(R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", eight), "unknown dtype \"Q7\""},
      {"I16", raw_file(R"({"w":{"dtype":"I16","shape":[4],"data_offsets":[0,8]}})", eight), "not supported yet"},
      {"U8", raw_file(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", eight), "not supported yet"},
      {"metadata not strings", raw_file(R"({"__metadata__":{"a":1}})", ""), "__metadata__"},
  };
  for (auto& c : cases) {
    CAPTURE(c.label);
    fs::path p = tmp / "corrupt.safetensors";
    write_bytes(p, c.bytes);
    std::string msg = value_error([&] { nn::load(p); });
    CHECK_MESSAGE(contains(msg, "corrupt.safetensors"), msg);
    CHECK_MESSAGE(contains(msg, c.expect), msg);
    // inspect and load_into validate the same way.
    std::string msg2 = value_error([&] { nn::inspect(p); });
    CHECK_MESSAGE(contains(msg2, c.expect), msg2);
    std::string msg3 = value_error([&] { nn::load_into(p, Tree{{"w", zeros({2})}}); });
    CHECK_MESSAGE(contains(msg3, c.expect), msg3);
  }
  // The tensor is named where it is at fault.
  write_bytes(tmp / "named.safetensors",
              raw_file(R"({"my.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight));
  CHECK(contains(value_error([&] { nn::load(tmp / "named.safetensors"); }), "tensor 'my.weight'"));
  // A missing file and a directory.
  CHECK(contains(value_error([&] { nn::load(tmp / "nope.safetensors"); }), "no such file: '"));
  CHECK(contains(value_error([&] { nn::load(tmp.dir); }), "is a directory"));
}

TEST_CASE("checkpoint: a valid minimal file written by hand loads") {
  // Independent of jx's writer: header bytes and data laid out by hand.
  TempDir tmp;
  float values[2] = {3.5f, -1.25f};
  std::string data(reinterpret_cast<const char*>(values), 8);  // little-endian host
  write_bytes(tmp / "h.safetensors",
              raw_file(R"({"x.y":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"z":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]}})",
                       data + std::string(1, '\x01')));
  Tree t = nn::load(tmp / "h.safetensors");
  check_same(t["x"]["y"].array(), array<float>({3.5f, -1.25f}, Shape{2, 1}));
  check_same(t["z"].array(), array<bool>({true}, Shape{}));
  // An empty checkpoint is valid.
  write_bytes(tmp / "e.safetensors", raw_file("{}      ", ""));
  Tree e = nn::load(tmp / "e.safetensors");
  CHECK(e.is_dict());
  CHECK(e.size() == 0);
}

TEST_CASE("checkpoint: names that cannot nest into a tree are reported") {
  TempDir tmp;
  const std::string eight(8, '\0');
  write_bytes(tmp / "c.safetensors",
              raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a.b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       eight));
  std::string msg = value_error([&] { nn::load(tmp / "c.safetensors"); });
  CHECK_MESSAGE(contains(msg, "'a.b' and 'a' conflict"), msg);
  CHECK_MESSAGE(contains(msg, "c.safetensors"), msg);
  write_bytes(tmp / "d.safetensors", raw_file(R"({"a..b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight));
  CHECK(contains(value_error([&] { nn::load(tmp / "d.safetensors"); }), "empty path component"));
  CHECK(nn::inspect(tmp / "d.safetensors").at(0).name == "a..b");
}

TEST_CASE("checkpoint: load_into reports every mismatch in one error") {
  TempDir tmp;
  nn::save(Tree{{"w", zeros({2, 3})}, {"b", zeros({3}, int32)}, {"extra", ones({1})}, {"same", ones({4})}},
           tmp / "ck.safetensors");
  Tree like{{"w", zeros({3, 2})}, {"b", zeros({3})}, {"missing", zeros({5}, float64)}, {"same", ones({4})}};
  std::string msg = value_error([&] { nn::load_into(tmp / "ck.safetensors", like); });
  CAPTURE(msg);
  CHECK(contains(msg, "ck.safetensors"));
  CHECK(contains(msg, "4 problems"));
  CHECK(contains(msg, "missing tensor 'missing' (expected f64[5])"));
  CHECK(contains(msg, "unexpected tensor 'extra' f32[1]"));
  CHECK(contains(msg, "tensor 'w': shape [2,3] in the file, expected [3,2]"));
  CHECK(contains(msg, "tensor 'b': dtype int32 in the file, expected float32"));
  CHECK(!contains(msg, "'same'"));
  // A matching structure loads.
  Tree ok{{"w", ones({2, 3})}, {"b", ones({3}, int32)}, {"extra", zeros({1})}, {"same", zeros({4})}};
  Tree back = nn::load_into(tmp / "ck.safetensors", ok);
  check_same(back["same"].array(), ones({4}));
  check_same(back["w"].array(), zeros({2, 3}));
}

TEST_CASE("checkpoint: save rejects trees whose paths cannot name tensors") {
  TempDir tmp;
  CHECK(contains(value_error([&] { nn::save(Tree{{"a.b", ones({1})}}, tmp / "x.safetensors"); }),
                 "the key 'a.b' at '<root>'"));
  CHECK(contains(value_error([&] { nn::save(Tree{{"a", Tree{{"", ones({1})}}}}, tmp / "x.safetensors"); }),
                 "the key '' at 'a'"));
  CHECK(contains(value_error([&] { nn::save(ones({1}), tmp / "x.safetensors"); }), "a bare array has no name"));
  CHECK(contains(value_error([&] { nn::save(Tree{{"w", ones({1})}}, tmp.dir / "no_dir" / "x.safetensors"); }),
                 "cannot open"));
  CHECK_FALSE(fs::exists(tmp / "x.safetensors"));
}
