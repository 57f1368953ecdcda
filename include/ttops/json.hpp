#pragma once
/// The one dynamic value type of ttops: step results, expression values, captures
/// and reports are all JSON. Ordered so that reports keep the order data arrived in.
#include <nlohmann/json.hpp>

#include <string>

namespace ttops {
using Json = nlohmann::ordered_json;

/// Serialises a value. Data from the outside world (a response body, a log line) may hold bytes
/// that are not UTF-8: they are replaced, never allowed to throw.
inline std::string dump_json(const Json& value, int indent = -1) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}
}  // namespace ttops
