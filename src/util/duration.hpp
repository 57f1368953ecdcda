#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ttops {

/// Parses "500ms", "5s", "1m30s", "2h", "1.5s". A bare number means seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
/// "340ms", "1.2s", "2m05s": short and stable, for humans.
std::string format_duration(double seconds);
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace ttops
