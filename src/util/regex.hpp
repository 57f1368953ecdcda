#pragma once
// Regular expressions for runbook filters (`matches`, grep(), log filters, metric selectors).
// RE2: linear time and no recursion, so a pattern from a runbook can neither hang ttops on a
// large log nor overflow its stack. Syntax is RE2's (close to PCRE); `(?i)` ignores case.
#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace ttops {

class Regex {
 public:
  /// Compiles `pattern`; check ok() / error().
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  bool ok() const;
  std::string error() const;
  /// Whether the pattern matches somewhere in `text`.
  bool search(std::string_view text) const;
  /// Whether it matches all of `text`.
  bool full_match(std::string_view text) const;

 private:
  std::unique_ptr<re2::RE2> m_re;
};

/// A compiled pattern from a small per-thread cache; throws std::invalid_argument with a
/// readable message when the pattern is bad.
const Regex& cached_regex(const std::string& pattern);

}  // namespace ttops
