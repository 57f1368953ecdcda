#include "util/executable_path.hpp"

#include <vector>

namespace ttops {

namespace fs = std::filesystem;

fs::path executable_path() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self;
}

fs::path installation_prefix(const fs::path& bindir) {
  fs::path exe = executable_path();
  if (exe.empty() || bindir.empty() || bindir.is_absolute()) return {};
  fs::path dir = exe.parent_path();
  // Walk up one level per component of bindir, checking that the names match ("bin").
  std::vector<fs::path> parts(bindir.begin(), bindir.end());
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (dir.filename() != *it) return {};
    dir = dir.parent_path();
  }
  return dir;
}

}  // namespace ttops
