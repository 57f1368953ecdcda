#pragma once
// One mutating run per service and environment at a time. The lock is an flock on a file in the
// state dir, so the kernel releases it when its holder dies, however it dies.
#include <optional>
#include <string>

#include "ttops/json.hpp"

namespace ttops {

class RunLock {
 public:
  RunLock() = default;
  RunLock(RunLock&& other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

  /// Takes the lock for `environment`/`service`, recording `holder` in it. On refusal, nullopt
  /// and `why` names the holder ("run 2026…-ab12cd of minting/rollback by alice@host, pid 4242,
  /// since 2026-11-23T01:02:03Z").
  static std::optional<RunLock> acquire(const std::string& environment, const std::string& service,
                                        const Json& holder, std::string& why);

 private:
  int m_fd = -1;
};

}  // namespace ttops
