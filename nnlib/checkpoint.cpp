// nnlib: safetensors reading and writing, with full validation of untrusted headers.
#include "nnlib/checkpoint.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

namespace jx::nn {
namespace {

using jx::detail::cat;
namespace fs = std::filesystem;

// The reference implementation's limit on header sizes (safetensors MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderSize = 100'000'000;

// ---- dtypes ----------------------------------------------------------------------------------

const char* st_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::bool_: return "BOOL";
    case DType::int32: return "I32";
    case DType::int64: return "I64";
    case DType::uint32: return "U32";
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::float16: return "F16";
    case DType::bfloat16: return "BF16";
  }
  return "?";
}

// The reference writer orders tensors by its Dtype enum, descending, then by name; these are the
// positions of our dtypes in that enum (BOOL < F16 < BF16 < I32 < U32 < F32 < F64 < I64).
int st_dtype_rank(DType dtype) {
  switch (dtype) {
    case DType::bool_: return 0;
    case DType::float16: return 1;
    case DType::bfloat16: return 2;
    case DType::int32: return 3;
    case DType::uint32: return 4;
    case DType::float32: return 5;
    case DType::float64: return 6;
    case DType::int64: return 7;
  }
  return 0;
}

// Known safetensors dtypes that jx does not have yet.
bool known_unsupported(const std::string& s) {
  static const std::set<std::string> names = {"U8",      "I8",      "I16",     "U16",     "U64",
                                              "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",      "F6_E2M3",
                                              "F6_E3M2", "C64"};
  return names.count(s) > 0;
}

std::optional<DType> parse_dtype(const std::string& s) {
  for (DType d : {DType::bool_, DType::int32, DType::int64, DType::uint32, DType::float32, DType::float64,
                  DType::float16, DType::bfloat16}) {
    if (s == st_dtype_name(d)) return d;
  }
  return std::nullopt;
}

std::string aval_str(DType dtype, const Shape& shape) { return AbstractValue{dtype, shape, false}.str(); }

// ---- byte order ------------------------------------------------------------------------------

void to_little_endian(char* data, size_t nbytes, size_t item) {
  if constexpr (std::endian::native == std::endian::big) {
    for (size_t i = 0; i + item <= nbytes; i += item) std::reverse(data + i, data + i + item);
  } else {
    (void)data, (void)nbytes, (void)item;
  }
}

void put_u64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const unsigned char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(in[i]) << (8 * i);
  return v;
}

// Host bytes (little endian) of a concrete array.
std::string array_bytes(const Array& x) {
  std::string out;
  dispatch_storage_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      auto v = x.to_vector<uint8_t>();
      out.assign(reinterpret_cast<const char*>(v.data()), v.size());
    } else {
      auto v = x.to_vector<T>();
      out.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
      to_little_endian(out.data(), out.size(), sizeof(T));
    }
  });
  return out;
}

Array array_from_bytes(std::string& bytes, DType dtype, const Shape& shape) {
  return dispatch_storage_dtype(dtype, [&](auto t) -> Array {
    using T = decltype(t);
    size_t n = static_cast<size_t>(shape_size(shape));
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<bool> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = bytes[i] != 0;
      return array(v, shape);
    } else {
      to_little_endian(bytes.data(), bytes.size(), sizeof(T));
      std::vector<T> v(n);
      if (n > 0) std::memcpy(v.data(), bytes.data(), n * sizeof(T));
      return array(v, shape);
    }
  });
}

// ---- reading ---------------------------------------------------------------------------------

struct Header {
  std::vector<TensorInfo> tensors;  // in file (offset) order
  Metadata metadata;
  uint64_t data_start = 0;  // 8 + header size
};

[[noreturn]] void corrupt(const fs::path& path, const std::string& what) {
  throw ValueError(cat("[nn::load] '", path.string(), "' is not a valid safetensors file: ", what));
}

// Multiplies the dims, or nullopt on overflow of uint64.
std::optional<uint64_t> checked_product(const Shape& shape, uint64_t item) {
  uint64_t n = item;
  for (int64_t d : shape) {
    auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<uint64_t>::max() / u) return std::nullopt;
    n *= u;
  }
  return n;
}

Header read_header(const fs::path& path, std::ifstream& in) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ValueError(cat("[nn::load] no such file: '", path.string(), "'"));
  if (fs::is_directory(path, ec)) throw ValueError(cat("[nn::load] '", path.string(), "' is a directory"));
  uint64_t file_size = fs::file_size(path, ec);
  if (ec) throw ValueError(cat("[nn::load] cannot read '", path.string(), "': ", ec.message()));
  in.open(path, std::ios::binary);
  if (!in) throw ValueError(cat("[nn::load] cannot open '", path.string(), "' for reading"));
  if (file_size < 8) corrupt(path, cat("the file has ", file_size, " bytes, fewer than the 8-byte header size"));

  unsigned char size_bytes[8];
  in.read(reinterpret_cast<char*>(size_bytes), 8);
  if (!in) corrupt(path, "cannot read the 8-byte header size");
  uint64_t n = get_u64(size_bytes);
  if (n > kMaxHeaderSize) corrupt(path, cat("the header size ", n, " exceeds the limit of ", kMaxHeaderSize, " bytes"));
  if (n > file_size - 8) {
    corrupt(path, cat("the header size ", n, " is larger than the rest of the file (", file_size - 8, " bytes)"));
  }
  std::string text(static_cast<size_t>(n), '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) corrupt(path, "cannot read the header");

  Header header;
  header.data_start = 8 + n;
  const uint64_t data_len = file_size - 8 - n;

  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    corrupt(path, cat("the header is not valid JSON (", e.what(), ")"));
  }
  if (!json.is_object()) corrupt(path, "the header is not a JSON object");

  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) corrupt(path, "__metadata__ is not an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) corrupt(path, cat("__metadata__ entry '", m.key(), "' is not a string"));
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { corrupt(path, cat("tensor '", name, "': ", what)); };
    if (!v.is_object()) bad("the entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) bad("missing or non-string \"dtype\"");
    if (!v.contains("shape") || !v["shape"].is_array()) bad("missing or non-array \"shape\"");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2) {
      bad("\"data_offsets\" must be an array [begin, end]");
    }
    TensorInfo info;
    info.name = name;
    std::string dtype = v["dtype"].get<std::string>();
    auto parsed = parse_dtype(dtype);
    if (!parsed) {
      if (known_unsupported(dtype)) {
        throw ValueError(cat("[nn::load] '", path.string(), "': tensor '", name, "' has dtype ", dtype,
                             ", which is not supported yet (jx reads BOOL, I32, I64, U32, F16, BF16, F32, F64)"));
      }
      bad(cat("unknown dtype \"", dtype, "\""));
    }
    info.dtype = *parsed;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0)) {
        bad(cat("the shape ", v["shape"].dump(), " has an entry that is not a non-negative integer"));
      }
      uint64_t u = d.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) bad(cat("the shape ", v["shape"].dump(), " is too large"));
      info.shape.push_back(static_cast<int64_t>(u));
    }
    for (const auto& o : v["data_offsets"]) {
      if (!o.is_number_unsigned()) bad(cat("data_offsets ", v["data_offsets"].dump(), " are not non-negative integers"));
    }
    info.begin = v["data_offsets"][0].get<uint64_t>();
    info.end = v["data_offsets"][1].get<uint64_t>();
    if (info.end < info.begin) bad(cat("data_offsets [", info.begin, ", ", info.end, "] end before they begin"));
    if (info.end > data_len) {
      bad(cat("data_offsets [", info.begin, ", ", info.end, "] lie outside the data section (", data_len, " bytes)"));
    }
    auto nbytes = checked_product(info.shape, itemsize(info.dtype));
    if (!nbytes || *nbytes != info.end - info.begin) {
      bad(cat(aval_str(info.dtype, info.shape), " needs ",
              nbytes ? std::to_string(*nbytes) : std::string("too many"), " bytes but data_offsets [", info.begin,
              ", ", info.end, "] hold ", info.end - info.begin));
    }
    header.tensors.push_back(std::move(info));
  }

  // The data section holds the tensors back to back, in offset order, with nothing else.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : header.tensors) {
    if (t.begin < pos) {
      corrupt(path, cat("tensors '", prev->name, "' [", prev->begin, ", ", prev->end, "] and '", t.name, "' [",
                        t.begin, ", ", t.end, "] overlap"));
    }
    if (t.begin > pos) {
      corrupt(path, cat("the data is not contiguous: ", t.begin - pos, " unused bytes before tensor '", t.name,
                        "' at offset ", t.begin));
    }
    pos = t.end;
    prev = &t;
  }
  if (pos != data_len) {
    corrupt(path, cat("the tensors cover ", pos, " bytes but the data section has ", data_len, " bytes"));
  }
  return header;
}

Array read_tensor(const fs::path& path, std::ifstream& in, const Header& header, const TensorInfo& t) {
  std::string bytes(static_cast<size_t>(t.end - t.begin), '\0');
  in.clear();
  in.seekg(static_cast<std::streamoff>(header.data_start + t.begin));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw ValueError(cat("[nn::load] '", path.string(), "': cannot read the data of tensor '", t.name, "'"));
  return array_from_bytes(bytes, t.dtype, t.shape);
}

bool is_index(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Dicts whose keys are exactly 0..n-1 become lists, recursively.
Tree listify(Tree t) {
  if (!t.is_dict()) return t;
  auto& dict = t.as_dict();
  for (auto& [k, v] : dict) v = listify(std::move(v));
  if (dict.empty()) return t;
  std::vector<Tree> items(dict.size());
  std::vector<bool> seen(dict.size(), false);
  for (auto& [k, v] : dict) {
    if (!is_index(k)) return t;
    size_t i = std::stoul(k);
    if (i >= items.size() || seen[i]) return t;
    seen[i] = true;
    items[i] = v;
  }
  return Tree::list(std::move(items));
}

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

void leaf_paths_rec(const TreeDef& def, const std::string& prefix, const char* op, std::vector<std::string>& out) {
  auto join = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
  switch (def.kind) {
    case TreeDef::Kind::leaf:
      if (prefix.empty()) {
        throw ValueError(cat("[", op, "] a checkpoint names its tensors by tree path; a bare array has no name "
                                      "(wrap it in a dict, e.g. Tree{{\"w\", x}})"));
      }
      out.push_back(prefix);
      return;
    case TreeDef::Kind::none: return;
    case TreeDef::Kind::list:
    case TreeDef::Kind::tuple:
      for (size_t i = 0; i < def.children.size(); ++i) leaf_paths_rec(def.children[i], join(std::to_string(i)), op, out);
      return;
    case TreeDef::Kind::dict:
    case TreeDef::Kind::structure:
      for (size_t i = 0; i < def.children.size(); ++i) {
        const std::string& key = def.keys[i];
        if (key.empty() || key.find('.') != std::string::npos) {
          throw ValueError(cat("[", op, "] the key '", key, "' at '", prefix.empty() ? std::string("<root>") : prefix,
                               "' cannot name a tensor: keys must be non-empty and contain no '.' (the path separator)"));
        }
        leaf_paths_rec(def.children[i], join(key), op, out);
      }
      return;
  }
}

}  // namespace

namespace detail {

std::vector<std::string> leaf_paths(const TreeDef& def, const char* op) {
  std::vector<std::string> out;
  leaf_paths_rec(def, "", op, out);
  return out;
}

void save_named(const std::vector<std::string>& names, const std::vector<Array>& leaves, const fs::path& path,
                const Metadata& metadata) {
  JX_CHECK(names.size() == leaves.size(), "leaf names and leaves differ in number");
  // 1. Order as the reference writer: dtype rank descending, then name.
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!leaves[i].defined()) throw ValueError(cat("[nn::save] tensor '", names[i], "' is an undefined array"));
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int ra = st_dtype_rank(leaves[a].dtype()), rb = st_dtype_rank(leaves[b].dtype());
    return ra != rb ? ra > rb : names[a] < names[b];
  });
  // 2. The header: metadata first, then the tensors with running offsets.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::vector<std::string> data(names.size());
  uint64_t offset = 0;
  for (size_t i : order) {
    const Array& x = leaves[i];
    if (names[i] == "__metadata__") throw ValueError("[nn::save] '__metadata__' is reserved and cannot name a tensor");
    if (header.contains(names[i])) throw ValueError(cat("[nn::save] two tensors are named '", names[i], "'"));
    try {
      data[i] = array_bytes(x);
    } catch (Error& e) {
      e.add_context(cat("while saving tensor '", names[i], "' to '", path.string(), "'"));
      throw;
    }
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = st_dtype_name(x.dtype());
    entry["shape"] = x.shape();
    entry["data_offsets"] = {offset, offset + data[i].size()};
    header[names[i]] = entry;
    offset += data[i].size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(cat("[nn::save] cannot encode the header for '", path.string(), "' (", e.what(),
                         "); tensor names and metadata must be valid UTF-8"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  // 3. Write to a temporary file and rename it into place.
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw ValueError(cat("[nn::save] cannot open '", tmp.string(), "' for writing"));
    char size_bytes[8];
    put_u64(size_bytes, text.size());
    out.write(size_bytes, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (size_t i : order) out.write(data[i].data(), static_cast<std::streamsize>(data[i].size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw ValueError(cat("[nn::save] writing '", tmp.string(), "' failed"));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw ValueError(cat("[nn::save] cannot move '", tmp.string(), "' to '", path.string(), "': ", ec.message()));
  }
}

std::vector<Array> load_named(const fs::path& path, const std::vector<std::string>& names,
                              const std::vector<Array>& like) {
  std::ifstream in;
  Header header = read_header(path, in);
  std::map<std::string, const TensorInfo*> by_name;
  for (auto& t : header.tensors) by_name[t.name] = &t;

  std::vector<std::string> problems;
  std::set<std::string> wanted(names.begin(), names.end());
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = by_name.find(names[i]);
    const AbstractValue& expected = like[i].aval();
    if (it == by_name.end()) {
      problems.push_back(cat("missing tensor '", names[i], "' (expected ", aval_str(expected.dtype, expected.shape), ")"));
      continue;
    }
    const TensorInfo& t = *it->second;
    if (t.shape != expected.shape) {
      problems.push_back(cat("tensor '", names[i], "': shape ", shape_str(t.shape), " in the file, expected ",
                             shape_str(expected.shape)));
    }
    if (t.dtype != expected.dtype) {
      problems.push_back(cat("tensor '", names[i], "': dtype ", dtype_name(t.dtype), " in the file, expected ",
                             dtype_name(expected.dtype)));
    }
  }
  for (auto& t : header.tensors) {
    if (!wanted.count(t.name)) {
      problems.push_back(cat("unexpected tensor '", t.name, "' ", aval_str(t.dtype, t.shape), " in the file"));
    }
  }
  if (!problems.empty()) {
    std::ostringstream os;
    os << "[nn::load_into] '" << path.string() << "' does not match the structure it is loaded into ("
       << problems.size() << (problems.size() == 1 ? " problem" : " problems") << "):";
    for (auto& p : problems) os << "\n  " << p;
    throw ValueError(os.str());
  }
  std::vector<Array> out;
  out.reserve(names.size());
  for (auto& n : names) out.push_back(read_tensor(path, in, header, *by_name.at(n)));
  return out;
}

}  // namespace detail

Tree load(const fs::path& path) {
  std::ifstream in;
  Header header = read_header(path, in);
  Tree root = Tree::dict();
  // Build the nested dicts; a name that is a prefix of another ("a" and "a.b") is a conflict.
  std::vector<const TensorInfo*> by_name;
  for (auto& t : header.tensors) by_name.push_back(&t);
  std::sort(by_name.begin(), by_name.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (const TensorInfo* t : by_name) {
    auto parts = split_name(t->name);
    for (auto& p : parts) {
      if (p.empty()) {
        throw ValueError(cat("[nn::load] '", path.string(), "': tensor name '", t->name,
                             "' has an empty path component and cannot be nested into a tree (nn::inspect lists it)"));
      }
    }
    Tree* node = &root;
    std::string so_far;
    for (size_t i = 0; i < parts.size(); ++i) {
      so_far += (i ? "." : "") + parts[i];
      auto& dict = node->as_dict();
      bool last = i + 1 == parts.size();
      auto it = dict.find(parts[i]);
      if (it != dict.end() && (last || it->second.is_leaf())) {
        throw ValueError(cat("[nn::load] '", path.string(), "': tensor names '", t->name, "' and '",
                             (last ? t->name + ".*" : so_far), "' conflict (a name is both a tensor and a group)"));
      }
      if (last) {
        dict.emplace(parts[i], read_tensor(path, in, header, *t));
      } else {
        if (it == dict.end()) it = dict.emplace(parts[i], Tree::dict()).first;
        node = &it->second;
      }
    }
  }
  return listify(std::move(root));
}

std::vector<TensorInfo> inspect(const fs::path& path) {
  std::ifstream in;
  return read_header(path, in).tensors;
}

Metadata load_metadata(const fs::path& path) {
  std::ifstream in;
  return read_header(path, in).metadata;
}

}  // namespace jx::nn
