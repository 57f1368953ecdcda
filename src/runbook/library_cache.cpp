#include "runbook/library_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>


#ifndef TTOPS_VERSION
#define TTOPS_VERSION "0"
#endif

namespace ttops {

namespace fs = std::filesystem;

namespace {

std::string stamp(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return path.string() + ":missing\n";
  return path.string() + ":" + std::to_string(info.st_size) + ":" + std::to_string(info.st_mtim.tv_sec) + "." +
         std::to_string(info.st_mtim.tv_nsec) + "\n";
}

std::string hex(std::size_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016zx", value);
  return buffer;
}

}  // namespace

fs::path LibraryCache::directory() {
  if (const char* dir = std::getenv("TTOPS_CACHE_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') return fs::path(xdg) / "ttops";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return fs::path(home) / ".cache" / "ttops";
  return fs::temp_directory_path() / "ttops-cache";
}

bool LibraryCache::enabled() {
  const char* off = std::getenv("TTOPS_NO_CACHE");
  return off == nullptr || *off == '\0' || std::string_view(off) == "0";
}

LibraryCache::LibraryCache(const fs::path& root, const fs::path& config) {
  std::error_code ec;
  fs::path absolute = fs::absolute(root, ec);
  std::vector<std::string> stamps;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) || it->is_directory(ec)) stamps.push_back(stamp(it->path()));
  }
  std::sort(stamps.begin(), stamps.end());  // directory order is not stable
  std::string text = "ttops " TTOPS_VERSION "\n";
  text += stamp("/proc/self/exe");
  text += stamp(fs::read_symlink("/proc/self/exe", ec));
  if (!config.empty()) {
    text += "config ";
    text += stamp(fs::absolute(config, ec));
  }
  for (const auto& line : stamps) text += line;
  // Not a security boundary: a fast hash is enough (and OpenSSL's start-up would cost more than
  // the cache saves). The binary's own stamp is in the text, so a rebuilt ttops misses.
  m_fingerprint = hex(std::hash<std::string>{}(text)) + hex(std::hash<std::string>{}(text + "\x01"));
  std::string where = absolute.string();
  where += "\n";
  if (!config.empty()) where += fs::absolute(config, ec).string();
  m_key = hex(std::hash<std::string>{}(where));
}

fs::path LibraryCache::file(const std::string& kind) const { return directory() / (kind + "-" + m_key + ".cache"); }

// The file: the fingerprint on one line, then the value. Read whole and parsed from memory:
// a warm start-up is mostly this.
std::optional<std::string> LibraryCache::get_text(const std::string& kind) const {
  if (!enabled()) return std::nullopt;
  std::ifstream in(file(kind), std::ios::binary);
  if (!in) return std::nullopt;
  std::string header;
  if (!std::getline(in, header) || header != m_fingerprint) return std::nullopt;
  // One read of the rest (istreambuf_iterator goes a character at a time: a third of a warm
  // `list`'s own instructions).
  const auto start = in.tellg();
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (start < 0 || end < start) return std::nullopt;
  std::string text(static_cast<std::size_t>(end - start), '\0');
  in.seekg(start);
  if (!in.read(text.data(), static_cast<std::streamsize>(text.size()))) return std::nullopt;
  return text;
}

std::optional<Json> LibraryCache::get(const std::string& kind) const {
  auto text = get_text(kind);
  if (!text) return std::nullopt;
  try {
    return Json::parse(*text);
  } catch (const Json::exception&) {
    return std::nullopt;  // a damaged cache is a miss
  }
}

void LibraryCache::put(const std::string& kind, const Json& value) const { put_text(kind, dump_json(value)); }

void LibraryCache::put_text(const std::string& kind, const std::string& text) const {
  if (!enabled()) return;
  std::error_code ec;
  fs::create_directories(directory(), ec);
  fs::path target = file(kind);
  std::string suffix = ".";
  suffix += std::to_string(::getpid());
  suffix += ".tmp";
  fs::path temporary = target;
  temporary += suffix;
  {
    std::ofstream out(temporary, std::ios::binary);
    out << m_fingerprint << '\n';
    out << text;
    if (!out) {
      fs::remove(temporary, ec);
      return;
    }
  }
  fs::rename(temporary, target, ec);  // atomic: a concurrent reader sees the old or the new file
  if (ec) fs::remove(temporary, ec);
}

}  // namespace ttops
