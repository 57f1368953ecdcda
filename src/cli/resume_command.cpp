// ttops resume RUN-ID: continues an interrupted or failed run from the step that did not
// finish, with the same inputs, after showing what already happened.
#include <ostream>

#include "audit/journal.hpp"
#include "cli/run_support.hpp"
#include "runbook/loader.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

class ResumeCommand : public Command {
 public:
  void define(CLI::App& command) override {
    command.add_option("run-id", m_run_id, "The run to continue (see the journal in the state dir, or the run's report)")
        ->required();
    command.add_flag("--force", m_force, "Resume even though the runbook file changed since the run");
    m_flags.define(command, false);
  }

  int run(CommandContext& context) override {
    std::string error;
    auto loaded = RunJournal::load(m_run_id, error);
    if (!loaded) {
      context.error(error);
      return exit_code::usage;
    }
    const Json& header = loaded->header;
    if (!loaded->end.is_null() && loaded->end.value("status", "") == "passed") {
      context.out() << "run " << m_run_id << " passed; there is nothing to resume\n";
      return exit_code::ok;
    }
    // The same environment and Kubernetes context as the original run, whatever the flags say.
    context.options().environment = header.value("environment", "");
    if (!header.value("context", "").empty()) context.options().kube_context = header.value("context", "");
    RunSession session(context, m_flags);
    if (!session.open()) return exit_code::usage;

    std::string service = header.value("service", "");
    std::string name = header.value("runbook", "");
    std::vector<std::pair<std::string, std::string>> overrides;
    std::vector<std::string> secret = header.value("secret_params", std::vector<std::string>{});
    const Json& params = header["params"];
    for (auto it = params.begin(); it != params.end(); ++it) {
      // Secret values were never written down: they come again from where they came from.
      if (std::find(secret.begin(), secret.end(), it.key()) != secret.end()) continue;
      overrides.emplace_back(it.key(), it.value().is_string() ? it.value().get<std::string>() : dump_json(it.value()));
    }
    auto prepared = session.prepare(service, name, overrides);
    if (!prepared) return exit_code::usage;
    prepared = std::move(session.for_each_context(std::move(*prepared)).front());
    std::string read_error;
    auto text = read_text_file(prepared->runbook->file, read_error);
    if (text && sha256_hex(*text) != header.value("runbook_sha256", "") && !m_force) {
      context.error(prepared->runbook->file + " changed since run " + m_run_id +
                    " started; resuming could skip or repeat steps. Check the change, then pass --force.");
      return exit_code::usage;
    }

    ResumePoint resume;
    resume.step_id = prepared->runbook->steps.empty() ? "end" : prepared->runbook->steps.front().id;
    auto& out = context.out();
    bool text_output = context.options().output == "text";
    if (text_output) out << "Resuming run " << m_run_id << " of " << service << "/" << name << " (env: "
                         << prepared->environment << ")\n";
    for (const auto& record : loaded->steps) {
      const Json& result = record["result"];
      resume.steps[record.value("id", "")] = record["view"];
      if (result.value("kind", "") == "parallel" && record["view"].contains("steps")) {
        // The steps of a group are steps.<id> of the flow they sit in.
        const Json& children = record["view"]["steps"];
        for (auto it = children.begin(); it != children.end(); ++it) resume.steps[it.key()] = it.value();
      }
      for (auto it = result["captures"].begin(); it != result["captures"].end(); ++it) resume.captures[it.key()] = it.value();
      resume.step_id = record.value("next", "end");
      resume.journal.push_back(record);
      if (text_output)
        out << "  done  " << record.value("id", "") << ": " << result.value("status", "")
            << (result.value("reason", "").empty() ? "" : " — " + one_line(result.value("reason", ""), 100)) << "\n";
    }
    if (resume.step_id == "end") {
      out << "every step of run " << m_run_id << " finished; there is nothing to resume\n";
      return exit_code::ok;
    }
    if (text_output) out << "  continuing at step '" << resume.step_id << "'\n\n";
    if (int refused = session.preflight({&*prepared}); refused != exit_code::ok) return refused;
    ReporterOptions options = context.reporter_options();
    options.fail_on_warning = m_flags.fail_on_warning();
    auto reporter = make_reporter(context.options().output, context.out(), options);
    RunResult result = session.execute(*prepared, *reporter, &resume);
    std::vector<RunResult> runs;
    runs.push_back(std::move(result));
    return session.finish(runs, *reporter);
  }

 private:
  std::string m_run_id;
  bool m_force = false;
  RunFlags m_flags;
};

}  // namespace

std::unique_ptr<Command> make_resume_command() { return std::make_unique<ResumeCommand>(); }

}  // namespace ttops
