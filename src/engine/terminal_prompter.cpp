#include "engine/terminal_prompter.hpp"

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "util/duration.hpp"
#include "util/terminal.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// Reads one line from stdin, waiting at most `timeout`. nullopt on timeout or end of input.
std::optional<std::string> read_line(std::chrono::seconds timeout, const CancelToken& cancel) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || cancel.cancelled()) return std::nullopt;
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {cancel.fd(), POLLIN, 0}};
    int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready <= 0) continue;
    if (fds[1].revents != 0) return std::nullopt;
    char c = 0;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    line += c;
  }
}

}  // namespace

std::optional<bool> TerminalPrompter::confirm(const std::string& title, const std::string& question,
                                              const std::string& detail, const std::string& typed_answer) {
  Palette p = Palette::for_color(m_color);
  std::cerr << "\n" << p.bold << p.yellow << "? " << title << p.reset << "\n";
  for (const auto& line : split_lines(detail)) std::cerr << "    " << line << "\n";
  if (typed_answer.empty()) {
    std::cerr << "  " << question << " [y/N] " << std::flush;
  } else {
    std::cerr << "  " << question << "\n  Type '" << typed_answer << "' to confirm: " << std::flush;
  }
  auto line = read_line(m_timeout, process_cancel_token());
  if (!line) {
    std::cerr << "\n  no answer within " << format_duration(std::chrono::milliseconds(m_timeout)) << ": not run\n";
    return std::nullopt;
  }
  std::string answer(trim(*line));
  if (!typed_answer.empty()) return answer == typed_answer;
  std::string lower = to_lower(answer);
  return lower == "y" || lower == "yes";
}

}  // namespace ttops
