#include "util/regex.hpp"

#include <re2/re2.h>

#include <stdexcept>
#include <unordered_map>

namespace ttops {

namespace {

RE2::Options options() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(8 << 20);  // a bound on what one pattern may cost
  return o;
}

}  // namespace

Regex::Regex(std::string_view pattern)
    : m_re(std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options())) {}
Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::ok() const { return m_re->ok(); }
std::string Regex::error() const { return m_re->error(); }

bool Regex::search(std::string_view text) const {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *m_re);
}

bool Regex::full_match(std::string_view text) const {
  return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *m_re);
}

const Regex& cached_regex(const std::string& pattern) {
  thread_local std::unordered_map<std::string, Regex> cache;
  auto it = cache.find(pattern);
  if (it != cache.end()) return it->second;
  if (cache.size() > 128) cache.clear();
  Regex regex(pattern);
  if (!regex.ok()) throw std::invalid_argument("bad regular expression '" + pattern + "': " + regex.error());
  return cache.emplace(pattern, std::move(regex)).first->second;
}

}  // namespace ttops
