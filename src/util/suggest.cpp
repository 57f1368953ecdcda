#include "util/suggest.hpp"

#include <algorithm>

namespace ttops {

namespace {

constexpr std::size_t k_max_candidates = 2000;

// Optimal string alignment: like Levenshtein, but swapping two neighbours ("lsit") costs one.
// Stops as soon as the distance must exceed `bound` and then returns bound + 1: suggestions only
// want close words, and a runbook with thousands of misspelt references asks thousands of times.
std::size_t bounded_distance(std::string_view a, std::string_view b, std::size_t bound) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  if ((n > m ? n - m : m - n) > bound) return bound + 1;
  std::vector<std::size_t> before(m + 1), previous(m + 1), current(m + 1);
  for (std::size_t j = 0; j <= m; ++j) previous[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    current[0] = i;
    std::size_t row_min = current[0];
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
      row_min = std::min(row_min, current[j]);
    }
    if (row_min > bound) return bound + 1;  // every later row is at least this far
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return std::min(previous[m], bound + 1);
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  return bounded_distance(a, b, std::max(a.size(), b.size()));
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  // A list this long is generated, not typed, and asking for each of thousands of references
  // would make validation quadratic: no suggestion then.
  if (candidates.size() > k_max_candidates) return std::nullopt;
  // ninja's rule of thumb: up to a third of the word may be wrong, and at least one letter.
  std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    std::size_t distance = bounded_distance(word, candidate, best_distance - 1);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
      if (distance == 0) break;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  auto match = closest_match(word, candidates);
  return match ? " (did you mean '" + *match + "'?)" : std::string();
}

}  // namespace ttops
