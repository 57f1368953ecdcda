#pragma once
#include <string>
#include <string_view>

namespace ttops {

bool is_terminal(int fd);
/// Colour on a TTY unless NO_COLOR is set (https://no-color.org) or --no-color was given.
bool use_color(int fd, bool no_color_flag);

/// ANSI styles; empty strings when colour is off, so callers never branch.
struct Palette {
  std::string_view bold, dim, red, green, yellow, cyan, reset;
  static Palette for_color(bool color);
};

}  // namespace ttops
