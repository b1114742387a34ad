#pragma once
// nnlib: checkpoints in the safetensors format. Tensor names are tree paths joined by "."
// ("block0.attn.wq", list elements by index: "layers.0.w"); save/load/load_into/inspect.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "core/tree.h"

namespace jx::nn {

/// Free-form string metadata stored under "__metadata__" in a safetensors header.
using Metadata = std::map<std::string, std::string>;

/// One tensor of a checkpoint file, as described by its header.
struct TensorInfo {
  std::string name;
  DType dtype = float32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

namespace detail {
/// Dotted path names of the leaves of `def`, in leaf order. Dict keys and struct fields give
/// their name, list/tuple elements their index; None nodes have no leaves. Throws ValueError
/// (prefixed by `op`) for an empty key, a key containing '.', or a bare leaf at the root.
std::vector<std::string> leaf_paths(const TreeDef& def, const char* op);
void save_named(const std::vector<std::string>& names, const std::vector<Array>& leaves,
                const std::filesystem::path& path, const Metadata& metadata);
/// Reads the tensors of `path` that `like` names, checking names, shapes and dtypes first;
/// every mismatch is reported in one ValueError.
std::vector<Array> load_named(const std::filesystem::path& path, const std::vector<std::string>& names,
                              const std::vector<Array>& like);
}  // namespace detail

/// Writes every leaf of `tree` (a jx::Tree, std containers, JX_TREE structs, ...) to `path` in
/// the safetensors format: an 8-byte little-endian header size, a compact JSON header padded
/// with spaces to a multiple of 8 bytes, then the tensors' little-endian bytes, contiguous, in
/// the reference writer's order (larger dtypes first, then by name) -- the file is byte for
/// byte what Python's `safetensors` writes for the same tensors. Leaves must be concrete
/// arrays. The file is written to "<path>.tmp" and renamed, so a reader never sees a partial
/// checkpoint. Throws ValueError for keys containing '.', empty keys, or a bare array.
template <class T>
void save(const T& tree, const std::filesystem::path& path, const Metadata& metadata = {}) {
  auto [leaves, def] = tree_flatten(tree);
  detail::save_named(detail::leaf_paths(def, "nn::save"), leaves, path, metadata);
}

/// Reads a safetensors file into a nested jx::Tree dict rebuilt from the dotted names; a node
/// whose keys are exactly 0..n-1 becomes a list (so `load(save(t))` gives back lists).
/// Supported dtypes: BOOL, I32, I64, U32, F32, F64. Corrupt or truncated files, unsupported
/// dtypes and conflicting names ("a" and "a.b") throw ValueError naming the file.
Tree load(const std::filesystem::path& path);

/// Restores a checkpoint into the structure of `like` (any tree type): every leaf of `like`
/// must have a tensor of the same name, shape and dtype in the file, and the file must have no
/// other tensors. All mismatches (missing, unexpected, shape, dtype) are listed in one
/// ValueError.
template <class T>
T load_into(const std::filesystem::path& path, const T& like) {
  auto [leaves, def] = tree_flatten(like);
  auto names = detail::leaf_paths(def, "nn::load_into");
  return tree_unflatten<T>(def, detail::load_named(path, names, leaves));
}

/// The tensors a file describes, in file order (validated as load does, without reading data).
std::vector<TensorInfo> inspect(const std::filesystem::path& path);
/// The "__metadata__" of a file (empty when absent).
Metadata load_metadata(const std::filesystem::path& path);

}  // namespace jx::nn
