#include "util/state_dir.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace ttops {

std::filesystem::path state_dir() {
  std::filesystem::path dir;
  if (const char* explicit_dir = std::getenv("TTOPS_STATE_DIR"); explicit_dir != nullptr && *explicit_dir != '\0') {
    dir = explicit_dir;
  } else if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg != '\0') {
    dir = std::filesystem::path(xdg) / "ttops";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dir = std::filesystem::path(home) / ".local" / "state" / "ttops";
  } else {
    dir = std::filesystem::temp_directory_path() / ("ttops-" + current_user());
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir;
}

std::string current_user() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo != nullptr && *sudo != '\0') return sudo;
  if (passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_name != nullptr) return entry->pw_name;
  if (const char* user = std::getenv("USER"); user != nullptr) return user;
  return "uid-" + std::to_string(::getuid());
}

std::string current_host() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

}  // namespace ttops
