// ttops completion bash|zsh: the shell's completion script, for `source <(ttops completion bash)`.
// The installed scripts are this output too (the build writes them).
#include <ostream>

#include "cli/command.hpp"
#include "cli/completion.hpp"

namespace ttops {

namespace {

class CompletionCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("shell", m_shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  }

  int run(CommandContext& context) override {
    context.out() << completion_script(m_shell);
    return exit_code::ok;
  }

 private:
  std::string m_shell;
};

}  // namespace

std::unique_ptr<Command> make_completion_command() { return std::make_unique<CompletionCommand>(); }

}  // namespace ttops
