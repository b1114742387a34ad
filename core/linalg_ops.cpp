// numpy-level linear algebra built on dot_general: matmul, dot, outer, tensordot, trace, einsum.

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "core/ops.h"
#include "core/prims/dot.h"
#include "core/prims/elementwise.h"
#include "core/trace.h"

namespace jx {

namespace {

using Dims = std::vector<int64_t>;

// Promotes both operands to their common dtype (numpy semantics).
std::pair<Array, Array> promote2(const Array& a, const Array& b) {
  std::vector<Array> args{a, b};
  auto t = detail::result_type(args);
  return {detail::convert(a, t), detail::convert(b, t)};
}

Array dot_general_raw(const Array& a, const Array& b, Dims lc, Dims rc, Dims lb = {}, Dims rb = {}) {
  return bind1(dot_general_p, {a, b},
               Params{{"lhs_contracting", std::move(lc)},
                      {"rhs_contracting", std::move(rc)},
                      {"lhs_batch", std::move(lb)},
                      {"rhs_batch", std::move(rb)}});
}

std::vector<int> iota_perm(int64_t n) {
  std::vector<int> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  return p;
}

}  // namespace

Array matmul(const Array& a_in, const Array& b_in, const Loc& loc) {
  return at_loc(loc, [&] {
    if (a_in.ndim() == 0 || b_in.ndim() == 0) {
      throw_error<ShapeError>("[matmul] operands must be at least 1-d, got lhs ", a_in.aval().str(), ", rhs ",
                              b_in.aval().str());
    }
    auto [a, b] = promote2(a_in, b_in);
    const int64_t na = a.ndim(), nb = b.ndim();
    const int64_t ka = a.shape()[na - 1];
    const int64_t kb = nb == 1 ? b.shape()[0] : b.shape()[nb - 2];
    if (ka != kb) {
      throw_error<ShapeError>("[matmul] inner dimensions differ: lhs ", a_in.aval().str(), ", rhs ",
                              b_in.aval().str(), " (", ka, " vs ", kb, ")");
    }
    // A 1-d operand is contracted directly; the free dims then come out in numpy's order.
    if (na == 1) return dot_general_raw(a, b, {0}, {nb == 1 ? 0 : nb - 2});
    if (nb == 1) return dot_general_raw(a, b, {na - 1}, {0});
    Shape abatch(a.shape().begin(), a.shape().end() - 2), bbatch(b.shape().begin(), b.shape().end() - 2);
    if (bbatch.empty()) return dot_general_raw(a, b, {na - 1}, {0});  // [..., M, N] directly
    if (abatch.empty()) {
      // [M, bbatch..., N] -> [bbatch..., M, N]
      Array r = dot_general_raw(a, b, {1}, {nb - 2});
      std::vector<int> perm;
      for (int64_t i = 1; i < nb - 1; ++i) perm.push_back(static_cast<int>(i));
      perm.push_back(0);
      perm.push_back(static_cast<int>(nb - 1));
      return transpose(r, perm);
    }
    AbstractValue av{a.dtype(), abatch, false}, bv{b.dtype(), bbatch, false};
    Shape batch = broadcast_shapes("matmul", av, bv);
    const int64_t nbatch = static_cast<int64_t>(batch.size());
    auto bcast = [&](const Array& x) {
      Shape target = batch;
      target.push_back(x.shape()[x.ndim() - 2]);
      target.push_back(x.shape()[x.ndim() - 1]);
      if (target == x.shape()) return x;
      Dims dims;
      for (int64_t i = 0; i < x.ndim(); ++i) dims.push_back(nbatch + 2 - x.ndim() + i);
      return lax::broadcast_in_dim(x, target, dims);
    };
    Dims bd(static_cast<size_t>(nbatch));
    std::iota(bd.begin(), bd.end(), 0);
    return dot_general_raw(bcast(a), bcast(b), {nbatch + 1}, {nbatch}, bd, bd);
  });
}

Array dot(const Array& a_in, const Array& b_in, const Loc& loc) {
  return at_loc(loc, [&] {
    if (a_in.ndim() == 0 || b_in.ndim() == 0) return multiply(a_in, b_in);
    auto [a, b] = promote2(a_in, b_in);
    const int64_t na = a.ndim(), nb = b.ndim();
    const int64_t bk = nb == 1 ? 0 : nb - 2;
    if (a.shape()[na - 1] != b.shape()[bk]) {
      throw_error<ShapeError>("[dot] contracting dimensions differ: lhs ", a_in.aval().str(), ", rhs ",
                              b_in.aval().str(), " (", a.shape()[na - 1], " vs ", b.shape()[bk], ")");
    }
    return dot_general_raw(a, b, {na - 1}, {bk});
  });
}

Array outer(const Array& a_in, const Array& b_in, const Loc& loc) {
  return at_loc(loc, [&] {
    auto [a, b] = promote2(a_in, b_in);
    if (a.ndim() != 1) a = reshape(a, {-1});
    if (b.ndim() != 1) b = reshape(b, {-1});
    return dot_general_raw(a, b, {}, {});
  });
}

Array tensordot(const Array& a, const Array& b, const std::pair<Axes, Axes>& axes, const Loc& loc) {
  return at_loc(loc, [&] {
    if (axes.first.size() != axes.second.size()) {
      throw_error<ShapeError>("[tensordot] axes lists have different lengths (", axes.first.size(), " vs ",
                              axes.second.size(), ") for lhs ", a.aval().str(), ", rhs ", b.aval().str());
    }
    auto [x, y] = promote2(a, b);
    Dims lc, rc;
    for (size_t i = 0; i < axes.first.size(); ++i) {
      lc.push_back(normalize_axis("tensordot", axes.first[i], x.ndim()));
      rc.push_back(normalize_axis("tensordot", axes.second[i], y.ndim()));
      if (x.shape()[lc.back()] != y.shape()[rc.back()]) {
        throw_error<ShapeError>("[tensordot] contracted dimensions differ: lhs ", a.aval().str(), " axis ",
                                lc.back(), ", rhs ", b.aval().str(), " axis ", rc.back(), " (",
                                x.shape()[lc.back()], " vs ", y.shape()[rc.back()], ")");
      }
    }
    return dot_general_raw(x, y, lc, rc);
  });
}

Array tensordot(const Array& a, const Array& b, int axes, const Loc& loc) {
  return at_loc(loc, [&] {
    if (axes < 0 || axes > a.ndim() || axes > b.ndim()) {
      throw_error<ShapeError>("[tensordot] cannot contract ", axes, " axes of lhs ", a.aval().str(), " and rhs ",
                              b.aval().str());
    }
    Axes la, ra;
    for (int i = 0; i < axes; ++i) {
      la.push_back(static_cast<int>(a.ndim()) - axes + i);
      ra.push_back(i);
    }
    return tensordot(a, b, std::pair<Axes, Axes>{la, ra});
  });
}

Array trace(const Array& x, int64_t offset, int axis1, int axis2, const Loc& loc) {
  return at_loc(loc, [&] {
    if (x.ndim() < 2) throw_error<ShapeError>("[trace] needs an array of rank >= 2, got ", x.aval().str());
    int a1 = normalize_axis("trace", axis1, x.ndim()), a2 = normalize_axis("trace", axis2, x.ndim());
    if (a1 == a2) throw_error<ShapeError>("[trace] axis1 and axis2 are the same axis (", a1, ") of ", x.aval().str());
    // sum(x * mask) where mask[i, j] = (j - i == offset): no gather needed.
    int lo = std::min(a1, a2), hi = std::max(a1, a2);
    int64_t k = a1 < a2 ? offset : -offset;
    Array mask = eye(x.shape()[lo], x.shape()[hi], k, x.dtype());
    mask = lax::broadcast_in_dim(mask, x.shape(), {lo, hi});
    return sum(multiply(x, mask), {lo, hi});
  });
}

// ---- einsum ----------------------------------------------------------------------------------

namespace {

// An operand with one label per dimension (labels are chars; ellipsis dims get labels >= 256).
struct Labeled {
  Array x;
  std::vector<int> labels;
};

std::string label_str(const std::vector<int>& labels) {
  std::string s;
  for (int l : labels) s += l < 256 ? static_cast<char>(l) : '.';
  return s;
}

// Parses one operand's subscripts; "..." expands to `ndim - explicit` labels (right-aligned:
// the last ellipsis dim always gets label 256 + max_ellipsis - 1).
std::vector<int> parse_term(const std::string& term, int64_t ndim, int64_t& ellipsis_rank, bool is_output,
                            const std::string& spec) {
  std::vector<int> labels;
  size_t dots = term.find("...");
  int64_t explicit_count = 0;
  for (size_t i = 0; i < term.size(); ++i) {
    if (dots != std::string::npos && i >= dots && i < dots + 3) continue;
    char c = term[i];
    if (!std::isalpha(static_cast<unsigned char>(c))) {
      throw_error<ValueError>("[einsum] invalid character '", c, "' in subscripts \"", spec, "\"");
    }
    ++explicit_count;
  }
  if (dots != std::string::npos && term.find("...", dots + 3) != std::string::npos) {
    throw_error<ValueError>("[einsum] more than one ellipsis in a term of \"", spec, "\"");
  }
  int64_t n_ell = 0;
  if (!is_output) {
    if (dots == std::string::npos ? explicit_count != ndim : explicit_count > ndim) {
      throw_error<ShapeError>("[einsum] term \"", term, "\" has ", explicit_count, " subscripts but its operand has rank ",
                              ndim, " (in \"", spec, "\")");
    }
    n_ell = dots == std::string::npos ? 0 : ndim - explicit_count;
    ellipsis_rank = std::max(ellipsis_rank, n_ell);
  } else {
    n_ell = dots == std::string::npos ? 0 : ellipsis_rank;
  }
  for (size_t i = 0; i < term.size(); ++i) {
    if (dots != std::string::npos && i == dots) {
      for (int64_t e = 0; e < n_ell; ++e) labels.push_back(static_cast<int>(256 + 64 - n_ell + e));
      i += 2;
      continue;
    }
    labels.push_back(static_cast<unsigned char>(term[i]));
  }
  return labels;
}

// Sums out the axes at `positions` (sorted ascending) and drops their labels.
void sum_out(Labeled& t, std::vector<int64_t> positions) {
  if (positions.empty()) return;
  std::sort(positions.begin(), positions.end());
  t.x = lax::reduce_sum(t.x, positions);
  for (auto it = positions.rbegin(); it != positions.rend(); ++it) t.labels.erase(t.labels.begin() + *it);
}

// Replaces a label repeated within one operand by its diagonal ("ii->i").
void take_diagonals(Labeled& t, const std::string& spec) {
  for (size_t p = 0; p < t.labels.size(); ++p) {
    for (size_t q = p + 1; q < t.labels.size(); ++q) {
      if (t.labels[q] != t.labels[p]) continue;
      int64_t n = t.x.shape()[p];
      if (t.x.shape()[q] != n) {
        throw_error<ShapeError>("[einsum] repeated subscript '", label_str({t.labels[p]}), "' has sizes ", n, " and ",
                                t.x.shape()[q], " in operand ", t.x.aval().str(), " (\"", spec, "\")");
      }
      Array mask = lax::broadcast_in_dim(eye(n, n, 0, t.x.dtype()), t.x.shape(),
                                         {static_cast<int64_t>(p), static_cast<int64_t>(q)});
      t.x = multiply(t.x, mask);
      sum_out(t, {static_cast<int64_t>(q)});
      --q;
    }
  }
}

// Moves t's dims into the order of `target` (a permutation of t.labels).
Array to_order(const Labeled& t, const std::vector<int>& target) {
  std::vector<int> perm;
  for (int l : target) {
    auto it = std::find(t.labels.begin(), t.labels.end(), l);
    perm.push_back(static_cast<int>(it - t.labels.begin()));
  }
  if (perm == iota_perm(static_cast<int64_t>(perm.size()))) return t.x;
  return transpose(t.x, perm);
}

}  // namespace

Array einsum(const std::string& spec_in, const std::vector<Array>& operands, const Loc& loc) {
  return at_loc(loc, [&] {
    std::string spec;
    for (char c : spec_in)
      if (c != ' ') spec += c;
    if (operands.empty()) throw_error<ValueError>("[einsum] needs at least one operand (\"", spec, "\")");
    size_t arrow = spec.find("->");
    std::string lhs = arrow == std::string::npos ? spec : spec.substr(0, arrow);
    std::vector<std::string> terms;
    {
      std::stringstream ss(lhs);
      std::string item;
      while (std::getline(ss, item, ',')) terms.push_back(item);
      if (!lhs.empty() && lhs.back() == ',') terms.push_back("");
      if (lhs.empty()) terms.push_back("");
    }
    if (terms.size() != operands.size()) {
      throw_error<ValueError>("[einsum] \"", spec, "\" names ", terms.size(), " operands but ", operands.size(),
                              " were given");
    }
    // 1. Promote and label every operand.
    auto t = detail::result_type(operands);
    int64_t ellipsis_rank = 0;
    std::vector<Labeled> ops;
    for (size_t i = 0; i < operands.size(); ++i) {
      Labeled l{detail::convert(operands[i], t), {}};
      l.labels = parse_term(terms[i], operands[i].ndim(), ellipsis_rank, false, spec);
      ops.push_back(std::move(l));
    }
    std::vector<int> out_labels;
    if (arrow != std::string::npos) {
      out_labels = parse_term(spec.substr(arrow + 2), 0, ellipsis_rank, true, spec);
    } else {
      // Implicit mode: ellipsis dims first, then the labels used exactly once, alphabetically.
      std::map<int, int> count;
      for (auto& o : ops)
        for (int l : o.labels) ++count[l];
      for (int64_t e = 0; e < ellipsis_rank; ++e) out_labels.push_back(static_cast<int>(256 + 64 - ellipsis_rank + e));
      for (auto [l, c] : count)
        if (l < 256 && c == 1) out_labels.push_back(l);
    }
    // 2. Check sizes: each label has one size; size-1 dims broadcast (they are summed out).
    std::map<int, int64_t> size;
    for (auto& o : ops)
      for (size_t d = 0; d < o.labels.size(); ++d) {
        int64_t n = o.x.shape()[d];
        auto [it, fresh] = size.emplace(o.labels[d], n);
        if (!fresh && it->second != n) {
          if (it->second == 1) {
            it->second = n;
          } else if (n != 1) {
            throw_error<ShapeError>("[einsum] subscript '", label_str({o.labels[d]}), "' has sizes ", it->second,
                                    " and ", n, " in \"", spec, "\"");
          }
        }
      }
    std::set<int> out_set(out_labels.begin(), out_labels.end());
    if (out_set.size() != out_labels.size()) {
      throw_error<ValueError>("[einsum] output subscripts repeat a label in \"", spec, "\"");
    }
    for (int l : out_labels)
      if (!size.count(l)) {
        throw_error<ValueError>("[einsum] output subscript '", label_str({l}), "' does not appear in an input of \"",
                                spec, "\"");
      }
    for (auto& o : ops) {
      std::vector<int64_t> ones;
      for (size_t d = 0; d < o.labels.size(); ++d)
        if (o.x.shape()[d] == 1 && size[o.labels[d]] != 1) ones.push_back(static_cast<int64_t>(d));
      sum_out(o, ones);  // a broadcast size-1 dim: summing it is squeezing it
      take_diagonals(o, spec);
    }
    // 3. Contract left to right. A label is summed once no later operand and not the output uses it.
    auto needed_later = [&](size_t from, int label) {
      if (out_set.count(label)) return true;
      for (size_t j = from; j < ops.size(); ++j)
        if (std::count(ops[j].labels.begin(), ops[j].labels.end(), label)) return true;
      return false;
    };
    auto sum_unneeded = [&](Labeled& o, size_t from) {
      std::vector<int64_t> pos;
      for (size_t d = 0; d < o.labels.size(); ++d)
        if (!needed_later(from, o.labels[d])) pos.push_back(static_cast<int64_t>(d));
      sum_out(o, pos);
    };
    Labeled acc = ops[0];
    for (size_t i = 1; i < ops.size(); ++i) {
      Labeled rhs = ops[i];
      // Labels private to one side and unused later are summed before the product.
      {
        std::vector<int64_t> pos;
        for (size_t d = 0; d < acc.labels.size(); ++d) {
          int l = acc.labels[d];
          if (!needed_later(i, l)) pos.push_back(static_cast<int64_t>(d));
        }
        sum_out(acc, pos);
        pos.clear();
        for (size_t d = 0; d < rhs.labels.size(); ++d) {
          int l = rhs.labels[d];
          bool in_acc = std::count(acc.labels.begin(), acc.labels.end(), l) > 0;
          if (!in_acc && !needed_later(i + 1, l)) pos.push_back(static_cast<int64_t>(d));
        }
        sum_out(rhs, pos);
      }
      Dims lc, rc, lb, rb;
      std::vector<int> batch_labels, lfree, rfree;
      for (size_t d = 0; d < acc.labels.size(); ++d) {
        int l = acc.labels[d];
        auto it = std::find(rhs.labels.begin(), rhs.labels.end(), l);
        if (it == rhs.labels.end()) {
          lfree.push_back(l);
          continue;
        }
        int64_t rd = it - rhs.labels.begin();
        if (needed_later(i + 1, l)) {
          lb.push_back(static_cast<int64_t>(d));
          rb.push_back(rd);
          batch_labels.push_back(l);
        } else {
          lc.push_back(static_cast<int64_t>(d));
          rc.push_back(rd);
        }
      }
      for (int l : rhs.labels)
        if (!std::count(acc.labels.begin(), acc.labels.end(), l)) rfree.push_back(l);
      Labeled next;
      next.x = dot_general_raw(acc.x, rhs.x, lc, rc, lb, rb);
      next.labels = batch_labels;
      next.labels.insert(next.labels.end(), lfree.begin(), lfree.end());
      next.labels.insert(next.labels.end(), rfree.begin(), rfree.end());
      acc = std::move(next);
    }
    sum_unneeded(acc, ops.size());
    return to_order(acc, out_labels);
  });
}

}  // namespace jx
