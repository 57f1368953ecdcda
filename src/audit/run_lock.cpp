#include "audit/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/state_dir.hpp"

namespace ttops {

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = other.m_fd;
    other.m_fd = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (m_fd >= 0) ::close(m_fd);  // closing the descriptor releases the flock
}

std::optional<RunLock> RunLock::acquire(const std::string& environment, const std::string& service,
                                        const Json& holder, std::string& why) {
  auto dir = state_dir() / "locks";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto path = dir / (environment + "." + service + ".lock");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    why = "cannot open lock file " + path.string() + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string text(4096, '\0');
    ssize_t n = ::pread(fd, text.data(), text.size(), 0);
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    ::close(fd);
    why = "another mutating run on " + service + " in " + environment + " is in progress";
    try {
      Json other = Json::parse(text);
      why += ": run " + other.value("run_id", "?") + " of " + other.value("runbook", "?") + " by " +
             other.value("user", "?") + "@" + other.value("host", "?") + ", pid " +
             std::to_string(other.value("pid", 0)) + ", since " + other.value("since", "?");
    } catch (const Json::parse_error&) {
    }
    return std::nullopt;
  }
  std::string text = dump_json(holder);
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The lock is held even if the note about who holds it cannot be written.
  }
  RunLock lock;
  lock.m_fd = fd;
  return lock;
}

}  // namespace ttops
