#pragma once
// The 8x8 digits data set (samples/data/digits.csv: 1797 rows of 64 pixels 0..16, then the
// label 0..9) with the fixed train/test split both digits samples use: a std::mt19937 shuffle
// with seed 0 of the row indices, the first 1437 rows for training, the last 360 for testing.
// Pixels are scaled by 1/16 to [0, 1]. The directory comes from the JX_SAMPLES_DATA compile
// definition (the source tree's samples/data).

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <jx/jx.h>

namespace digits {

inline constexpr int64_t kPixels = 64;
inline constexpr int64_t kClasses = 10;
inline constexpr int64_t kTrain = 1437;
inline constexpr int64_t kTest = 360;
inline constexpr uint32_t kSplitSeed = 0;

/// One part of the split: x float32 [N, 64] in [0, 1], y int32 [N].
struct Split {
  jx::Array x, y;
  int64_t size() const { return x.shape()[0]; }
};

struct Data {
  Split train, test;
};

/// Reads `path` (default: JX_SAMPLES_DATA "/digits.csv") and splits it. Throws
/// std::runtime_error when the file is missing or malformed.
inline Data load(std::string path = std::string(JX_SAMPLES_DATA) + "/digits.csv") {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("digits: cannot open " + path);
  std::vector<std::vector<float>> rows;
  std::vector<int32_t> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<float> px;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) px.push_back(std::stof(cell));
    if (px.size() != kPixels + 1) {
      throw std::runtime_error("digits: row " + std::to_string(rows.size() + 1) + " of " + path + " has " +
                               std::to_string(px.size()) + " values, expected 65");
    }
    labels.push_back(static_cast<int32_t>(px.back()));
    px.pop_back();
    rows.push_back(std::move(px));
  }
  if (static_cast<int64_t>(rows.size()) != kTrain + kTest) {
    throw std::runtime_error("digits: " + path + " has " + std::to_string(rows.size()) + " rows, expected 1797");
  }
  // The fixed split: a seeded Fisher-Yates shuffle written out (std::shuffle's algorithm is
  // implementation-defined; this one gives the same split with every standard library).
  std::vector<int64_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 gen(kSplitSeed);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[gen() % (i + 1)]);

  auto part = [&](int64_t begin, int64_t end) {
    std::vector<float> x;
    std::vector<int32_t> y;
    for (int64_t i = begin; i < end; ++i) {
      for (float p : rows[order[i]]) x.push_back(p / 16.0f);
      y.push_back(labels[order[i]]);
    }
    int64_t n = end - begin;
    return Split{jx::array(x, jx::Shape{n, kPixels}), jx::array(y, jx::Shape{n})};
  };
  return Data{part(0, kTrain), part(kTrain, kTrain + kTest)};
}

}  // namespace digits
