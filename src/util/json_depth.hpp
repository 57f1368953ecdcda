#pragma once
// How deep JSON from the outside world (a response body, a program's output, a column, a value
// given to parse_json) may nest. Copying, comparing and printing a value recurse once per level:
// a body of a million '[' would overflow the stack, so such text is refused before it is parsed.
#include <string_view>

namespace ttops {

constexpr int k_max_json_depth = 256;

/// Whether `text`, read as JSON, nests at most `max_depth` arrays and objects deep (strings are
/// skipped; the text need not be valid JSON).
inline bool json_nesting_within(std::string_view text, int max_depth = k_max_json_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace ttops
