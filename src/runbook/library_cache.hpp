#pragma once
// A cache of what `list` and `validate` compute over the whole library, so that start-up stays
// fast as the library grows (yaml-cpp needs milliseconds per file). Entries are keyed by a
// fingerprint of every input: each file of the library and the config (path, size, modification
// time), and the ttops binary itself. Any change, and the work is done again. TTOPS_NO_CACHE=1
// turns it off.
#include <filesystem>
#include <optional>
#include <string>

#include "ttops/json.hpp"

namespace ttops {

class LibraryCache {
 public:
  /// $TTOPS_CACHE_DIR, else $XDG_CACHE_HOME/ttops, else ~/.cache/ttops.
  static std::filesystem::path directory();
  static bool enabled();

  /// Fingerprints the library at `root` and `config` (which may be empty).
  LibraryCache(const std::filesystem::path& root, const std::filesystem::path& config);

  /// The value stored under `kind` ("list", "validate") if every input is unchanged.
  std::optional<Json> get(const std::string& kind) const;
  /// Stores it (best effort: a cache that cannot be written is no cache, not an error).
  void put(const std::string& kind, const Json& value) const;
  /// The same for text the caller serialises itself.
  std::optional<std::string> get_text(const std::string& kind) const;
  void put_text(const std::string& kind, const std::string& text) const;

 private:
  std::filesystem::path file(const std::string& kind) const;

  std::string m_fingerprint;
  std::string m_key;
};

}  // namespace ttops
