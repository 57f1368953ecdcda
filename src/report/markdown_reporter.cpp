// -o markdown: a summary an engineer pastes into the incident channel. Short: the verdict first,
// one table row per step, and under it only what went wrong.
#include <algorithm>
#include <ostream>

#include "report/report_json.hpp"
#include "ttops/reporter.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

std::string cell(std::string_view text) {
  std::string out;
  for (char c : one_line(text, 160)) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out;
}

std::string status_word(const StepResult& step) {
  if (step.kind == "decision" && step.status != StepStatus::failed) return "→ " + step.decision;
  if (step.dry_run) return "dry run";
  if (step.handled) return "failed (handled)";
  return std::string(to_string(step.status));
}

std::string marker(RunStatus status) {
  switch (status) {
    case RunStatus::passed: return "✅";
    case RunStatus::warned: return "⚠️";
    case RunStatus::interrupted:
    case RunStatus::declined: return "⏹️";
    default: return "❌";
  }
}

class MarkdownReporter : public Reporter {
 public:
  explicit MarkdownReporter(std::ostream& out) : m_out(out) {}

  void report_finished(const std::vector<RunResult>& runs) override {
    const Redactor& redactor = process_redactor();
    std::string text;
    RunStatus overall = overall_status(runs);
    std::vector<std::string> contexts;
    for (const auto& run : runs)
      if (std::find(contexts.begin(), contexts.end(), run.context) == contexts.end()) contexts.push_back(run.context);
    if (contexts.size() > 1) {
      // --context a,b: a row per runbook, a column per context.
      text += "### " + marker(overall) + " ttops: " + std::string(to_string(overall)) + " (" +
              std::to_string(contexts.size()) + " contexts)\n\n| Service | Runbook |";
      for (const auto& context : contexts) text += " " + cell(context) + " |";
      text += "\n|---|---|";
      for (std::size_t i = 0; i < contexts.size(); ++i) text += "---|";
      text += "\n";
      std::vector<std::pair<std::string, std::string>> rows;
      for (const auto& run : runs)
        if (std::find(rows.begin(), rows.end(), std::make_pair(run.service, run.runbook)) == rows.end())
          rows.emplace_back(run.service, run.runbook);
      for (const auto& row : rows) {
        // Named copies, not a structured binding: clang 14 cannot capture those in a lambda.
        const std::string& service = row.first;
        const std::string& runbook = row.second;
        text += "| " + cell(service) + " | " + cell(runbook) + " |";
        for (const auto& context : contexts) {
          auto it = std::find_if(runs.begin(), runs.end(), [&](const RunResult& run) {
            return run.service == service && run.runbook == runbook && run.context == context;
          });
          text += it == runs.end() ? std::string(" |")
                                   : " " + marker(it->status) + " " + std::string(to_string(it->status)) + " " +
                                         format_duration(it->seconds) + " |";
        }
        text += "\n";
      }
      text += "\n";
    } else if (runs.size() > 1) {
      text += "### " + marker(overall) + " ttops: " + std::string(to_string(overall)) + " (" +
              std::to_string(runs.size()) + " runbooks)\n\n| Service | Runbook | Status | Time |\n|---|---|---|---|\n";
      for (const auto& run : runs)
        text += "| " + cell(run.service) + " | " + cell(run.runbook) + " | " + marker(run.status) + " " +
                std::string(to_string(run.status)) + " | " + format_duration(run.seconds) + " |\n";
      text += "\n";
    }
    for (const auto& run : runs) {
      text += "#### " + marker(run.status) + " `" + run.service + "/" + run.runbook + "` " +
              std::string(to_string(run.status)) + (contexts.size() > 1 ? " in `" + run.context + "`" : "") + " — " +
              cell(run.title) + "\n\n";
      text += "Environment **" + run.environment + "**" + (run.dry_run ? " (dry run)" : "") + " · started " +
              run.started_at + " · " + format_duration(run.seconds) + " · run `" + run.run_id + "`\n\n";
      text += "| Step | Status | Time | Detail |\n|---|---|---|---|\n";
      add_rows(run.steps, "", text);
      if (!run.reason.empty() && run.status != RunStatus::passed) text += "\n**Why:** " + cell(run.reason) + "\n";
      text += "\n";
    }
    m_out << redactor.redact(text);
    m_out.flush();
  }

 private:
  static void add_rows(const std::vector<StepResult>& steps, const std::string& prefix, std::string& text) {
    for (const auto& step : steps) {
      std::string name = prefix + step.id + (step.title.empty() || step.title == step.id ? "" : " — " + step.title);
      std::string detail = step.status == StepStatus::passed && step.kind != "decision" ? std::string() : step.reason;
      text += "| " + cell(name) + " | " + cell(status_word(step)) + " | " +
              (step.kind == "decision" ? std::string() : format_duration(step.seconds)) + " | " + cell(detail) + " |\n";
      if (!step.children.empty()) add_rows(step.children, prefix + step.id + "/", text);
    }
  }

  std::ostream& m_out;
};

}  // namespace

std::unique_ptr<Reporter> make_markdown_reporter(std::ostream& out, const ReporterOptions& options) {
  (void)options;
  return std::make_unique<MarkdownReporter>(out);
}

}  // namespace ttops
