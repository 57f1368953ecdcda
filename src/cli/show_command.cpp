// ttops show SERVICE RUNBOOK: the procedure as a page an engineer reads before running it,
// with every template expanded for the selected environment (secrets masked) and every
// expectation, capture, wait and branch spelled out.
#include <algorithm>
#include <cstdlib>
#include <list>
#include <ostream>
#include <sstream>

#include "cli/command.hpp"
#include "engine/engine.hpp"
#include "engine/scope.hpp"
#include "report/flow_diagram.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

class ShowCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("runbook", m_positionals, "SERVICE RUNBOOK, or SERVICE/RUNBOOK")->required()->expected(1, 2);
    command.add_option("--set", m_sets, "Set a parameter: --set key=value (repeatable)");
    command.add_option("--format", m_format, "page (default), mermaid or dot: the flow as a diagram")
        ->check(CLI::IsMember({"page", "mermaid", "dot"}));
  }

  int run(CommandContext& context) override {
    std::string service;
    std::string name;
    std::string error;
    std::vector<std::pair<std::string, std::string>> overrides;
    if (!split_runbook_ref(m_positionals, service, name, error) || !parse_overrides(m_sets, overrides, error)) {
      context.error(error);
      return exit_code::usage;
    }
    Library* library = context.library();
    if (library == nullptr) return exit_code::usage;
    const Config* config = context.config();
    if (config == nullptr) return exit_code::usage;
    const Environment* environment = context.environment();
    if (environment == nullptr) return exit_code::usage;
    Diagnostics diagnostics;
    auto runbook = library->load(service, name, config, diagnostics);
    if (!runbook) {
      context.print_diagnostics(diagnostics);
      return exit_code::usage;
    }
    if (m_format == "mermaid") {
      context.out() << flow_mermaid(*runbook);
      return exit_code::ok;
    }
    if (m_format == "dot") {
      context.out() << flow_dot(*runbook);
      return exit_code::ok;
    }
    // A page is read before anyone knows the values: a required parameter not given shows as
    // <name> rather than stopping the page.
    std::vector<std::string> placeholders;
    for (const auto& param : runbook->params) {
      bool given = std::any_of(overrides.begin(), overrides.end(), [&](const auto& o) { return o.first == param.name; });
      const char* env = param.from_env.empty() ? nullptr : std::getenv(param.from_env.c_str());
      bool from_env = env != nullptr && *env != '\0';
      bool untyped = param.type.empty() || param.type == "string";
      if (!given && !from_env && !param.default_value && untyped) {
        overrides.emplace_back(param.name, "<" + param.name + ">");
        placeholders.push_back(param.name);
      }
    }
    m_placeholders = placeholders;
    auto prepared = prepare_run(runbook, *config, *environment, overrides, false, diagnostics);
    if (!prepared) {
      context.print_diagnostics(diagnostics);
      return exit_code::usage;
    }
    m_options = context.run_options(false);
    m_target = prepared->target;
    for (const auto& [key, why] : prepared->missing_target) m_target[key] = "<" + key + ": " + why + ">";
    std::ostringstream page;
    print_page(page, *runbook, *prepared);
    context.out() << process_redactor().redact(page.str());
    return exit_code::ok;
  }

 private:
  void print_page(std::ostream& out, const Runbook& runbook, const PreparedRun& prepared) {
    out << runbook.service << "/" << runbook.name << " — " << runbook.title << "\n";
    std::vector<std::string> facts;
    if (!runbook.severity.empty()) facts.push_back("severity " + runbook.severity);
    if (!runbook.covers.empty()) facts.push_back("covers " + join(runbook.covers, ", "));
    facts.push_back("environment " + prepared.environment);
    out << join(facts, " · ") << "\n";
    if (!runbook.summary.empty()) out << "\n" << trim(runbook.summary) << "\n";
    if (!runbook.symptoms.empty()) {
      out << "\nSymptoms:\n";
      for (const auto& symptom : runbook.symptoms) out << "  - " << symptom << "\n";
    }
    if (!runbook.params.empty()) {
      out << "\nParameters:\n";
      for (const auto& param : runbook.params) {
        out << "  " << param.name << " = " << to_display_string(prepared.params.value(param.name, Json(nullptr)));
        if (!param.description.empty()) out << "    " << param.description;
        if (!param.from_env.empty()) out << " (from $" << param.from_env << ")";
        if (std::find(m_placeholders.begin(), m_placeholders.end(), param.name) != m_placeholders.end())
          out << " (required: pass --set " << param.name << "=VALUE)";
        out << "\n";
      }
    }
    out << "\nSteps:\n";
    StepScope scope;
    scope.params = &prepared.params;
    scope.target = &m_target;
    print_steps(out, runbook.steps, scope, 1, "", runbook.default_timeout.value_or(std::chrono::seconds(30)));
  }

  // A title that names parameters reads as this run; one that needs an earlier step's result
  // stays as written.
  static std::string expanded_title(const std::string& title, const StepScope& scope) {
    if (!Template::has_holes(title)) return title;
    try {
      return Template::parse(title).render(scope);
    } catch (const std::exception&) {
      return title;
    }
  }

  void print_steps(std::ostream& out, const std::vector<Step>& steps, const StepScope& scope, int depth,
                   const std::string& prefix, Duration default_timeout) {
    int number = 0;
    std::string indent(static_cast<std::size_t>(depth * 2), ' ');
    for (const auto& step : steps) {
      ++number;
      std::string label = prefix + std::to_string(number);
      out << "\n" << indent << label << ". " << step.id;
      if (!step.title.empty()) out << " — " << expanded_title(step.title, scope);
      out << "\n";
      std::string body = indent + std::string(label.size() + 2, ' ');
      std::vector<std::string> facts;
      if (step.kind == Step::Kind::action) {
        facts.push_back(step.executor_name);
        facts.emplace_back(to_string(step.effect));
        Duration timeout = step.timeout ? *step.timeout : default_timeout;
        facts.push_back("timeout " + format_duration(timeout));
      }
      if (step.when) facts.push_back("only when " + step.when->text());
      if (step.max_visits > 0) facts.push_back("at most " + std::to_string(step.max_visits) + " visits");
      if (!facts.empty()) out << body << "[" << join(facts, ", ") << "]\n";
      if (!step.description.empty())
        for (const auto& line : split_lines(std::string(trim(step.description)))) out << body << line << "\n";
      switch (step.kind) {
        case Step::Kind::action: {
          Json action = render_known(step.action, scope);
          StepContext context;
          context.options = &m_options;
          context.target = &m_target;
          for (const auto& line : split_lines(step.executor->describe(action, context))) out << body << "$ " << line << "\n";
          if (!step.confirm.empty()) out << body << "asks: " << expanded_title(step.confirm, scope) << "\n";
          break;
        }
        case Step::Kind::decision:
          for (const auto& decision : step.cases)
            out << body << "if " << decision.when.text() << "  ->  " << decision.target << "\n";
          out << body << "otherwise  ->  " << step.default_target << "\n";
          break;
        case Step::Kind::parallel:
          out << body << "runs these at once"
              << (step.max_concurrency > 0 ? " (at most " + std::to_string(step.max_concurrency) + ")" : std::string())
              << ":\n";
          print_steps(out, step.children, scope, depth + 2, label + ".", default_timeout);
          break;
        case Step::Kind::procedure: {
          Json with = render_known(step.with, scope);
          out << body << "uses procedure '" << step.procedure->name << "'";
          if (!with.empty()) out << " with " << dump_json(with);
          out << ":\n";
          StepScope inner = scope;
          Json params = Json::object();
          for (const auto& param : step.procedure->params) {
            if (with.contains(param.name)) {
              params[param.name] = with[param.name];
            } else if (param.default_value) {
              params[param.name] = render_known(*param.default_value, scope);
            }
          }
          m_param_frames.push_back(std::move(params));
          inner.params = &m_param_frames.back();
          print_steps(out, step.procedure->steps, inner, depth + 2, label + ".",
                      step.procedure->default_timeout.value_or(default_timeout));
          break;
        }
      }
      if (step.until) {
        const auto& u = *step.until;
        std::string text = "repeat every " + format_duration(u.interval) + " until it passes " +
                           (u.successes == 1 ? std::string("once") : std::to_string(u.successes) + " times in a row");
        if (u.attempts) text += ", at most " + std::to_string(*u.attempts) + " attempts";
        if (u.within) text += ", within " + format_duration(*u.within);
        if (u.failures) text += ", giving up after " + std::to_string(*u.failures) + " failures in a row";
        out << body << text << "\n";
      }
      for (const auto& expectation : step.expect)
        out << body << "expect " << expectation.expr.text()
            << (expectation.severity == Severity::warning ? "  (warning)" : "") << "\n";
      for (const auto& capture : step.capture) out << body << "capture " << capture.name << " = " << capture.expr.text() << "\n";
      switch (step.on_failure.action) {
        case FailureAction::stop: break;
        case FailureAction::proceed: out << body << "on failure: continue\n"; break;
        case FailureAction::ignore: out << body << "on failure: ignore (a later decision reads it)\n"; break;
        case FailureAction::go_to: out << body << "on failure: go to " << step.on_failure.target << "\n"; break;
      }
      for (const auto& note : step.leaves) out << body << "leaves " << note.aspect << ": " << note.text << "\n";
      if (!step.recovery.empty()) {
        bool first = true;
        for (const auto& line : split_lines(std::string(trim(step.recovery)))) {
          out << body << (first ? "if the run stops here: " : "  ") << line << "\n";
          first = false;
        }
      }
      if (!step.next.empty()) out << body << "then: " << (step.next == "end" ? "end of runbook" : "go to " + step.next) << "\n";
    }
  }

  std::vector<std::string> m_placeholders;  // required parameters shown as <name>
  std::vector<std::string> m_positionals;
  std::vector<std::string> m_sets;
  std::string m_format = "page";
  RunOptions m_options;
  Json m_target;
  std::list<Json> m_param_frames;  // stable addresses for nested procedure scopes
};

}  // namespace

std::unique_ptr<Command> make_show_command() { return std::make_unique<ShowCommand>(); }

}  // namespace ttops
