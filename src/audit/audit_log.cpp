#include "audit/audit_log.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "engine/engine.hpp"
#include "util/redact.hpp"
#include "util/state_dir.hpp"

namespace ttops {

namespace {

constexpr const char* k_genesis = "0000000000000000000000000000000000000000000000000000000000000000";

// The hash of a record covers everything but its own "hash" field, in the order written.
std::string record_hash(const Json& record) {
  Json copy = record;
  copy.erase("hash");
  return sha256_hex(dump_json(copy));
}

// The "hash" of the last complete line of the file, or the genesis value for an empty file.
std::string last_hash(int fd) {
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) return k_genesis;
  std::string tail;
  off_t position = size;
  const off_t chunk = 4096;
  // Read backwards until the tail holds a whole last line.
  while (position > 0) {
    off_t start = position > chunk ? position - chunk : 0;
    std::string buffer(static_cast<std::size_t>(position - start), '\0');
    if (::pread(fd, buffer.data(), buffer.size(), start) < 0) return k_genesis;
    tail = buffer + tail;
    position = start;
    std::size_t end = tail.find_last_not_of('\n');
    if (end != std::string::npos && tail.rfind('\n', end) != std::string::npos) break;
  }
  std::size_t end = tail.find_last_not_of('\n');
  if (end == std::string::npos) return k_genesis;
  std::size_t begin = tail.rfind('\n', end);
  std::string line = tail.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
  try {
    return Json::parse(line).value("hash", k_genesis);
  } catch (const Json::parse_error&) {
    return sha256_hex(line);  // a damaged last line: chain onto its bytes; verify will flag it
  }
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::filesystem::path AuditLog::default_path() {
  if (const char* path = std::getenv("TTOPS_AUDIT_LOG"); path != nullptr && *path != '\0') return path;
  return state_dir() / "audit.jsonl";
}

bool AuditLog::append(Json record, std::string& error) {
  std::error_code ec;
  if (m_path.has_parent_path()) std::filesystem::create_directories(m_path.parent_path(), ec);
  int fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot open audit log " + m_path.string() + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(fd, LOCK_EX) != 0) {
    error = "cannot lock audit log " + m_path.string() + ": " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  Json full = Json::object();
  full["time"] = iso8601_now();
  full["user"] = current_user();
  full["host"] = current_host();
  for (auto it = record.begin(); it != record.end(); ++it) full[it.key()] = it.value();
  full = process_redactor().redact_json(full);
  full["prev"] = last_hash(fd);
  full["hash"] = record_hash(full);
  std::string line = dump_json(full) + "\n";
  bool ok = true;
  std::size_t written = 0;
  while (written < line.size()) {
    ssize_t n = ::write(fd, line.data() + written, line.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot write audit log " + m_path.string() + ": " + std::strerror(errno);
      ok = false;
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  if (ok && ::fsync(fd) != 0) {
    error = "cannot sync audit log " + m_path.string() + ": " + std::strerror(errno);
    ok = false;
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return ok;
}

AuditLog::Verification AuditLog::verify(const std::filesystem::path& path) {
  Verification result;
  std::ifstream in(path);
  if (!in) {
    result.ok = false;
    result.reason = "cannot read " + path.string();
    return result;
  }
  std::string line;
  std::string previous = k_genesis;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    Json record;
    try {
      record = Json::parse(line);
    } catch (const Json::parse_error&) {
      result = Verification{false, result.records, number, "line is not JSON"};
      return result;
    }
    if (record.value("prev", "") != previous) {
      result = Verification{false, result.records, number,
                            "chain broken: this record does not follow the one before it (a line was removed, "
                            "reordered or edited)"};
      return result;
    }
    if (record.value("hash", "") != record_hash(record)) {
      result = Verification{false, result.records, number, "record was edited: its hash does not match its content"};
      return result;
    }
    previous = record["hash"].get<std::string>();
    ++result.records;
  }
  return result;
}

std::vector<Json> AuditLog::read(const std::filesystem::path& path) {
  std::vector<Json> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      records.push_back(Json::parse(line));
    } catch (const Json::parse_error&) {
    }
  }
  return records;
}

}  // namespace ttops
