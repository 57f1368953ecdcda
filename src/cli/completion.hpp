#pragma once
// Shell completion from the CLI11 app itself: commands, flags and their choices come from the same
// definitions as `--help`, services and runbook names from the library. The shells' scripts
// (`ttops completion bash|zsh`) and kubectl's plugin completion (`kubectl_complete-ttops`) all ask
// `ttops __complete WORDS… PARTIAL`, which answers in cobra's protocol: one candidate a line
// (`value<TAB>description`), then `:<directive>`.
#include <CLI/CLI.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace ttops {

/// Cobra's ShellCompDirective bits, which kubectl's plugin completion understands too.
namespace completion_directive {
constexpr int k_default = 0;       // no candidates: the shell completes file names
constexpr int k_no_space = 2;      // do not add a space after the candidate (--set name=)
constexpr int k_no_files = 4;      // no candidates means none: no file names
constexpr int k_directories = 16;  // complete directory names
}  // namespace completion_directive

struct CompletionCandidate {
  std::string value;
  std::string description;
};

struct Completions {
  std::vector<CompletionCandidate> candidates;
  int directive = completion_directive::k_no_files;
};

/// What may follow `words` (the arguments before the cursor) when the word under the cursor starts
/// with `partial`. Never throws for odd input: completion must not break the shell.
Completions complete_words(CLI::App& app, const std::vector<std::string>& words, const std::string& partial);

/// `ttops __complete ARGS…`: the last argument is the partial word. Prints cobra's protocol.
int print_completions(CLI::App& app, const std::vector<std::string>& args, std::ostream& out);

/// The completion script for `shell` (bash or zsh); empty for another shell.
std::string completion_script(const std::string& shell);

}  // namespace ttops
