#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace ttops {

/// What running a step does to the systems it touches. Ordered: a runbook may raise a step's
/// class above what its executor says, never lower it.
enum class Effect { read = 0, mutate = 1, destructive = 2 };

std::string_view to_string(Effect effect);
std::optional<Effect> parse_effect(std::string_view text);

/// The stronger of two effects.
inline Effect max_effect(Effect a, Effect b) { return a < b ? b : a; }

}  // namespace ttops
