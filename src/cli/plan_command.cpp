// ttops plan SERVICE RUNBOOK: every step fully expanded with its effect, in order. Where a
// mutation has a safe substitute (a server-side dry run, the rows it would touch), the plan runs
// it to show what would happen; a step without one is shown as "would execute". Nothing changes.
// With --context a,b, a plan per context, previewed side by side.
#include <list>
#include <map>
#include <ostream>
#include <sstream>
#include <thread>

#include "cli/run_support.hpp"
#include "engine/policy.hpp"
#include "engine/scope.hpp"
#include "report/result_display.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

// One context's plan, with its own executor sessions: plans for several contexts are previewed
// at once.
class Planner {
 public:
  Planner(RunOptions options, Json target, const Config& config, const Environment& environment)
      : m_options(std::move(options)), m_target(std::move(target)), m_config(&config), m_environment(&environment) {}

  Json plan(const std::vector<Step>& steps, const Json& params) {
    Json out = Json::array();
    StepScope scope;
    scope.params = &params;
    scope.target = &m_target;
    plan_steps(steps, scope, "", out);
    return out;
  }

 private:
  ExecutorSession& session_for(const Executor* executor) {
    auto& slot = m_sessions[executor];
    if (!slot) slot = executor->open_session(m_options);
    return *slot;
  }

  void plan_steps(const std::vector<Step>& steps, const StepScope& scope, const std::string& prefix, Json& out) {
    for (const auto& step : steps) {
      Json entry = {{"id", prefix + step.id}, {"title", step.title}};
      switch (step.kind) {
        case Step::Kind::action:
          plan_action(step, scope, entry);
          break;
        case Step::Kind::decision: {
          entry["kind"] = "decision";
          Json cases = Json::array();
          for (const auto& c : step.cases) cases.push_back(Json{{"when", c.when.text()}, {"goto", c.target}});
          entry["cases"] = cases;
          entry["default"] = step.default_target;
          break;
        }
        case Step::Kind::parallel: {
          entry["kind"] = "parallel";
          Json children = Json::array();
          plan_steps(step.children, scope, prefix + step.id + "/", children);
          entry["steps"] = children;
          break;
        }
        case Step::Kind::procedure: {
          entry["kind"] = "procedure";
          entry["procedure"] = step.procedure->name;
          Json with = render_known(step.with, scope);
          Json params = Json::object();
          for (const auto& param : step.procedure->params) {
            if (with.contains(param.name)) {
              params[param.name] = with[param.name];
            } else if (param.default_value) {
              params[param.name] = render_known(*param.default_value, scope);
            }
          }
          m_frames.push_back(std::move(params));
          StepScope inner = scope;
          inner.params = &m_frames.back();
          Json children = Json::array();
          plan_steps(step.procedure->steps, inner, prefix + step.id + "/", children);
          entry["steps"] = children;
          break;
        }
      }
      if (step.when) entry["when"] = step.when->text();
      out.push_back(std::move(entry));
    }
  }

  void plan_action(const Step& step, const StepScope& scope, Json& entry) {
    Json action = render_known(step.action, scope);
    StepContext context;
    context.step_id = step.id;
    context.cancel = &process_cancel_token();
    context.options = &m_options;
    context.target = &m_target;
    context.redactor = &process_redactor();
    Effect effect = max_effect(step.effect, step.executor->effect(action));
    context.effect = effect;
    entry["kind"] = step.executor_name;
    entry["effect"] = std::string(to_string(effect));
    entry["command"] = process_redactor().redact(step.executor->describe(action, context));
    if (step.executor->needs_operator()) {
      entry["plan"] = "asks the operator";
      return;
    }
    if (effect == Effect::read) {
      entry["plan"] = "reads: runs as written";
      return;
    }
    entry["policy"] = std::string(to_string(approval_for(*m_config, *m_environment, effect)));
    if (has_unrendered(action)) {
      entry["plan"] = "would execute (its values come from earlier steps, so it cannot be previewed)";
      return;
    }
    context.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::optional<ActionOutcome> preview;
    try {
      preview = session_for(step.executor).preview(action, context);
    } catch (const std::exception& e) {
      preview = ActionOutcome::failure(e.what());
    }
    if (!preview) {
      entry["plan"] = "would execute (no safe substitute to preview it)";
      return;
    }
    entry["plan"] = preview->ok ? "previewed" : "preview failed";
    Json result = {{"ok", preview->ok}, {"error", preview->error}, {"data", preview->data}, {"notes", preview->notes}};
    entry["preview"] = process_redactor().redact_json(result);
  }

  RunOptions m_options;
  Json m_target;
  const Config* m_config = nullptr;
  const Environment* m_environment = nullptr;
  std::map<const Executor*, std::unique_ptr<ExecutorSession>> m_sessions;
  std::list<Json> m_frames;  // stable addresses for procedure scopes
};

class PlanCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("runbook", m_positionals, "SERVICE RUNBOOK, or SERVICE/RUNBOOK")->required()->expected(1, 2);
    command.add_option("--set", m_sets, "Set a parameter: --set key=value (repeatable)");
  }

  bool runs_on_many_contexts() const override { return true; }

  int run(CommandContext& context) override {
    std::string service;
    std::string name;
    std::string error;
    std::vector<std::pair<std::string, std::string>> overrides;
    if (!split_runbook_ref(m_positionals, service, name, error) || !parse_overrides(m_sets, overrides, error)) {
      context.error(error);
      return exit_code::usage;
    }
    RunFlags flags;
    flags.dry_run = true;
    RunSession session(context, flags);
    if (!session.open()) return exit_code::usage;
    auto prepared = session.prepare(service, name, overrides);
    if (!prepared) return exit_code::usage;
    std::vector<PreparedRun> runs = session.for_each_context(std::move(*prepared));
    RunOptions options = context.run_options(true);
    std::vector<Json> plans(runs.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      threads.emplace_back([&, i] {
        const PreparedRun& run = runs[i];
        RunOptions mine = options;
        if (!run.kube_context.empty()) mine.kube_context = run.kube_context;
        Planner planner(mine, run.target, session.config(), session.environment());
        plans[i] = {{"service", service},
                    {"runbook", name},
                    {"title", run.runbook->title},
                    {"environment", run.environment},
                    {"params", process_redactor().redact_json(run.params)},
                    {"steps", planner.plan(run.runbook->steps, run.params)}};
        if (runs.size() > 1) plans[i]["context"] = run.kube_context;
      });
    }
    for (auto& thread : threads) thread.join();
    if (context.options().output == "json") {
      Json document = plans.front();
      if (runs.size() > 1) {  // keyed per context
        document = Json{{"contexts", Json::object()}};
        for (std::size_t i = 0; i < runs.size(); ++i) document["contexts"][runs[i].kube_context] = plans[i];
      }
      context.out() << dump_json(process_redactor().redact_json(document), 2) << "\n";
    } else {
      std::ostringstream text;
      for (std::size_t i = 0; i < plans.size(); ++i) {
        if (i > 0) text << "\n";
        print(text, plans[i]);
      }
      context.out() << process_redactor().redact(text.str());
    }
    return exit_code::ok;
  }

 private:
  void print(std::ostream& out, const Json& plan) {
    out << "Plan for " << plan["service"].get<std::string>() << "/" << plan["runbook"].get<std::string>() << " — "
        << plan["title"].get<std::string>() << " (env: " << plan["environment"].get<std::string>()
        << (plan.contains("context") ? ", context: " + plan["context"].get<std::string>() : std::string()) << ")\n";
    if (!plan["params"].empty()) {
      out << "params:";
      for (auto it = plan["params"].begin(); it != plan["params"].end(); ++it)
        out << " " << it.key() << "=" << to_display_string(it.value());
      out << "\n";
    }
    out << "\n";
    print_steps(out, plan["steps"], 1);
  }

  void print_steps(std::ostream& out, const Json& steps, int depth) {
    std::string indent(static_cast<std::size_t>(depth * 2), ' ');
    for (const auto& step : steps) {
      std::string kind = step.value("kind", "");
      std::string effect = step.value("effect", "");
      std::string label = effect.empty() ? kind : effect;
      for (auto& c : label) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out << indent << "[" << label << "] " << step.value("id", "");
      if (!step.value("title", "").empty()) out << " — " << step.value("title", "");
      out << "\n";
      std::string body = indent + "    ";
      if (step.contains("when")) out << body << "only when " << step["when"].get<std::string>() << "\n";
      if (step.contains("command"))
        for (const auto& line : split_lines(step["command"].get<std::string>())) out << body << "$ " << line << "\n";
      if (step.contains("policy")) out << body << "policy: " << step["policy"].get<std::string>() << "\n";
      if (step.contains("plan")) out << body << "plan: " << step["plan"].get<std::string>() << "\n";
      if (step.contains("preview")) {
        const Json& preview = step["preview"];
        if (!preview["ok"].get<bool>()) out << body << "  " << preview["error"].get<std::string>() << "\n";
        const Json& data = preview["data"];
        if (data.contains("summary")) {
          for (const auto& line : split_lines(to_display_string(data["summary"]))) out << body << "  " << line << "\n";
        } else if (auto lines = display_lines(data, 6); !lines.empty()) {
          for (const auto& line : lines) out << body << "  " << line << "\n";
        } else if (data.contains("row_count") && data["row_count"] == 0) {
          out << body << "  (no rows: it would act on nothing now)\n";
        } else if (!data.empty()) {
          out << body << "  " << one_line(dump_json(data), 200) << "\n";
        }
        for (const auto& note : preview["notes"]) out << body << "  " << note.get<std::string>() << "\n";
      }
      if (kind == "decision") {
        for (const auto& c : step["cases"])
          out << body << "if " << c["when"].get<std::string>() << " -> " << c["goto"].get<std::string>() << "\n";
        out << body << "otherwise -> " << step["default"].get<std::string>() << "\n";
      }
      if (step.contains("steps")) print_steps(out, step["steps"], depth + 2);
    }
  }

  std::vector<std::string> m_positionals;
  std::vector<std::string> m_sets;
};

}  // namespace

std::unique_ptr<Command> make_plan_command() { return std::make_unique<PlanCommand>(); }

}  // namespace ttops
