#pragma once
// The append-only audit trail of every mutating action: JSON lines, each flushed to disk with
// fsync before the action proceeds, each carrying the SHA-256 of the previous line so that a
// removed or edited line breaks the chain (`ttops audit verify`).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ttops/json.hpp"

namespace ttops {

class AuditLog {
 public:
  /// $TTOPS_AUDIT_LOG, else <state dir>/audit.jsonl.
  static std::filesystem::path default_path();

  explicit AuditLog(std::filesystem::path path) : m_path(std::move(path)) {}

  /// Appends one record (adds time, user, host, prev and hash), redacted, and fsyncs it.
  /// Several processes may append at once: the file is locked while the chain is extended.
  /// Returns false (with `error`) when the record could not be made durable; the caller must
  /// then not perform the action.
  bool append(Json record, std::string& error);

  const std::filesystem::path& path() const { return m_path; }

  struct Verification {
    bool ok = true;
    std::size_t records = 0;
    std::size_t bad_line = 0;  // 1-based, when !ok
    std::string reason;
  };
  static Verification verify(const std::filesystem::path& path);
  /// Every record, oldest first; lines that do not parse are skipped.
  static std::vector<Json> read(const std::filesystem::path& path);

 private:
  std::filesystem::path m_path;
};

/// Lower-case hex SHA-256 of `text` (OpenSSL's libcrypto).
std::string sha256_hex(std::string_view text);

}  // namespace ttops
