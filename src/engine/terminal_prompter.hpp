#pragma once
#include <chrono>

#include "engine/engine.hpp"

namespace ttops {

/// Asks on the terminal (stdin/stderr), with a bound on how long it waits for an answer.
class TerminalPrompter : public Prompter {
 public:
  explicit TerminalPrompter(std::chrono::seconds timeout, bool color) : m_timeout(timeout), m_color(color) {}
  std::optional<bool> confirm(const std::string& title, const std::string& question, const std::string& detail,
                              const std::string& typed_answer) override;

 private:
  std::chrono::seconds m_timeout;
  bool m_color;
};

}  // namespace ttops
