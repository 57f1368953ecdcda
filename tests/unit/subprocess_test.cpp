#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "util/subprocess.hpp"

using namespace ttops;
using namespace std::chrono_literals;

namespace {

SubprocessResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 10s) {
  SubprocessSpec spec;
  spec.argv = std::move(argv);
  spec.deadline = std::chrono::steady_clock::now() + timeout;
  return run_subprocess(spec);
}

// True when no process has this pid any more (ttops reaps what it started, so not even a zombie).
bool gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

pid_t first_line_pid(const std::string& out) { return static_cast<pid_t>(std::stol(out.substr(0, out.find('\n')))); }

}  // namespace

TEST_CASE("subprocess: exit code, stdout and stderr", "[subprocess]") {
  auto result = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(result.started());
  CHECK(result.exit_code == 3);
  CHECK(result.signal == 0);
  CHECK(result.out == "out\n");
  CHECK(result.err == "err\n");
  CHECK_FALSE(result.timed_out);
  CHECK(result.status_text() == "exit code 3");
  CHECK(result.program.find("/sh") != std::string::npos);
}

TEST_CASE("subprocess: arguments are passed as they are, never through a shell", "[subprocess]") {
  auto result = run({"printf", "%s|", "a b", "$HOME", "'q'", "*"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == "a b|$HOME|'q'|*|");
}

TEST_CASE("subprocess: stdin text, environment and working directory", "[subprocess]") {
  SubprocessSpec spec;
  spec.argv = {"sh", "-c", "cat; echo \" $TTOPS_TEST_VALUE\"; pwd"};
  spec.stdin_text = "hello";
  spec.extra_env = {{"TTOPS_TEST_VALUE", "42"}};
  auto dir = std::filesystem::temp_directory_path();
  spec.cwd = dir.string();
  spec.deadline = std::chrono::steady_clock::now() + 10s;
  auto result = run_subprocess(spec);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "hello 42\n" + std::filesystem::canonical(dir).string() + "\n");

  // Without stdin text the program reads end of file at once (it is /dev/null), never a terminal.
  auto empty = run({"cat"});
  CHECK(empty.exit_code == 0);
  CHECK(empty.out.empty());
}

TEST_CASE("subprocess: large stdin and output do not deadlock", "[subprocess]") {
  SubprocessSpec spec;
  spec.argv = {"cat"};
  spec.stdin_text = std::string(1 << 20, 'x');
  spec.deadline = std::chrono::steady_clock::now() + 10s;
  auto result = run_subprocess(spec);
  CHECK(result.exit_code == 0);
  CHECK(result.out.size() == (1u << 20));
}

TEST_CASE("subprocess: output beyond the cap is read and dropped, and the result says so", "[subprocess]") {
  SubprocessSpec spec;
  spec.argv = {"head", "-c", "300000", "/dev/zero"};
  spec.max_output = 1000;
  spec.deadline = std::chrono::steady_clock::now() + 10s;
  auto result = run_subprocess(spec);
  CHECK(result.exit_code == 0);  // it was never blocked on a full pipe
  CHECK(result.out.size() == 1000);
  CHECK(result.out_truncated);
  CHECK_FALSE(result.err_truncated);
}

TEST_CASE("subprocess: a timeout ends the whole process group, grandchildren included", "[subprocess]") {
  auto started = std::chrono::steady_clock::now();
  auto result = run({"sh", "-c", "sleep 30 & echo $!; sleep 30"}, 300ms);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(result.timed_out);
  CHECK(result.signal == SIGTERM);
  CHECK(result.shell_status() == 128 + SIGTERM);
  CHECK(seconds < 2.5);
  REQUIRE_FALSE(result.out.empty());
  CHECK(gone(first_line_pid(result.out)));  // the background sleep too
}

TEST_CASE("subprocess: a group that ignores SIGTERM gets SIGKILL after the grace period", "[subprocess]") {
  SubprocessSpec spec;
  spec.argv = {"sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"};
  spec.deadline = std::chrono::steady_clock::now() + 300ms;
  spec.kill_grace = 200ms;
  auto started = std::chrono::steady_clock::now();
  auto result = run_subprocess(spec);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(result.timed_out);
  CHECK(result.signal == SIGKILL);
  CHECK(result.status_text() == "killed by SIGKILL");
  CHECK(seconds < 2.5);
  REQUIRE_FALSE(result.out.empty());
  CHECK(gone(first_line_pid(result.out)));
}

TEST_CASE("subprocess: processes left running after a normal exit are ended", "[subprocess]") {
  auto started = std::chrono::steady_clock::now();
  // The background sleep keeps stdout open: without ending it, reading would wait 30 s.
  auto result = run({"sh", "-c", "sleep 30 & echo $!"});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(result.exit_code == 0);
  CHECK_FALSE(result.timed_out);
  CHECK(result.ended_leftovers);
  CHECK(seconds < 2.5);
  CHECK(gone(first_line_pid(result.out)));

  auto detached = run({"sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"});
  CHECK(detached.ended_leftovers);
  CHECK(gone(first_line_pid(detached.out)));

  auto clean = run({"true"});
  CHECK_FALSE(clean.ended_leftovers);
}

TEST_CASE("subprocess: the cancel descriptor stops it at once", "[subprocess]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  SubprocessSpec spec;
  spec.argv = {"sleep", "30"};
  spec.cancel_fd = fds[0];
  spec.deadline = std::chrono::steady_clock::now() + 20s;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    char byte = 1;
    CHECK(::write(fds[1], &byte, 1) == 1);
  });
  auto started = std::chrono::steady_clock::now();
  auto result = run_subprocess(spec);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  canceller.join();
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK(result.cancelled);
  CHECK_FALSE(result.timed_out);
  CHECK(seconds < 2.0);
}

TEST_CASE("subprocess: a program that is missing or cannot run does not start", "[subprocess]") {
  auto missing = run({"ttops-no-such-program"});
  CHECK(missing.start == SubprocessStart::not_found);
  CHECK(missing.program == "ttops-no-such-program");

  auto missing_path = run({"/nonexistent/kubectl"});
  CHECK(missing_path.start == SubprocessStart::not_found);

  auto directory = run({std::filesystem::temp_directory_path().string()});
  CHECK(directory.start == SubprocessStart::not_executable);
  CHECK(directory.start_error == "is a directory");

  SubprocessSpec spec;
  spec.argv = {"true"};
  spec.cwd = "/nonexistent-ttops-dir";
  auto bad_cwd = run_subprocess(spec);
  CHECK(bad_cwd.start == SubprocessStart::failed);
  CHECK(bad_cwd.start_error.find("does not exist") != std::string::npos);
}

TEST_CASE("subprocess: find_program searches PATH like execvp", "[subprocess]") {
  auto sh = find_program("sh");
  REQUIRE(sh);
  CHECK(sh->find("/sh") != std::string::npos);
  CHECK_FALSE(find_program("ttops-no-such-program"));
  CHECK(find_program(*sh) == sh);
  CHECK_FALSE(find_program(""));
}

TEST_CASE("subprocess: a signal that ends the program is reported", "[subprocess]") {
  auto result = run({"sh", "-c", "kill -TERM $$"});
  CHECK(result.signal == SIGTERM);
  CHECK(result.exit_code == -1);
  CHECK(result.shell_status() == 143);
  CHECK(result.status_text() == "killed by SIGTERM");
  CHECK(signal_name(SIGKILL) == "SIGKILL");
}
