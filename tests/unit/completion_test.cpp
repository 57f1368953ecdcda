#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include "cli/completion.hpp"

using namespace ttops;

namespace {

// An app shaped like ttops's: global options that fall through, commands with positionals and
// flags, a nested command.
struct TestApp {
  CLI::App app{"test", "ttops"};
  std::string runbooks, output, junit;
  std::vector<std::string> positionals, sets;
  bool yes = false;

  TestApp() {
    app.fallthrough();
    app.add_option("--runbooks", runbooks, "Runbook library");
    app.add_option("-o,--output", output, "Output format")->check(CLI::IsMember({"text", "json"}));
    CLI::App* run = app.add_subcommand("runbook", "Run a runbook");
    run->add_option("runbook", positionals, "SERVICE RUNBOOK")->expected(1, 2);
    run->add_flag("-y,--yes", yes, "Confirm");
    run->add_option("--set", sets, "Set a parameter");
    run->add_option("--junit", junit, "JUnit file");
    app.add_subcommand("audit", "Audit trail")->add_subcommand("verify", "Check the chain");
  }
};

std::vector<std::string> values(const Completions& completions) {
  std::vector<std::string> out;
  for (const auto& candidate : completions.candidates) out.push_back(candidate.value);
  return out;
}

const std::string k_library = std::string(TTOPS_SOURCE_DIR) + "/runbooks";

}  // namespace

TEST_CASE("commands and nested commands complete with their descriptions", "[completion]") {
  TestApp t;
  auto commands = complete_words(t.app, {}, "ru");
  CHECK(values(commands) == std::vector<std::string>{"runbook"});
  CHECK(commands.candidates[0].description == "Run a runbook");
  CHECK(commands.directive == completion_directive::k_no_files);
  CHECK(values(complete_words(t.app, {"audit"}, "")) == std::vector<std::string>{"verify"});
}

TEST_CASE("services and runbook names come from the library", "[completion]") {
  TestApp t;
  CHECK(values(complete_words(t.app, {"--runbooks", k_library, "runbook"}, "ven")) == std::vector<std::string>{"venue"});
  CHECK(values(complete_words(t.app, {"--runbooks=" + k_library, "runbook", "venue"}, "high")) ==
        std::vector<std::string>{"high-latency"});
  CHECK(values(complete_words(t.app, {"--runbooks", k_library, "runbook"}, "venue/high")) ==
        std::vector<std::string>{"venue/high-latency"});
  CHECK(values(complete_words(t.app, {"--runbooks", k_library, "runbook", "venue", "high-latency"}, "")).empty());
}

TEST_CASE("flags of the command and the global ones, and their values", "[completion]") {
  TestApp t;
  auto flags = values(complete_words(t.app, {"runbook"}, "-"));
  CHECK(std::find(flags.begin(), flags.end(), "--yes") != flags.end());
  CHECK(std::find(flags.begin(), flags.end(), "-y") != flags.end());
  CHECK(std::find(flags.begin(), flags.end(), "--runbooks") != flags.end());  // falls through
  CHECK(values(complete_words(t.app, {"-o"}, "")) == std::vector<std::string>{"text", "json"});
  CHECK(values(complete_words(t.app, {}, "--output=j")) == std::vector<std::string>{"--output=json"});
  CHECK(complete_words(t.app, {"--runbooks"}, "").directive == completion_directive::k_directories);
  CHECK(complete_words(t.app, {"runbook", "--junit"}, "").directive == completion_directive::k_default);
  // A flag that takes no value does not swallow the next word.
  CHECK(values(complete_words(t.app, {"--runbooks", k_library, "runbook", "-y", "venue"}, "high")) ==
        std::vector<std::string>{"high-latency"});
}

TEST_CASE("--set offers the runbook's parameters, without a space after them", "[completion]") {
  TestApp t;
  auto sets = complete_words(t.app, {"--runbooks", k_library, "runbook", "venue", "high-latency", "--set"}, "");
  REQUIRE_FALSE(sets.candidates.empty());
  for (const auto& candidate : sets.candidates) CHECK(candidate.value.back() == '=');
  CHECK((sets.directive & completion_directive::k_no_space) != 0);
}

TEST_CASE("odd command lines give no candidates rather than an error", "[completion]") {
  TestApp t;
  CHECK(values(complete_words(t.app, {"--", "--nosuch", "x", "y", "z"}, "")).empty());
  CHECK(values(complete_words(t.app, {"--runbooks", "/nonexistent", "runbook"}, "")).empty());
  std::ostringstream out;
  CHECK(print_completions(t.app, {}, out) == 0);
  CHECK(out.str().substr(out.str().size() - 3) == ":4\n");
}
