#include "executors/redis_info.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "util/text.hpp"

namespace ttops {

namespace {

// "12" -> 12, "1.25" -> 1.25; anything else (versions, "1.00M", "inf") stays text.
Json scalar_value(std::string_view text) {
  if (text.empty()) return Json(std::string());
  long long whole = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), whole);
  if (error == std::errc() && end == text.data() + text.size()) return Json(whole);
  bool numeric = true;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+')) numeric = false;
  if (numeric) {
    std::string copy(text);
    char* stop = nullptr;
    double value = std::strtod(copy.c_str(), &stop);
    if (stop == copy.c_str() + copy.size() && std::isfinite(value)) return Json(value);
  }
  return Json(to_valid_utf8(text));
}

// "keys=1,expires=0,avg_ttl=0" -> {"keys": 1, …}, or null when the value is not made of pairs.
Json pairs_value(std::string_view text) {
  if (text.find('=') == std::string_view::npos) return nullptr;
  Json object = Json::object();
  for (const auto& part : split(text, ',')) {
    auto equals = part.find('=');
    if (equals == std::string::npos || equals == 0) return nullptr;
    object[to_valid_utf8(part.substr(0, equals))] = scalar_value(std::string_view(part).substr(equals + 1));
  }
  return object;
}

}  // namespace

Json parse_redis_info(std::string_view text) {
  Json info = Json::object();
  for (const auto& raw : split_lines(text)) {
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view value = line.substr(colon + 1);
    Json pairs = pairs_value(value);
    info[to_valid_utf8(line.substr(0, colon))] = pairs.is_null() ? scalar_value(value) : std::move(pairs);
  }
  return info;
}

}  // namespace ttops
