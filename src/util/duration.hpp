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
/// A time budget in a message ("timed out after 1.0s"), to the nearest tenth of a second: a
/// deadline measured a few milliseconds after the step started still reads as the step's timeout.
std::string format_budget(std::chrono::milliseconds budget);

}  // namespace ttops
