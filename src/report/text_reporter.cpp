// The default output, for an engineer at a terminal at 3 a.m.: one line per step with a status
// word that reads at a glance, why it failed right under it, a live line while steps run or
// wait, and a summary. No timestamps, so golden files stay stable.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include "ttops/expression.hpp"
#include "report/context_table.hpp"
#include "report/result_display.hpp"
#include "ttops/reporter.hpp"
#include "util/duration.hpp"
#include "util/redact.hpp"
#include "util/terminal.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

using Clock = std::chrono::steady_clock;

class TextReporter : public Reporter {
 public:
  TextReporter(std::ostream& out, const ReporterOptions& options)
      : m_out(out), m_options(options), m_palette(Palette::for_color(options.color)) {}

  ~TextReporter() override { stop_ticker(); }

  void run_started(const RunStart& run) override {
    std::lock_guard lock(m_mutex);
    m_streamed = true;
    m_out << m_palette.bold << run.service << "/" << run.runbook << m_palette.reset;
    if (!run.title.empty()) m_out << "  " << run.title;
    m_out << m_palette.dim << "  (env: " << run.environment << (run.dry_run ? ", dry run" : "") << ")"
          << m_palette.reset << "\n";
    m_out.flush();
    if (m_options.live && !m_ticker.joinable()) {
      m_stop = false;
      m_ticker = std::thread([this] { tick(); });
    }
  }

  void step_started(const Step& step, int depth) override {
    (void)depth;
    std::lock_guard lock(m_mutex);
    m_running[step.id] = Running{Clock::now(), step.title.empty() ? step.id : step.title, {}};
  }

  void step_waiting(const Step& step, int attempt, std::string_view why) override {
    std::lock_guard lock(m_mutex);
    auto it = m_running.find(step.id);
    if (it != m_running.end())
      it->second.note = "attempt " + std::to_string(attempt) + ": " + process_redactor().redact(one_line(why, 90));
    if (!m_options.live && m_options.verbosity > 0)
      m_out << "        " << m_palette.dim << step.id << " attempt " << attempt << ": "
            << process_redactor().redact(std::string(why)) << m_palette.reset << "\n";
  }

  void step_finished(const StepResult& result, int depth) override {
    std::lock_guard lock(m_mutex);
    m_running.erase(result.id);
    clear_live_line();
    print_step(result, depth);
    m_out.flush();
  }

  void run_finished(const RunResult& run) override {
    stop_ticker();
    std::lock_guard lock(m_mutex);
    clear_live_line();
    int counts[7] = {0, 0, 0, 0, 0, 0, 0};
    count(run.steps, counts);
    std::string_view colour = run.status == RunStatus::passed  ? m_palette.green
                              : run.status == RunStatus::warned ? m_palette.yellow
                                                                : m_palette.red;
    std::string word = upper(std::string(to_string(run.status)));
    m_out << "\n" << m_palette.bold << colour << word << m_palette.reset << "  ";
    std::vector<std::string> parts;
    auto add = [&](int n, const char* what) {
      if (n > 0) parts.push_back(std::to_string(n) + " " + what);
    };
    add(counts[static_cast<int>(StepStatus::passed)], "passed");
    add(counts[static_cast<int>(StepStatus::warned)], "warned");
    add(counts[static_cast<int>(StepStatus::failed)], "failed");
    add(counts[static_cast<int>(StepStatus::skipped)], "skipped");
    add(counts[static_cast<int>(StepStatus::declined)], "declined");
    add(counts[static_cast<int>(StepStatus::interrupted)], "interrupted");
    add(counts[k_handled], counts[k_handled] == 1 ? "failure handled by the runbook" : "failures handled by the runbook");
    m_out << (parts.empty() ? std::string("no steps ran") : join(parts, ", ")) << " in "
          << format_duration(run.seconds) << "\n";
    if (!run.reason.empty() && run.status != RunStatus::passed)
      m_out << "        " << process_redactor().redact(run.reason) << "\n";
    print_state(run);
    // Resuming matters when the runbook changes things; a read-only run is simply run again.
    bool resumable = (run.status == RunStatus::failed || run.status == RunStatus::interrupted ||
                      run.status == RunStatus::declined) &&
                     changes_things(run.steps);
    if (resumable && !run.dry_run && !run.run_id.empty())
      m_out << m_palette.dim << "        continue from there: ttops resume " << run.run_id << m_palette.reset << "\n";
    m_out.flush();
  }

  void report_finished(const std::vector<RunResult>& runs) override {
    // --context a,b: the runs went side by side without a word; this is their report.
    if (contexts_of(runs).size() < 2) return;
    std::lock_guard lock(m_mutex);
    std::ostringstream text;
    if (m_streamed) text << "\n";  // after the runs it showed one by one (an operator was asked)
    print_steps_by_context(text, runs, m_palette);
    m_out << process_redactor().redact(text.str());
    m_out.flush();
  }

 private:
  static constexpr int k_handled = 6;  // after the StepStatus values

  static bool changes_things(const std::vector<StepResult>& steps) {
    for (const auto& step : steps)
      if (step.effect != Effect::read || step.kind == "manual" || changes_things(step.children)) return true;
    return false;
  }

  struct Running {
    Clock::time_point started;
    std::string title;
    std::string note;
  };

  // Where the run left the system and, when it stopped part-way, what to do now.
  void print_state(const RunResult& run) {
    const Redactor& redactor = process_redactor();
    if (!run.state.empty()) {
      std::size_t width = 0;
      for (auto it = run.state.begin(); it != run.state.end(); ++it) width = std::max(width, it.key().size());
      m_out << "\n" << m_palette.bold << "State left" << m_palette.reset << "\n";
      for (auto it = run.state.begin(); it != run.state.end(); ++it)
        m_out << "  " << it.key() << std::string(width - it.key().size() + 2, ' ')
              << redactor.redact(to_display_string(it.value())) << "\n";
    }
    if (!run.next_steps.empty()) {
      m_out << "\n" << m_palette.bold << m_palette.yellow << "Next" << m_palette.reset << "\n";
      for (const auto& text : run.next_steps) {
        bool first = true;
        for (const auto& line : split_lines(redactor.redact(text))) {
          m_out << (first ? "  - " : "    ") << line << "\n";
          first = false;
        }
      }
    }
  }

  static std::string upper(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
  }

  static void count(const std::vector<StepResult>& steps, int* counts) {
    for (const auto& step : steps) {
      if (step.kind == "decision") continue;
      if (step.handled) {
        ++counts[k_handled];
        continue;
      }
      if (step.children.empty() || step.kind == "procedure") {
        if (step.children.empty()) {
          ++counts[static_cast<int>(step.status)];
        } else {
          count(step.children, counts);
        }
      } else {
        count(step.children, counts);
      }
    }
  }

  std::pair<std::string, std::string_view> label(const StepResult& result) const {
    if (result.kind == "decision" && result.status != StepStatus::failed) return {"GOTO", m_palette.cyan};
    switch (result.status) {
      case StepStatus::passed: return {"PASS", m_palette.green};
      case StepStatus::warned: return {"WARN", m_palette.yellow};
      case StepStatus::failed: return {"FAIL", m_palette.red};
      case StepStatus::skipped: return {result.dry_run ? "DRY " : "SKIP", m_palette.dim};
      case StepStatus::declined: return {"NO  ", m_palette.yellow};
      case StepStatus::interrupted: return {"STOP", m_palette.red};
    }
    return {"????", m_palette.reset};
  }

  void print_step(const StepResult& result, int depth) {
    const Redactor& redactor = process_redactor();
    std::string indent(static_cast<std::size_t>(2 + depth * 2), ' ');
    auto [word, colour] = label(result);
    std::string id = result.id;
    std::size_t id_width = depth == 0 ? 20 : 18;
    std::string padded_id = id.size() < id_width ? id + std::string(id_width - id.size(), ' ') : id + " ";
    std::string title = result.title == result.id ? std::string() : result.title;
    if (title.empty()) padded_id = std::string(trim(padded_id));
    m_out << indent << m_palette.bold << colour << word << m_palette.reset << "  " << padded_id
          << redactor.redact(title);
    if (result.kind == "decision" && !result.decision.empty()) m_out << m_palette.cyan << "  -> " << result.decision << m_palette.reset;
    if (result.kind != "decision" && result.status != StepStatus::skipped && result.status != StepStatus::declined)
      m_out << m_palette.dim << "  " << format_duration(result.seconds) << m_palette.reset;
    if (result.handled) m_out << m_palette.dim << "  (expected by the runbook: it goes on)" << m_palette.reset;
    m_out << "\n";

    std::string detail_indent = indent + "      ";
    bool show_command = m_options.verbosity > 0 || result.kind == "manual" ||
                        (result.effect != Effect::read && result.status != StepStatus::skipped);
    if (show_command && !result.command.empty() && !(result.dry_run && result.kind != "manual")) {
      for (const auto& line : split_lines(result.command))
        m_out << detail_indent << m_palette.dim << line << m_palette.reset << "\n";
    }
    bool show_reason = !result.reason.empty() &&
                       (result.status != StepStatus::passed || result.kind == "decision" || m_options.verbosity > 0);
    if (show_reason) m_out << detail_indent << redactor.redact(result.reason) << "\n";
    if (result.status == StepStatus::failed || result.status == StepStatus::warned || m_options.verbosity > 0) {
      // Further failed expectations beyond the one named in the reason.
      int shown = 0;
      for (const auto& expectation : result.expectations) {
        if (expectation.passed) continue;
        if (shown++ == 0) continue;  // the first is the reason above
        m_out << detail_indent << (expectation.severity == Severity::warning ? "warning: " : "also: ")
              << (expectation.error ? "cannot check " : "expected ") << redactor.redact(expectation.expression)
              << (expectation.detail.empty() ? "" : (expectation.error ? ": " : ", got ") + redactor.redact(expectation.detail))
              << "\n";
      }
    }
    if (result.show || m_options.verbosity > 0) {
      auto lines = display_lines(result.data);
      for (const auto& line : lines) m_out << detail_indent << "│ " << redactor.redact(line) << "\n";
      // Nothing tabular to show: what the step captured is what it found.
      if (lines.empty() && result.show && m_options.verbosity == 0)
        for (auto it = result.captures.begin(); it != result.captures.end(); ++it)
          m_out << detail_indent << "│ " << it.key() << " = "
                << redactor.redact(one_line(it.value().is_string() ? it.value().get<std::string>() : dump_json(it.value()), 120))
                << "\n";
    }
    if (m_options.verbosity > 0) {
      for (const auto& note : result.notes) m_out << detail_indent << m_palette.dim << redactor.redact(note) << m_palette.reset << "\n";
      for (auto it = result.captures.begin(); it != result.captures.end(); ++it)
        m_out << detail_indent << m_palette.dim << "captured " << it.key() << " = "
              << redactor.redact(one_line(dump_json(it.value()), 100)) << m_palette.reset << "\n";
    }
  }

  // --- the live line (TTY only) ----------------------------------------------------------------

  void clear_live_line() {
    if (m_live_shown) {
      m_out << "\r\033[K";
      m_live_shown = false;
    }
  }

  void tick() {
    static const char* frames[] = {"|", "/", "-", "\\"};
    std::size_t frame = 0;
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
      m_wake.wait_for(lock, std::chrono::milliseconds(150));
      if (m_stop) break;
      if (m_running.empty()) {
        clear_live_line();
        continue;
      }
      auto oldest = m_running.begin();
      for (auto it = m_running.begin(); it != m_running.end(); ++it)
        if (it->second.started < oldest->second.started) oldest = it;
      double seconds = std::chrono::duration<double>(Clock::now() - oldest->second.started).count();
      std::string text = std::string(frames[frame++ % 4]) + " " + oldest->first;
      if (m_running.size() > 1) text += " (+" + std::to_string(m_running.size() - 1) + " running)";
      text += "  " + format_duration(seconds);
      if (!oldest->second.note.empty()) text += "  " + oldest->second.note;
      m_out << "\r\033[K  " << m_palette.dim << one_line(text, 110) << m_palette.reset << std::flush;
      m_live_shown = true;
    }
  }

  void stop_ticker() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_wake.notify_all();
    if (m_ticker.joinable()) m_ticker.join();
  }

  std::ostream& m_out;
  ReporterOptions m_options;
  Palette m_palette;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::map<std::string, Running> m_running;
  std::thread m_ticker;
  bool m_stop = false;
  bool m_live_shown = false;
  bool m_streamed = false;
};

}  // namespace

std::unique_ptr<Reporter> make_text_reporter(std::ostream& out, const ReporterOptions& options) {
  return std::make_unique<TextReporter>(out, options);
}

}  // namespace ttops
