// libFuzzer target: the Redis INFO parser (src/executors/redis_info.cpp). Any bytes a server (or
// something pretending to be one) sends must become an object that reports can print: no crash,
// no exception, and nothing that is not valid UTF-8 (dump() throws on that).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executors/redis_info.hpp"

namespace {

// A value is text, a finite number, or (for `k=v,…` values) an object of those.
bool well_formed(const ttops::Json& value, bool nested) {
  if (value.is_number_float()) return std::isfinite(value.get<double>());
  if (value.is_string() || value.is_number_integer()) return true;
  if (!value.is_object() || nested) return false;
  for (auto it = value.begin(); it != value.end(); ++it)
    if (it.key().empty() || it.key().find_first_of("=,\n") != std::string::npos || !well_formed(it.value(), true))
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ttops::Json info = ttops::parse_redis_info(text);
  if (!info.is_object()) __builtin_trap();
  (void)info.dump();  // throws (a crash here) on invalid UTF-8 in a key or a value
  for (auto it = info.begin(); it != info.end(); ++it) {
    // Keys come from 'field:value' lines: never empty, never holding the separator or a line end.
    if (it.key().empty() || it.key().find_first_of(":\n") != std::string::npos) __builtin_trap();
    if (!well_formed(it.value(), false)) __builtin_trap();
  }
  return 0;
}
