#include "util/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

extern char** environ;

namespace ttops {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A descriptor that closes itself.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  int get() const { return m_fd; }
  bool is_open() const { return m_fd >= 0; }
  void reset() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
  }

 private:
  int m_fd = -1;
};

bool make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return true;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Orphans of a step's processes are re-parented to ttops rather than to PID 1 (in a container,
// an init that may never reap them), so ttops itself reaps everything a step started.
void become_subreaper() {
  static std::once_flag once;
  std::call_once(once, [] { ::prctl(PR_SET_CHILD_SUBREAPER, 1); });
}

// A descriptor that polls readable when the process exits, so the loop wakes at once; -1 on
// kernels without pidfd (the loop then ticks).
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

bool is_executable_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::vector<std::string> environment_with(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto equals = text.find('=');
    std::string_view name = text.substr(0, equals);
    bool replaced = false;
    for (const auto& [key, value] : extra) replaced = replaced || key == name;
    if (!replaced) out.emplace_back(text);
  }
  for (const auto& [key, value] : extra) out.push_back(key + "=" + value);
  return out;
}

int millis_until(Clock::time_point when, int cap) {
  auto now = Clock::now();
  if (when <= now) return 0;
  auto left = std::chrono::duration_cast<milliseconds>(when - now).count() + 1;
  return static_cast<int>(std::min<long long>(left, cap));
}

// One output stream of the child, read as it comes so the child never blocks on a full pipe.
struct OutputStream {
  Fd fd;
  std::string* text = nullptr;
  bool* truncated = nullptr;
  std::size_t cap = 0;

  void read_available() {
    char buffer[65536];
    // Bounded per wake-up: a program that writes without pause must not starve the deadline check.
    for (int round = 0; round < 16 && fd.is_open(); ++round) {
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        auto bytes = static_cast<std::size_t>(n);
        std::size_t room = text->size() < cap ? cap - text->size() : 0;
        text->append(buffer, std::min(bytes, room));
        if (bytes > room) *truncated = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fd.reset();  // end of file (every writer closed it), or an error
    }
  }
};

// Writes to the child's stdin without letting a closed pipe raise SIGPIPE in ttops.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_signal;
  sigset_t previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  ssize_t n = ::write(fd, data, size);
  int saved = errno;
  if (n < 0 && errno == EPIPE) {
    timespec zero{};
    sigtimedwait(&pipe_signal, nullptr, &zero);  // consume the SIGPIPE this thread just got
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = saved;
  return n;
}

// The running child: its group, its pipes, and the loop that moves data and notices its end.
class RunningProcess {
 public:
  RunningProcess(pid_t pid, const SubprocessSpec& spec, SubprocessResult& result)
      : m_pid(pid), m_spec(spec), m_result(result), m_pidfd(open_pidfd(pid)) {}

  void attach(Fd out, Fd err, Fd in) {
    m_out.fd = std::move(out);
    m_out.text = &m_result.out;
    m_out.truncated = &m_result.out_truncated;
    m_out.cap = m_spec.max_output;
    m_err.fd = std::move(err);
    m_err.text = &m_result.err;
    m_err.truncated = &m_result.err_truncated;
    m_err.cap = m_spec.max_output;
    m_in = std::move(in);
    for (int fd : {m_out.fd.get(), m_err.fd.get(), m_in.get()})
      if (fd >= 0) set_nonblocking(fd);
    if (m_in.is_open() && m_spec.stdin_text->empty()) m_in.reset();
  }

  void run() {
    // Until it exits, the deadline passes or the run is cancelled.
    while (!reap_leader(false)) {
      int timeout = millis_until(m_spec.deadline, m_pidfd.is_open() ? 1000 : 10);
      bool cancel_fired = pump(timeout, true);
      if (reap_leader(false)) break;
      if (cancel_fired) {
        m_result.cancelled = true;
        break;
      }
      if (Clock::now() >= m_spec.deadline) {
        m_result.timed_out = true;
        break;
      }
    }
    m_in.reset();  // nobody will read the rest
    if (!m_exited) {
      end_group();
    } else {
      // Output written just before the exit is still in the pipes; take it.
      drain_until(Clock::now() + milliseconds(50));
      if (!group_empty()) {
        // It left processes running (a background job): a step leaves nothing behind.
        m_result.ended_leftovers = true;
        end_group();
      }
    }
    settle_group(Clock::now() + std::chrono::seconds(2));
    drain_until(Clock::now() + milliseconds(200));
    if (WIFEXITED(m_status)) m_result.exit_code = WEXITSTATUS(m_status);
    if (WIFSIGNALED(m_status)) m_result.signal = WTERMSIG(m_status);
  }

 private:
  // Polls the pipes (and the cancel descriptor when asked) once; true when cancel fired.
  bool pump(int timeout_ms, bool watch_cancel) {
    pollfd fds[5];
    nfds_t count = 0;
    auto add = [&](int fd, short events) -> int {
      if (fd < 0) return -1;
      fds[count] = pollfd{fd, events, 0};
      return static_cast<int>(count++);
    };
    int out_index = add(m_out.fd.get(), POLLIN);
    int err_index = add(m_err.fd.get(), POLLIN);
    int in_index = add(m_in.get(), POLLOUT);
    int cancel_index = watch_cancel ? add(m_spec.cancel_fd, POLLIN) : -1;
    add(m_pidfd.get(), POLLIN);
    if (count == 0) {
      std::this_thread::sleep_for(milliseconds(std::max(1, std::min(timeout_ms, 10))));
      return false;
    }
    int ready = ::poll(fds, count, timeout_ms);
    if (ready <= 0) return false;
    auto fired = [&](int index) { return index >= 0 && fds[index].revents != 0; };
    if (fired(out_index)) m_out.read_available();
    if (fired(err_index)) m_err.read_available();
    if (fired(in_index)) feed_stdin(fds[in_index].revents);
    return fired(cancel_index);
  }

  void feed_stdin(short revents) {
    if ((revents & (POLLERR | POLLHUP)) != 0) {
      m_in.reset();  // the child closed its stdin: it wants no more
      return;
    }
    const std::string& text = *m_spec.stdin_text;
    while (m_in.is_open() && m_written < text.size()) {
      ssize_t n = write_without_sigpipe(m_in.get(), text.data() + m_written, text.size() - m_written);
      if (n > 0) {
        m_written += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        m_in.reset();
      }
    }
    if (m_written >= text.size()) m_in.reset();  // end of input for the child
  }

  void drain_until(Clock::time_point until) {
    while ((m_out.fd.is_open() || m_err.fd.is_open()) && Clock::now() < until) pump(millis_until(until, 50), false);
  }

  bool reap_leader(bool block) {
    if (m_exited) return true;
    pid_t reaped;
    do {
      reaped = ::waitpid(m_pid, &m_status, block ? 0 : WNOHANG);
    } while (reaped < 0 && errno == EINTR);
    if (reaped == m_pid || (reaped < 0 && errno == ECHILD)) {
      m_exited = true;
      m_pidfd.reset();  // it stays readable from now on: polling it would spin
    }
    return m_exited;
  }

  // Reaps members of the group that are ttops's children (orphans re-parented to it). Only once
  // the leader is reaped, so that its own status is never taken here.
  void reap_members() {
    if (!m_exited) return;
    int ignored = 0;
    while (::waitpid(-m_pid, &ignored, WNOHANG) > 0) {
    }
  }

  bool group_empty() {
    if (!m_exited) return false;
    reap_members();
    return ::kill(-m_pid, 0) != 0 && errno == ESRCH;
  }

  // SIGTERM to the whole group, SIGKILL to whatever is left after the grace period.
  void end_group() {
    ::kill(-m_pid, SIGTERM);
    auto until = Clock::now() + m_spec.kill_grace;
    while (Clock::now() < until) {
      reap_leader(false);
      if (group_empty()) return;
      pump(millis_until(until, 10), false);
    }
    ::kill(-m_pid, SIGKILL);
    reap_leader(true);
  }

  // Waits (bounded) until no process of the group is left, reaping those that are ttops's.
  void settle_group(Clock::time_point until) {
    reap_leader(true);
    while (!group_empty() && Clock::now() < until) {
      ::kill(-m_pid, SIGKILL);
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  pid_t m_pid;
  const SubprocessSpec& m_spec;
  SubprocessResult& m_result;
  Fd m_pidfd;
  OutputStream m_out;
  OutputStream m_err;
  Fd m_in;
  std::size_t m_written = 0;
  bool m_exited = false;
  int m_status = 0;
};

// posix_spawn's settings, released however the spawn goes.
struct SpawnSettings {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSettings() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSettings() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSettings(const SpawnSettings&) = delete;
  SpawnSettings& operator=(const SpawnSettings&) = delete;
};

}  // namespace

std::string signal_name(int signal_number) {
  const char* abbreviation = sigabbrev_np(signal_number);
  return abbreviation != nullptr ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal_number);
}

std::string SubprocessResult::status_text() const {
  if (signal != 0) return "killed by " + signal_name(signal);
  return "exit code " + std::to_string(exit_code);
}

std::optional<std::string> find_program(const std::string& program) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != std::string::npos) {
    if (is_executable_file(program)) return program;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string search = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= search.size()) {
    auto colon = search.find(':', start);
    std::string dir = search.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
    if (is_executable_file(candidate)) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return std::nullopt;
}

SubprocessResult run_subprocess(const SubprocessSpec& spec) {
  SubprocessResult result;
  auto started = Clock::now();
  auto finish = [&]() -> SubprocessResult& {
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return result;
  };
  if (spec.argv.empty() || spec.argv[0].empty()) {
    result.start = SubprocessStart::not_found;
    result.start_error = "no program given";
    return finish();
  }
  const std::string& program = spec.argv[0];
  result.program = program;
  auto path = find_program(program);
  if (!path) {
    struct stat info {};
    bool exists = program.find('/') != std::string::npos && ::stat(program.c_str(), &info) == 0;
    result.start = exists ? SubprocessStart::not_executable : SubprocessStart::not_found;
    result.start_error = !exists ? std::string("not found")
                         : S_ISDIR(info.st_mode) ? std::string("is a directory")
                                                 : std::string("not executable");
    return finish();
  }
  result.program = *path;
  if (!spec.cwd.empty()) {
    struct stat info {};
    if (::stat(spec.cwd.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      result.start = SubprocessStart::failed;
      result.start_error = "working directory '" + spec.cwd + "' does not exist";
      return finish();
    }
  }
  become_subreaper();

  Fd out_read, out_write, err_read, err_write, in_read, in_write;
  if (!make_pipe(out_read, out_write) || !make_pipe(err_read, err_write) ||
      (spec.stdin_text && !make_pipe(in_read, in_write))) {
    result.start = SubprocessStart::failed;
    result.start_error = std::string("cannot create pipes: ") + std::strerror(errno);
    return finish();
  }

  SpawnSettings settings;
  if (spec.stdin_text) {
    posix_spawn_file_actions_adddup2(&settings.actions, in_read.get(), STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&settings.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&settings.actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&settings.actions, err_write.get(), STDERR_FILENO);
  // Only stdin, stdout and stderr: no socket or file another thread of ttops has open.
  posix_spawn_file_actions_addclosefrom_np(&settings.actions, 3);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&settings.actions, spec.cwd.c_str());
  // Its own process group, so that a timeout ends it and everything it started; default signal
  // dispositions and an empty mask, whatever ttops itself ignores or blocks (SIGPIPE).
  sigset_t empty;
  sigset_t all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setflags(&settings.attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&settings.attributes, 0);
  posix_spawnattr_setsigmask(&settings.attributes, &empty);
  posix_spawnattr_setsigdefault(&settings.attributes, &all);

  std::vector<char*> argv;
  for (const auto& argument : spec.argv) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> environment = environment_with(spec.extra_env);
  std::vector<char*> envp;
  for (const auto& entry : environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  int error = posix_spawn(&pid, path->c_str(), &settings.actions, &settings.attributes, argv.data(), envp.data());
  if (error != 0) {
    result.start = error == ENOENT ? SubprocessStart::not_found
                   : (error == EACCES || error == ENOEXEC || error == EISDIR) ? SubprocessStart::not_executable
                                                                               : SubprocessStart::failed;
    result.start_error = std::strerror(error);
    return finish();
  }
  out_write.reset();
  err_write.reset();
  in_read.reset();

  RunningProcess process(pid, spec, result);
  process.attach(std::move(out_read), std::move(err_read), std::move(in_write));
  process.run();
  return finish();
}

}  // namespace ttops
