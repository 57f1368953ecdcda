#pragma once
/// The one dynamic value type of ttops: step results, expression values, captures
/// and reports are all JSON. Ordered so that reports keep the order data arrived in.
#include <nlohmann/json.hpp>

namespace ttops {
using Json = nlohmann::ordered_json;
}  // namespace ttops
