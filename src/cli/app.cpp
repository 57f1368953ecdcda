#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "audit/audit_log.hpp"
#include "cli/command.hpp"
#include "cli/completion.hpp"
#include "cli/man_page.hpp"
#include "engine/scope.hpp"
#include "report/report_json.hpp"
#include "ttops/cancel.hpp"
#include "util/redact.hpp"
#include "util/suggest.hpp"
#include "util/terminal.hpp"
#include "util/text.hpp"

#ifndef TTOPS_VERSION
#define TTOPS_VERSION "0"
#endif

namespace ttops {

namespace {

// Diagnostics go to stderr through the redactor: a secret never reaches a log line either.
class RedactingStderrSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    std::cerr << process_redactor().redact(std::string_view(formatted.data(), formatted.size()));
  }
  void flush_() override { std::cerr.flush(); }
};

void setup_logging(int verbosity) {
  auto sink = std::make_shared<RedactingStderrSink>();
  auto logger = std::make_shared<spdlog::logger>("ttops", sink);
  // No timestamps by default: output stays comparable between runs.
  logger->set_pattern(verbosity >= 2 ? "%H:%M:%S.%e %l: %v" : "%l: %v");
  logger->set_level(verbosity >= 2 ? spdlog::level::debug : verbosity == 1 ? spdlog::level::info : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// Global values that CLI11 cannot check by their type, refused before anything runs.
std::string global_value_problem(const GlobalOptions& options, const CLI::App& app) {
  auto printable = [](const std::string& text) {
    return !text.empty() && std::none_of(text.begin(), text.end(),
                                         [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) != 0; });
  };
  if (app.count("--context") > 0 && !printable(options.kube_context))
    return "--context needs the name of a kubeconfig context, not '" + one_line(options.kube_context, 80) + "'";
  if (app.count("--namespace") > 0) {
    const std::string& name = options.kube_namespace;
    bool label = !name.empty() && name.size() <= 63 && name.front() != '-' && name.back() != '-' &&
                 std::all_of(name.begin(), name.end(),
                             [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
    if (!label)
      return "--namespace '" + one_line(name, 80) +
             "' is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)";
  }
  if (app.count("--cacert") > 0) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(options.ca_file, ec))
      return "--cacert '" + options.ca_file + "' is not a file";
  }
  return "";
}

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const auto& spec : command_table()) names.emplace_back(spec.name);
  return names;
}

// The name the binary was started under: kubectl's plugin discovery runs it as `kubectl-ttops`
// (a link to ttops), and its plugin completion as `kubectl_complete-ttops`.
std::string invoked_as(int argc, char** argv) {
  if (argc < 1 || argv[0] == nullptr) return "ttops";
  return std::filesystem::path(argv[0]).filename().string();
}

}  // namespace

Library* CommandContext::library() {
  if (m_library) return &*m_library;
  auto root = find_library(m_options.runbooks);
  std::error_code ec;
  if (root.empty() || !std::filesystem::is_directory(root, ec)) {
    error(m_options.runbooks.empty()
              ? "no runbook library found: pass --runbooks DIR, set $TTOPS_RUNBOOKS, or run where ./runbooks exists"
              : "runbook library '" + m_options.runbooks + "' is not a directory");
    return nullptr;
  }
  m_library.emplace(root);
  return &*m_library;
}

const Config* CommandContext::config() {
  if (m_config_tried) return m_config ? &*m_config : nullptr;
  m_config_tried = true;
  Library* lib = library();
  auto path = find_config(m_options.config, lib != nullptr ? lib->root() : std::filesystem::path());
  if (path.empty()) {
    error("no config found: pass --config FILE, set $TTOPS_CONFIG, or put ttops.yaml in the runbook library");
    return nullptr;
  }
  Diagnostics diagnostics;
  m_config = load_config(path, path.lexically_normal().string(), diagnostics);
  if (!m_config) {
    print_diagnostics(diagnostics);
    return nullptr;
  }
  register_secret_environment(*m_config);
  return &*m_config;
}

const Environment* CommandContext::environment() {
  const Config* cfg = config();
  if (cfg == nullptr) return nullptr;
  std::string name = m_options.environment;
  if (name.empty()) {
    const char* env = std::getenv("TTOPS_ENV");
    name = env != nullptr && *env != '\0' ? env : cfg->default_environment;
  }
  const Environment* environment = cfg->find(name);
  if (environment == nullptr)
    error("unknown environment '" + name + "'" + did_you_mean(name, cfg->environment_names()) +
          " (environments: " + join(cfg->environment_names(), ", ") + ")");
  return environment;
}

RunOptions CommandContext::run_options(bool dry_run) {
  RunOptions options;
  const Environment* env = environment();
  options.environment = env != nullptr ? env->name : "";
  options.dry_run = dry_run;
  options.kubectl = m_options.kubectl;
  auto contexts = kube_contexts();
  options.kube_context = contexts.size() == 1 ? contexts.front() : std::string();
  options.kube_namespace = m_options.kube_namespace;
  options.ca_file = m_options.ca_file;
  options.insecure = m_options.insecure;
  options.max_concurrency = m_options.concurrency;
  return options;
}

std::vector<std::string> CommandContext::kube_contexts() const {
  std::vector<std::string> out;
  for (const auto& part : split(m_options.kube_context, ',')) {
    std::string name(trim(part));
    if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

ReporterOptions CommandContext::reporter_options() const {
  ReporterOptions options;
  bool stdout_is_tty = &m_out == &std::cout && is_terminal(1);
  options.color = stdout_is_tty && use_color(1, m_options.no_color);
  options.live = stdout_is_tty && std::getenv("CI") == nullptr;
  options.verbosity = m_options.verbosity;
  return options;
}

void CommandContext::print_diagnostics(const Diagnostics& diagnostics) {
  std::ostringstream text;
  diagnostics.print(text);
  m_err << process_redactor().redact(text.str());
  m_err.flush();
}

void CommandContext::error(const std::string& message) {
  bool color = &m_err == &std::cerr && use_color(2, m_options.no_color);
  Palette p = Palette::for_color(color);
  m_err << p.bold << p.red << "error" << p.reset << ": " << process_redactor().redact(message) << "\n";
  m_err.flush();
}

bool split_runbook_ref(const std::vector<std::string>& positionals, std::string& service, std::string& name,
                       std::string& error) {
  if (positionals.size() == 1 && positionals[0].find('/') != std::string::npos) {
    auto slash = positionals[0].find('/');
    service = positionals[0].substr(0, slash);
    name = positionals[0].substr(slash + 1);
  } else if (positionals.size() == 2) {
    service = positionals[0];
    name = positionals[1];
  } else {
    error = "name a runbook: SERVICE RUNBOOK (e.g. 'venue high-latency') or SERVICE/RUNBOOK";
    return false;
  }
  if (service.empty() || name.empty()) {
    error = "name a runbook: SERVICE RUNBOOK";
    return false;
  }
  return true;
}

bool parse_overrides(const std::vector<std::string>& sets, std::vector<std::pair<std::string, std::string>>& out,
                     std::string& error) {
  for (const auto& item : sets) {
    auto equals = item.find('=');
    if (equals == std::string::npos || equals == 0) {
      error = "--set expects KEY=VALUE, got '" + item + "'";
      return false;
    }
    out.emplace_back(item.substr(0, equals), item.substr(equals + 1));
  }
  return true;
}

int exit_code_for(const std::vector<RunResult>& runs, bool fail_on_warning) {
  switch (overall_status(runs)) {
    case RunStatus::passed: return exit_code::ok;
    case RunStatus::warned: return fail_on_warning ? exit_code::check_failed : exit_code::ok;
    case RunStatus::failed: return exit_code::check_failed;
    case RunStatus::declined: return exit_code::refused;
    case RunStatus::invalid: return exit_code::usage;
    case RunStatus::interrupted:
      return process_cancel_token().signal_number() == 15 ? exit_code::terminated : exit_code::interrupted;
  }
  return exit_code::internal;
}

namespace {

// The first word that is not a global option or an option's value: the command the user named,
// or "" when there is none or an option is unknown (CLI11 then says what is wrong).
std::string selected_command(const CLI::App& app, const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return {};
    if (arg.size() < 2 || arg[0] != '-') return arg;
    const bool long_option = arg.rfind("--", 0) == 0;
    if (long_option && arg.find('=') != std::string::npos) continue;  // --output=json
    const CLI::Option* option = app.get_option_no_throw(long_option ? arg : arg.substr(0, 2));
    if (option == nullptr) return {};
    if (!long_option && arg.size() > 2) continue;  // -ojson, -vv
    if (option->get_expected_min() > 0) ++i;       // its value is the next word
  }
  return {};
}

}  // namespace

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::string invoked = invoked_as(argc, argv);
  CLI::App app{"ttops — executable, checked runbooks for the ticketing platform",
               invoked == "kubectl-ttops" ? "kubectl ttops" : "ttops"};
  app.set_version_flag("--version", std::string("ttops ") + TTOPS_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Exit codes: 0 passed, 1 a check failed, 2 usage/config/runbook error, 3 refused or declined,\n"
      "            70 internal error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).\n"
      "Docs: docs/cli.md and docs/runbook-format.md.");

  GlobalOptions options;
  app.add_option("--runbooks", options.runbooks, "Runbook library directory (default: $TTOPS_RUNBOOKS, ./runbooks, installed)");
  app.add_option("--config", options.config, "Config file (default: $TTOPS_CONFIG, <library>/ttops.yaml)");
  app.add_option("-e,--env", options.environment, "Environment from the config (default: $TTOPS_ENV, the config's default)");
  app.add_option("-o,--output", options.output, "Output format")->check(CLI::IsMember(reporter_names()));
  app.add_flag("--no-color", options.no_color, "No colour (also NO_COLOR=1)");
  app.add_flag("-v,--verbose", options.verbosity, "More detail: -v shows commands, notes and captures; -vv debug logs");
  app.add_option("--kubectl", options.kubectl, "kubectl binary");
  app.add_option("--context", options.kube_context,
                 "Kubernetes context (overrides the environment's); several, a,b,c, run side by side");
  app.add_option("-n,--namespace", options.kube_namespace, "Kubernetes namespace (overrides the environment's)");
  app.add_option("--cacert", options.ca_file, "CA bundle for HTTPS checks");
  app.add_flag("--insecure", options.insecure, "Do not verify TLS certificates (explicit opt-in)");
  app.add_option("--concurrency", options.concurrency, "Most steps of a parallel group running at once")
      ->check(CLI::Range(1, 4096));
  app.add_option("--audit-log", options.audit_log, "Audit log file (default: $TTOPS_AUDIT_LOG, <state dir>/audit.jsonl)");
  app.add_flag("--reveal-secrets", options.reveal_secrets,
               "Show secrets in output instead of masking them (recorded in the audit log)");

  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  // Only the command being run defines its flags; the others keep their name and summary for
  // --help. Defining every command's flags was most of what a warm `ttops list` itself did.
  // Completions, the man page and anything unclear (a typo, no command) get the whole tree.
  const std::string selected = invoked == "kubectl_complete-ttops" ? std::string() : selected_command(app, args);
  const bool known = std::any_of(command_table().begin(), command_table().end(),
                                 [&](const CommandSpec& spec) { return spec.name == selected; });
  std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> commands;
  for (const auto& spec : command_table()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    auto command = spec.create();
    if (!known || spec.name == selected) command->define(*sub);
    commands.emplace_back(sub, std::move(command));
  }

  // Hidden entry points that read the app itself, so that completions and the man page say what
  // --help says: `__complete WORDS… PARTIAL` (kubectl_complete-ttops is the same) and `__man`.
  if (invoked == "kubectl_complete-ttops") return print_completions(app, args, out);
  if (!args.empty() && args[0] == "__complete") return print_completions(app, {args.begin() + 1, args.end()}, out);
  if (!args.empty() && args[0] == "__man") {
    out << man_page(app);
    return exit_code::ok;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out << app.help();
    return exit_code::ok;
  } catch (const CLI::CallForAllHelp& e) {
    out << app.help("", CLI::AppFormatMode::All);
    return exit_code::ok;
  } catch (const CLI::CallForVersion& e) {
    out << e.what() << "\n";
    return exit_code::ok;
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // An unknown command: suggest the closest one, as ninja and git do.
    if (app.get_subcommands().empty()) {
      for (int i = 1; i < argc; ++i) {
        std::string word = argv[i];
        if (word.empty() || word[0] == '-') continue;
        auto names = command_names();
        if (std::find(names.begin(), names.end(), word) == names.end()) {
          message = "unknown command '" + word + "'" + did_you_mean(word, names) + " (see 'ttops --help')";
          break;
        }
      }
    }
    setup_logging(0);
    CommandContext context(options, out, err);
    context.error(message);
    return exit_code::usage;
  }
  setup_logging(options.verbosity);
  CommandContext context(options, out, err);
  if (std::string problem = global_value_problem(options, app); !problem.empty()) {
    context.error(problem);
    return exit_code::usage;
  }
  // An environment named on the command line must exist, whether the command reads it or not.
  if (app.count("--env") > 0 && context.environment() == nullptr) return exit_code::usage;
  if (options.reveal_secrets) {
    // Revealing is a deliberate act: it is audited before anything is shown.
    AuditLog audit(options.audit_log.empty() ? AuditLog::default_path() : std::filesystem::path(options.audit_log));
    std::vector<std::string> argv_list(argv, argv + argc);
    std::string error;
    if (!audit.append(Json{{"phase", "reveal-secrets"}, {"command", shell_join(argv_list)}}, error)) {
      context.error("--reveal-secrets: " + error + "; refusing to reveal secrets without an audit record");
      return exit_code::refused;
    }
    process_redactor().set_revealing(true);
  }
  for (auto& [sub, command] : commands) {
    if (!sub->parsed()) continue;
    if (context.kube_contexts().size() > 1 && !command->runs_on_many_contexts()) {
      std::vector<std::string> able;
      for (const auto& [other, candidate] : commands)
        if (candidate->runs_on_many_contexts()) able.push_back(other->get_name());
      context.error("--context names several contexts; '" + sub->get_name() + "' works on one (" + join(able, ", ") +
                    " run on several at once)");
      return exit_code::usage;
    }
    return command->run(context);
  }
  return exit_code::usage;
}

}  // namespace ttops
