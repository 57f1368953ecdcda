#pragma once
#include <atomic>
#include <chrono>

namespace ttops {

/// Set once when the run must stop (Ctrl-C, SIGTERM). Executors poll it while they wait and
/// may also wait on `fd()`, which becomes readable when cancellation is requested.
class CancelToken {
 public:
  CancelToken();
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  /// Async-signal-safe.
  void cancel(int signal_number = 0) noexcept;
  bool cancelled() const noexcept { return m_cancelled.load(std::memory_order_relaxed); }
  int signal_number() const noexcept { return m_signal.load(); }
  /// A descriptor that polls readable once cancelled.
  int fd() const noexcept { return m_pipe[0]; }

 private:
  std::atomic<bool> m_cancelled{false};
  std::atomic<int> m_signal{0};
  int m_pipe[2] = {-1, -1};
};

/// The process-wide token the signal handlers set.
CancelToken& process_cancel_token();

}  // namespace ttops
