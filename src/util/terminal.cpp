#include "util/terminal.hpp"

#include <unistd.h>

#include <cstdlib>

namespace ttops {

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

bool use_color(int fd, bool no_color_flag) {
  if (no_color_flag) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return is_terminal(fd);
}

Palette Palette::for_color(bool color) {
  if (!color) return Palette{"", "", "", "", "", "", ""};
  return Palette{"\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[36m", "\033[0m"};
}

}  // namespace ttops
