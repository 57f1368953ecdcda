#pragma once
// Subcommands in kubectl's spirit: each is an options struct that defines its flags, then runs
// with the streams it is given (so tests can capture them). One table lists them all.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runbook/config.hpp"
#include "runbook/library.hpp"
#include "ttops/executor.hpp"
#include "ttops/reporter.hpp"

namespace ttops {

/// Flags every command understands.
struct GlobalOptions {
  std::string runbooks;          // --runbooks DIR
  std::string config;            // --config FILE
  std::string environment;       // --env NAME
  std::string output = "text";   // -o FORMAT
  bool no_color = false;         // --no-color
  int verbosity = 0;             // -v, -vv
  std::string kubectl = "kubectl";
  std::string kube_context;      // --context NAME, or several: a,b,c
  std::string kube_namespace;
  std::string ca_file;
  bool insecure = false;
  int concurrency = 16;
  std::string audit_log;         // --audit-log FILE
  bool reveal_secrets = false;   // --reveal-secrets (audited)
};

/// What a command runs with: the global options, its streams, and lazily opened library/config.
class CommandContext {
 public:
  CommandContext(GlobalOptions& options, std::ostream& out, std::ostream& err) : m_options(options), m_out(out), m_err(err) {}

  GlobalOptions& options() { return m_options; }
  std::ostream& out() { return m_out; }
  std::ostream& err() { return m_err; }

  /// The runbook library; nullptr after printing why when there is none.
  Library* library();
  /// The config; nullptr after printing its problems.
  const Config* config();
  /// The selected environment (--env, $TTOPS_ENV, the config's default); nullptr after an error.
  const Environment* environment();
  /// Run options for executors, from the global flags and the environment. With several
  /// contexts, kube_context is empty: each run sets its own (PreparedRun::kube_context).
  RunOptions run_options(bool dry_run);
  /// The contexts --context names, in order, without repeats (`--context a,b,c`); empty: none.
  std::vector<std::string> kube_contexts() const;
  ReporterOptions reporter_options() const;
  /// Prints diagnostics to stderr in the `file:line:col: message` form.
  void print_diagnostics(const Diagnostics& diagnostics);
  /// "error: <message>" on stderr.
  void error(const std::string& message);

 private:
  GlobalOptions& m_options;
  std::ostream& m_out;
  std::ostream& m_err;
  std::optional<Library> m_library;
  std::optional<Config> m_config;
  bool m_config_tried = false;
};

class Command {
 public:
  virtual ~Command() = default;
  /// Adds the command's flags and positionals to its subcommand.
  virtual void define(CLI::App& command) = 0;
  /// Runs it and returns the process exit code (ttops/result.hpp, exit_code).
  virtual int run(CommandContext& context) = 0;
  /// Whether it runs against several Kubernetes contexts at once (`--context a,b`); the others
  /// refuse a list.
  virtual bool runs_on_many_contexts() const { return false; }
};

struct CommandSpec {
  const char* name;
  const char* summary;
  std::unique_ptr<Command> (*create)();
};

/// Every subcommand, in the order `ttops --help` lists them.
const std::vector<CommandSpec>& command_table();

/// Parses arguments and runs the chosen command. The entry point of the binary.
int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

/// Splits "service/runbook" or the two positionals into service and name.
bool split_runbook_ref(const std::vector<std::string>& positionals, std::string& service, std::string& name,
                       std::string& error);

/// Parses `--set key=value` arguments.
bool parse_overrides(const std::vector<std::string>& sets, std::vector<std::pair<std::string, std::string>>& out,
                     std::string& error);

/// The exit code for a finished set of runs.
int exit_code_for(const std::vector<RunResult>& runs, bool fail_on_warning);

}  // namespace ttops
