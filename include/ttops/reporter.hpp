#pragma once
/// The reporter extension point: one file in src/report/ and one line in src/report/registry.cpp.
/// Reporters read results; the engine calls them from one thread at a time.
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ttops/result.hpp"

namespace ttops {

struct ReporterOptions {
  bool color = false;     // ANSI colour (a TTY without NO_COLOR or --no-color)
  bool live = false;      // redraw a status line while a step waits (a TTY)
  int verbosity = 0;
  bool fail_on_warning = false;  // --fail-on warning: warnings count as failures in reports
};

/// What a run is about to do, sent before the first step.
struct RunStart {
  std::string service;
  std::string runbook;
  std::string title;
  std::string environment;
  bool dry_run = false;
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void run_started(const RunStart& run) { (void)run; }
  virtual void step_started(const Step& step, int depth) {
    (void)step;
    (void)depth;
  }
  /// A step is waiting between attempts of an `until`, or still running after a while.
  virtual void step_waiting(const Step& step, int attempt, std::string_view why) {
    (void)step;
    (void)attempt;
    (void)why;
  }
  virtual void step_finished(const StepResult& result, int depth) {
    (void)result;
    (void)depth;
  }
  virtual void run_finished(const RunResult& run) { (void)run; }
  /// Everything the invocation ran (several runbooks for `check`); called once at the end.
  virtual void report_finished(const std::vector<RunResult>& runs) { (void)runs; }
};

using ReporterFactory = std::unique_ptr<Reporter> (*)(std::ostream& out, const ReporterOptions& options);

/// A reporter by name (`text`, `json`…), or nullptr.
std::unique_ptr<Reporter> make_reporter(std::string_view name, std::ostream& out, const ReporterOptions& options);
std::vector<std::string> reporter_names();

}  // namespace ttops
