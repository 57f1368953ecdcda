// kubectl steps: the real kubectl with an argument list, never through a shell, in the context
// and namespace of the selected environment. ttops classifies every command itself from its verb
// (`rollout undo` mutates, `delete` is destructive), whatever the runbook says, so a mutation is
// never run without confirmation. `-o json` output is parsed for expect and capture; `logs` steps
// filter their lines like `| grep -i error | tail -20`.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>

#include "executors/command_output.hpp"
#include "ttops/executor.hpp"
#include "ttops/expression.hpp"
#include "util/duration.hpp"
#include "util/subprocess.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// Global flags that take a value in the next word (`--request-timeout 5s`), so that the verb
// is not mistaken for one.
bool takes_value(std::string_view flag) {
  // Global flags, and the file flags of apply/create/replace: `apply -f {{ params.manifest }}` has
  // no sub-verb, so its templated file name must not be taken for one.
  static constexpr std::array<std::string_view, 28> flags = {
      "-n",          "--namespace",        "--context",        "--cluster",           "--user",
      "--kubeconfig", "-s",                "--server",         "--token",             "--as",
      "--as-group",  "--as-uid",           "--request-timeout", "--cache-dir",        "--certificate-authority",
      "--client-certificate", "--client-key", "--tls-server-name", "--profile",        "--profile-output",
      "-v",          "--v",                "--vmodule",        "--log-file",          "-f",
      "--filename",  "-k",                 "--kustomize"};
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::vector<std::string> words_of(const Json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const auto& item : list) out.push_back(to_display_string(item));
  } else if (list.is_string()) {
    // Not valid (the loader wants a list), but classified as the words it reads as, so that the
    // one problem reported is that it is not a list.
    for (auto& word : split(list.get<std::string>(), ' '))
      if (!word.empty()) out.push_back(std::move(word));
  }
  return out;
}

// The command's verb and, for commands that have one, its sub-verb (`rollout undo`, `set image`,
// `auth can-i`): the first words that are neither flags nor their values, before any `--`.
struct KubectlVerb {
  std::string verb;
  std::string sub;
  bool templated = false;  // a {{ }} decides the verb: unknown until run time
};

bool one_of(std::string_view word, std::initializer_list<std::string_view> options) {
  return std::find(options.begin(), options.end(), word) != options.end();
}

// Verbs whose class depends on the sub-verb (`rollout status` reads, `rollout undo` mutates).
bool has_sub_verb(std::string_view verb) { return one_of(verb, {"rollout", "auth", "config", "apply"}); }

KubectlVerb verb_of(const std::vector<std::string>& args) {
  KubectlVerb found;
  std::vector<std::string> words;
  for (std::size_t i = 0; i < args.size() && words.size() < 2; ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (!arg.empty() && arg[0] == '-' && !Template::has_holes(arg)) {
      if (arg.find('=') == std::string::npos && takes_value(arg)) ++i;
      continue;
    }
    words.push_back(arg);
  }
  if (!words.empty()) found.verb = words[0];
  if (words.size() > 1) found.sub = words[1];
  // A {{ }} where the verb (or a deciding sub-verb) is might be anything until run time.
  found.templated = Template::has_holes(found.verb) || (has_sub_verb(found.verb) && Template::has_holes(found.sub));
  return found;
}

// ttops's own classification, by verb. Unknown verbs (plugins, typos) are assumed destructive.
Effect classify(const KubectlVerb& command) {
  if (command.templated) return Effect::destructive;
  const std::string& verb = command.verb;
  const std::string& sub = command.sub;
  if (one_of(verb, {"get", "describe", "logs", "top", "explain", "api-resources", "api-versions", "version",
                    "cluster-info", "events", "wait", "diff", "completion", "help", "options", "kustomize"}))
    return Effect::read;
  if (verb == "rollout") {
    if (one_of(sub, {"status", "history"})) return Effect::read;
    if (one_of(sub, {"undo", "restart", "pause", "resume"})) return Effect::mutate;
    return Effect::destructive;
  }
  if (verb == "auth") return one_of(sub, {"can-i", "whoami"}) ? Effect::read : Effect::mutate;
  if (verb == "config")
    return one_of(sub, {"view", "get-contexts", "current-context", "get-clusters", "get-users"}) ? Effect::read
                                                                                                  : Effect::mutate;
  if (verb == "apply" && sub == "view-last-applied") return Effect::read;
  if (one_of(verb, {"delete", "drain"})) return Effect::destructive;
  if (one_of(verb, {"apply", "create", "patch", "scale", "set", "annotate", "label", "cordon", "uncordon", "edit",
                    "replace", "autoscale", "expose", "run", "exec", "attach", "cp", "debug", "taint",
                    "certificate", "port-forward", "proxy"}))
    return Effect::mutate;
  return Effect::destructive;
}

// Verbs whose changes kubectl can send as a server-side dry run (kubectl 1.32 has no --dry-run on
// rollout restart/pause/resume, exec or edit).
bool supports_server_dry_run(const KubectlVerb& command) {
  if (command.verb == "rollout") return command.sub == "undo";
  return one_of(command.verb, {"apply", "create", "patch", "scale", "set", "delete", "annotate", "label", "replace",
                               "autoscale", "expose", "run", "drain", "cordon", "uncordon", "taint"});
}

bool has_output_flag(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--") break;
    if (arg == "-o" || arg == "--output" || arg.rfind("--output=", 0) == 0 || (arg.size() > 2 && arg.rfind("-o", 0) == 0))
      return true;
  }
  return false;
}

bool all_namespaces(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--") break;
    if (arg == "-A" || arg == "--all-namespaces" || arg == "--all-namespaces=true") return true;
  }
  return false;
}

// The first non-empty of: the command line (--context, -n), the step, the environment.
std::string pick(const std::string& flag, const Json& action, const char* field, const Json* target,
                 const char* target_key) {
  if (!flag.empty()) return flag;
  if (action.contains(field) && action[field].is_string() && !action[field].get<std::string>().empty())
    return action[field].get<std::string>();
  if (target != nullptr && target->contains(target_key)) {
    std::string value = to_display_string((*target)[target_key]);
    if (!value.empty()) return value;
  }
  return {};
}

std::vector<std::string> logs_words(const Json& logs) {
  std::vector<std::string> out = {"logs"};
  if (logs.is_string()) {
    out.push_back(logs.get<std::string>());
    return out;
  }
  if (!logs.is_object()) return out;
  bool selector = logs.contains("selector");
  if (selector) {
    out.push_back("-l");
    out.push_back(to_display_string(logs["selector"]));
  } else if (logs.contains("resource")) {
    out.push_back(to_display_string(logs["resource"]));
  }
  if (logs.contains("container")) out.push_back("--container=" + to_display_string(logs["container"]));
  if (logs.contains("since")) out.push_back("--since=" + to_display_string(logs["since"]));
  if (logs.contains("tail")) {
    out.push_back("--tail=" + to_display_string(logs["tail"]));
  } else if (selector) {
    out.push_back("--tail=-1");  // with a selector kubectl shows only 10 lines per pod unless told otherwise
  }
  if (logs.value("previous", false)) out.push_back("--previous");
  return out;
}

bool wants_json(const Json& action, const std::vector<std::string>& args) {
  if (action.contains("json") && action["json"].is_boolean()) return action["json"].get<bool>();
  return !action.contains("logs") && verb_of(args).verb == "get" && !has_output_flag(args);
}

// The words after `kubectl`: the step's command, with -o json when it asks for JSON.
std::vector<std::string> command_words(const Json& action) {
  std::vector<std::string> args = words_of(action.value("args", Json::array()));
  std::vector<std::string> words;
  if (action.contains("logs")) {
    words = logs_words(action["logs"]);
    words.insert(words.end(), args.begin(), args.end());
  } else {
    words = args;
  }
  if (wants_json(action, args) && !has_output_flag(words)) {
    auto separator = std::find(words.begin(), words.end(), "--");
    words.insert(separator, {"-o", "json"});
  }
  return words;
}

// The exact argv: kubectl [--context C] [--namespace N] <words>. Context and namespace come from
// the command line, else the step, else the environment; left out when unknown, so that
// KUBECONFIG's current context and its namespace apply.
std::vector<std::string> build_argv(const Json& action, const StepContext& context) {
  static const RunOptions k_defaults;
  const RunOptions& options = context.options != nullptr ? *context.options : k_defaults;
  std::vector<std::string> words = command_words(action);
  std::vector<std::string> argv = {options.kubectl.empty() ? std::string("kubectl") : options.kubectl};
  std::string kube_context = pick(options.kube_context, action, "context", context.target, "kube_context");
  std::string kube_namespace = pick(options.kube_namespace, action, "namespace", context.target, "namespace");
  if (!kube_context.empty()) {
    argv.emplace_back("--context");
    argv.push_back(kube_context);
  }
  if (!kube_namespace.empty() && !all_namespaces(words)) {
    argv.emplace_back("--namespace");
    argv.push_back(kube_namespace);
  }
  argv.insert(argv.end(), words.begin(), words.end());
  return argv;
}

std::vector<std::string> with_server_dry_run(std::vector<std::string> argv) {
  auto separator = std::find(argv.begin(), argv.end(), "--");
  argv.insert(separator, "--dry-run=server");
  return argv;
}

class KubectlSession : public ExecutorSession {
 public:
  ActionOutcome run(const Json& action, StepContext& context) override {
    return run_argv(build_argv(action, context), action, context);
  }

  std::optional<ActionOutcome> preview(const Json& action, StepContext& context) override {
    std::vector<std::string> argv = build_argv(action, context);
    if (!supports_server_dry_run(verb_of(command_words(action)))) return std::nullopt;
    return run_argv(with_server_dry_run(std::move(argv)), action, context);
  }

 private:
  static ActionOutcome run_argv(std::vector<std::string> argv, const Json& action, StepContext& context) {
    auto timeout = context.budget.count() > 0 ? context.budget : context.remaining();
    if (context.remaining().count() <= 0) return ActionOutcome::failure("no time left to run kubectl", true);
    SubprocessSpec spec;
    spec.argv = std::move(argv);
    if (action.contains("stdin")) spec.stdin_text = to_display_string(action["stdin"]);
    spec.deadline = context.deadline;
    spec.cancel_fd = context.cancel != nullptr ? context.cancel->fd() : -1;
    SubprocessResult result = run_subprocess(spec);
    return process_outcome(result, line_filter_of(action), ProgramLabel{"kubectl", "; set --kubectl"}, timeout);
  }
};

class KubectlExecutor : public Executor {
 public:
  std::string_view name() const override { return "kubectl"; }
  std::string_view summary() const override { return "the real kubectl with an argument list (no shell)"; }
  const std::vector<ActionField>& fields() const override {
    static const std::vector<ActionField> fields = [] {
      std::vector<ActionField> list = {
          {"args", FieldType::string_list, false, "kubectl's arguments as a list, e.g. [rollout, status, deployment/x]"},
          {"logs", FieldType::any, false, "a log source: deployment/x, or {selector|resource, container, since, tail, previous}"},
          {"json", FieldType::boolean, false, "add -o json and parse it (default: true for get)"},
          {"stdin", FieldType::string, false, "text for kubectl's standard input (apply -f -)"},
          {"namespace", FieldType::string, false, "namespace for this step (default: the environment's)"},
          {"context", FieldType::string, false, "kubeconfig context for this step (default: the environment's)"},
      };
      for (auto& field : line_filter_fields()) list.push_back(std::move(field));
      return list;
    }();
    return fields;
  }
  std::string_view shorthand_field() const override { return "args"; }
  std::vector<std::string> result_fields() const override { return process_result_fields(); }
  std::vector<std::string> default_expectations() const override {
    return {"exit_code == 0 :: kubectl failed: {{ error }}"};
  }

  void check(const YAML::Node& action, Diagnostics& diagnostics) const override {
    YAML::Node args = action["args"];
    YAML::Node logs = action["logs"];
    if (!args && !logs) {
      diagnostics.error(action, "a kubectl step needs 'args' (e.g. [get, pods]) or 'logs'");
      return;
    }
    if (args && !args.IsSequence()) {
      diagnostics.error(args, "args must be a list of words, e.g. [rollout, status, deployment/x]: "
                              "ttops runs kubectl without a shell, so nothing splits a string");
      return;
    }
    if (args && !logs && args.size() == 0) {
      diagnostics.error(args, "args is empty: give kubectl's command, e.g. [get, pods]");
      return;
    }
    if (logs) check_logs(logs, diagnostics);
    check_line_filter(action, diagnostics);
    if (!args) return;
    std::vector<std::string> words;
    for (const auto& item : args) words.push_back(item.IsScalar() ? item.Scalar() : std::string());
    std::string verb = logs ? std::string("logs") : verb_of(words).verb;
    for (std::size_t i = 0; i < words.size(); ++i) {
      const std::string& word = words[i];
      if (word == "--") break;
      const YAML::Node& node = args[i];
      if (word == "-n" || word.rfind("--namespace", 0) == 0 || (word.size() > 2 && word.rfind("-n", 0) == 0))
        diagnostics.error(node, "set the namespace with the step's 'namespace' field, not in args "
                                "(so that -n on the ttops command line can override it)");
      if (word.rfind("--context", 0) == 0)
        diagnostics.error(node, "set the context with the step's 'context' field, not in args "
                                "(so that --context on the ttops command line can override it)");
      if (word.rfind("--kubeconfig", 0) == 0)
        diagnostics.error(node, "ttops uses KUBECONFIG as kubectl does; drop --kubeconfig");
      if (word == "-t" || word == "--tty" || word == "-it" || word == "-ti")
        diagnostics.error(node, "ttops runs kubectl without a terminal: drop " + word +
                                    " (use -i with the step's 'stdin' to feed input)");
      if ((verb == "logs" && (word == "-f" || word == "--follow")) || word == "-w" || word == "--watch")
        diagnostics.error(node, word + " never ends: a step must finish (use 'until' to wait for something)");
    }
    if (logs && !verb_of(words).verb.empty())
      diagnostics.error(args, "with 'logs', 'args' holds extra flags only (the verb is logs)");
  }

  Effect effect(const Json& action) const override {
    if (action.contains("logs")) return Effect::read;
    return classify(verb_of(words_of(action.value("args", Json::array()))));
  }

  std::string describe(const Json& action, const StepContext& context) const override {
    std::string line = shell_join(build_argv(action, context));
    // Masked before it is cut: a secret cut in half would no longer be recognised as one.
    if (action.contains("stdin"))
      line += " <<< " + shell_quote(one_line(process_redactor().redact(to_display_string(action["stdin"])), 80));
    return line;
  }

  std::unique_ptr<ExecutorSession> open_session(const RunOptions& options) const override {
    (void)options;
    return std::make_unique<KubectlSession>();
  }

 private:
  static void check_logs(const YAML::Node& logs, Diagnostics& diagnostics) {
    if (logs.IsScalar()) return;  // logs: deployment/x
    if (!logs.IsMap()) {
      diagnostics.error(logs, "logs must be a resource (deployment/x) or a map with 'selector' or 'resource'");
      return;
    }
    static const std::vector<std::string> keys = {"resource", "selector", "container", "since", "tail", "previous"};
    for (auto it = logs.begin(); it != logs.end(); ++it) {
      std::string key = it->first.Scalar();
      if (std::find(keys.begin(), keys.end(), key) == keys.end())
        diagnostics.error(it->first, "unknown key '" + key + "' in logs (use " + join(keys, ", ") + ")");
    }
    if (bool(logs["resource"]) == bool(logs["selector"]))
      diagnostics.error(logs, "logs needs exactly one of 'resource' (deployment/x, pod/y) or 'selector' (app=x)");
    if (auto since = logs["since"]; since && since.IsScalar() && !Template::has_holes(since.Scalar()) &&
                                    !parse_duration(since.Scalar()))
      diagnostics.error(since, "since must be a duration such as 5m or 1h");
    if (auto tail = logs["tail"]; tail && tail.IsScalar() && !Template::has_holes(tail.Scalar())) {
      const std::string& text = tail.Scalar();
      bool number = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!number) diagnostics.error(tail, "tail must be a number of lines");
    }
    if (auto previous = logs["previous"];
        previous && (!previous.IsScalar() || (previous.Scalar() != "true" && previous.Scalar() != "false")))
      diagnostics.error(previous, "previous must be true or false");
  }
};

}  // namespace

std::unique_ptr<Executor> make_kubectl_executor() { return std::make_unique<KubectlExecutor>(); }

}  // namespace ttops
