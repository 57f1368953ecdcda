// exec steps: a local program with an argument list, never through a shell (the seeds' pg_dump
// before a migration, `nc -z` reachability, a smoke-test script). Same process handling as
// kubectl: own process group, deadline and cancel end the whole group, output captured and
// filterable. ttops cannot know what a program does, so an exec step reads unless the runbook
// raises it with `effect: mutate` (or destructive): that call is the runbook author's.
#include <yaml-cpp/yaml.h>

#include "executors/command_output.hpp"
#include "ttops/executor.hpp"
#include "ttops/expression.hpp"
#include "util/redact.hpp"
#include "util/subprocess.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

std::vector<std::string> command_of(const Json& action) {
  std::vector<std::string> out;
  const Json& command = action.contains("command") ? action["command"] : Json(nullptr);
  if (command.is_array()) {
    for (const auto& item : command) out.push_back(to_display_string(item));
  } else if (command.is_string()) {
    out.push_back(command.get<std::string>());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> env_of(const Json& action) {
  std::vector<std::pair<std::string, std::string>> out;
  if (action.contains("env") && action["env"].is_object())
    for (auto it = action["env"].begin(); it != action["env"].end(); ++it)
      out.emplace_back(it.key(), to_display_string(it.value()));
  return out;
}

class ExecSession : public ExecutorSession {
 public:
  ActionOutcome run(const Json& action, StepContext& context) override {
    auto timeout = context.budget.count() > 0 ? context.budget : context.remaining();
    if (context.remaining().count() <= 0) return ActionOutcome::failure("no time left to run the command", true);
    SubprocessSpec spec;
    spec.argv = command_of(action);
    if (spec.argv.empty() || spec.argv[0].empty()) return ActionOutcome::failure("the command is empty");
    spec.extra_env = env_of(action);
    // Credentials handed to the program are masked if it echoes them.
    for (const auto& [name, value] : spec.extra_env)
      if (looks_secret(name) && context.redactor != nullptr) context.redactor->add_secret(value);
    if (action.contains("stdin")) spec.stdin_text = to_display_string(action["stdin"]);
    spec.cwd = action.value("cwd", "");
    spec.deadline = context.deadline;
    spec.cancel_fd = context.cancel != nullptr ? context.cancel->fd() : -1;
    SubprocessResult result = run_subprocess(spec);
    const std::string& program = spec.argv[0];
    auto slash = program.rfind('/');
    std::string name = slash == std::string::npos ? program : program.substr(slash + 1);
    return process_outcome(result, line_filter_of(action), ProgramLabel{name, ""}, timeout);
  }
};

class ExecExecutor : public Executor {
 public:
  std::string_view name() const override { return "exec"; }
  std::string_view summary() const override { return "a local program with an argument list (no shell)"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = [] {
      std::vector<ActionField> list = {
          {"command", FieldType::string_list, true, "the program and its arguments as a list, e.g. [nc, -z, db, 5432]"},
          {"env", FieldType::string_map, false, "environment variables to set for it"},
          {"stdin", FieldType::string, false, "text for its standard input"},
          {"cwd", FieldType::string, false, "the directory to run it in"},
      };
      for (auto& field : line_filter_fields()) list.push_back(std::move(field));
      return list;
    }();
    return fields;
  }
  std::string_view shorthand_field() const override { return "command"; }
  std::vector<std::string> result_fields() const override { return process_result_fields(); }
  std::vector<std::string> default_expectations() const override {
    return {"exit_code == 0 :: the command failed: {{ error }}"};
  }

  void check(const YAML::Node& action, Diagnostics& diagnostics) const override {
    YAML::Node command = action["command"];
    if (command && !command.IsSequence()) {
      diagnostics.error(command, "command must be a list, e.g. [pg_dump, -h, db, minting]: ttops runs the program "
                                 "without a shell, so nothing splits a string (write [sh, -c, \"…\"] to want one)");
    } else if (command && command.size() == 0) {
      diagnostics.error(command, "command is empty: name the program to run");
    } else if (command && command[0].IsScalar() && command[0].Scalar().empty()) {
      diagnostics.error(command[0], "the program name is empty");
    }
    check_line_filter(action, diagnostics);
  }

  Effect effect(const Json& action) const override {
    (void)action;
    return Effect::read;
  }

  std::string describe(const Json& action, const StepContext& context) const override {
    (void)context;
    std::string line;
    if (action.contains("cwd")) line += "cd " + shell_quote(action.value("cwd", "")) + " && ";
    for (const auto& [name, value] : env_of(action))
      line += name + "=" + (looks_secret(name) ? std::string(Redactor::mask) : shell_quote(value)) + " ";
    line += shell_join(command_of(action));
    // Masked before it is cut: a secret cut in half would no longer be recognised as one.
    if (action.contains("stdin"))
      line += " <<< " + shell_quote(one_line(process_redactor().redact(to_display_string(action["stdin"])), 80));
    return line;
  }

  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    (void)options;
    return std::make_unique<ExecSession>();
  }
};

}  // namespace

std::unique_ptr<Executor> make_exec_executor() { return std::make_unique<ExecExecutor>(); }

}  // namespace ttops
