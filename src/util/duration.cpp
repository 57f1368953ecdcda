#include "util/duration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ttops {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    double number = 0;
    try {
      number = std::stod(std::string(text.substr(start, i - start)));
    } catch (...) {
      return std::nullopt;
    }
    std::size_t unit_start = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z'))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double factor = 0;
    if (unit.empty()) {
      if (any || i != text.size()) return std::nullopt;  // "5" alone means seconds; "1m5" is ambiguous
      factor = 1000;
    } else if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1000;
    } else if (unit == "m") {
      factor = 60'000;
    } else if (unit == "h") {
      factor = 3'600'000;
    } else if (unit == "d") {
      factor = 86'400'000;
    } else {
      return std::nullopt;
    }
    total_ms += number * factor;
    any = true;
  }
  if (!std::isfinite(total_ms) || total_ms < 0 || total_ms > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(std::llround(total_ms)));
}

std::string format_duration(double seconds) {
  char buffer[32];
  if (seconds < 0) seconds = 0;
  if (seconds < 1.0) {
    std::snprintf(buffer, sizeof buffer, "%.0fms", seconds * 1000.0);
  } else if (seconds < 60.0) {
    std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
  } else {
    auto whole = static_cast<long long>(seconds);
    if (whole < 3600) {
      std::snprintf(buffer, sizeof buffer, "%lldm%02llds", whole / 60, whole % 60);
    } else {
      std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", whole / 3600, (whole % 3600) / 60);
    }
  }
  return buffer;
}

std::string format_duration(std::chrono::milliseconds duration) {
  auto ms = duration.count();
  if (ms % 3'600'000 == 0 && ms != 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms != 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_budget(std::chrono::milliseconds budget) {
  long long tenths = std::max<long long>(1, (budget.count() + 50) / 100);
  return format_duration(static_cast<double>(tenths) / 10.0);
}

}  // namespace ttops
