#pragma once
// Runs a program with an argument list (never through a shell) in its own process group, with
// its output captured, a deadline and a cancel descriptor. On deadline or cancel the whole group
// gets SIGTERM, then SIGKILL after a grace period; the program and everything it started are
// always reaped. Used by every executor that starts a process (kubectl, exec).
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ttops {

/// What to run.
struct SubprocessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH unless it holds a '/'
  std::vector<std::pair<std::string, std::string>> extra_env;  // set over the inherited environment
  std::optional<std::string> stdin_text;                       // nullopt: stdin is /dev/null
  std::string cwd;                                             // empty: ttops's own
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  int cancel_fd = -1;  // stop as soon as this descriptor polls readable (CancelToken::fd())
  std::size_t max_output = 16 * 1024 * 1024;  // bytes kept per stream; the rest is read and dropped
  std::chrono::milliseconds kill_grace{500};  // between SIGTERM and SIGKILL
};

enum class SubprocessStart {
  started,
  not_found,       // no such program (on PATH, or at the path given)
  not_executable,  // it exists but cannot be run (permissions, a directory, not a binary)
  failed,          // the system refused (out of processes, descriptors…)
};

struct SubprocessResult {
  SubprocessStart start = SubprocessStart::started;
  std::string start_error;  // with start != started: the system's words
  std::string program;      // the path that ran (as given when it did not start)
  int exit_code = -1;       // when it exited on its own
  int signal = 0;           // when a signal ended it
  std::string out;
  std::string err;
  bool out_truncated = false;
  bool err_truncated = false;
  bool timed_out = false;        // the deadline passed: the group was ended
  bool cancelled = false;        // the cancel descriptor fired: the group was ended
  bool ended_leftovers = false;  // it exited, but processes it started were still running and were ended
  double seconds = 0;

  bool started() const { return start == SubprocessStart::started; }
  /// The shell's convention: the exit code, or 128 + the signal that ended it.
  int shell_status() const { return signal != 0 ? 128 + signal : exit_code; }
  /// "exit code 2", "killed by SIGKILL".
  std::string status_text() const;
};

/// Where `program` is, as execvp would find it: as given when it holds a '/', else the first
/// executable file of that name in $PATH. nullopt when there is none.
std::optional<std::string> find_program(const std::string& program);

/// Runs it to the end, the deadline or the cancellation. Never throws for the world's failures:
/// a program that cannot start is a result with `start` set.
SubprocessResult run_subprocess(const SubprocessSpec& spec);

/// "SIGTERM", "SIGKILL", or "signal 42".
std::string signal_name(int signal_number);

}  // namespace ttops
