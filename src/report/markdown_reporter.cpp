// -o markdown: a summary an engineer pastes into the incident channel. Short: the verdict first,
// one table row per step, and under it only what went wrong.
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
    if (runs.size() > 1) {
      text += "### " + marker(overall) + " ttops: " + std::string(to_string(overall)) + " (" +
              std::to_string(runs.size()) + " runbooks)\n\n| Service | Runbook | Status | Time |\n|---|---|---|---|\n";
      for (const auto& run : runs)
        text += "| " + cell(run.service) + " | " + cell(run.runbook) + " | " + marker(run.status) + " " +
                std::string(to_string(run.status)) + " | " + format_duration(run.seconds) + " |\n";
      text += "\n";
    }
    for (const auto& run : runs) {
      text += "#### " + marker(run.status) + " `" + run.service + "/" + run.runbook + "` " +
              std::string(to_string(run.status)) + " — " + cell(run.title) + "\n\n";
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
