// JUnit XML, the format Jenkins, GitLab and GitHub test reporters read: a <testsuite> per runbook
// run (per runbook and context with --context a,b: "venue/health@a"), a <testcase> per step (steps
// of groups and procedures flattened as "group/step"), failures with their reason, durations in
// seconds.
#include <unistd.h>

#include <algorithm>
#include <ostream>
#include <sstream>

#include "ttops/reporter.hpp"
#include "util/redact.hpp"

namespace ttops {

namespace {

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
          out += '?';
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string seconds(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  return buffer;
}

struct Case {
  std::string name;
  const StepResult* step;
};

void flatten(const std::vector<StepResult>& steps, const std::string& prefix, std::vector<Case>& out) {
  for (const auto& step : steps) {
    if (step.kind == "decision") {
      out.push_back(Case{prefix + step.id, &step});
      continue;
    }
    if (!step.children.empty()) {
      flatten(step.children, prefix + step.id + "/", out);
      continue;
    }
    out.push_back(Case{prefix + step.id, &step});
  }
}

class JunitReporter : public Reporter {
 public:
  JunitReporter(std::ostream& out, const ReporterOptions& options) : m_out(out), m_options(options) {}

  void report_finished(const std::vector<RunResult>& runs) override {
    const Redactor& redactor = process_redactor();
    std::ostringstream suites;
    int total_tests = 0;
    int total_failures = 0;
    int total_errors = 0;
    int total_skipped = 0;
    double total_time = 0;
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    bool several_contexts = std::any_of(runs.begin(), runs.end(), [&](const RunResult& run) {
      return run.context != runs.front().context;
    });
    for (const auto& run : runs) {
      // CI tools key test cases by class and name: each context gets its own.
      std::string context = several_contexts ? "@" + run.context : std::string();
      std::vector<Case> cases;
      flatten(run.steps, "", cases);
      int failures = 0;
      int errors = 0;
      int skipped = 0;
      std::ostringstream body;
      for (const auto& c : cases) {
        const StepResult& step = *c.step;
        body << "    <testcase classname=\"" << xml_escape(run.service + "." + run.runbook + context) << "\" name=\""
             << xml_escape(c.name + (step.title != step.id && !step.title.empty() ? ": " + step.title : ""))
             << "\" time=\"" << seconds(step.seconds) << "\"";
        std::string detail = step.command.empty() ? std::string() : "command: " + step.command + "\n";
        for (const auto& e : step.expectations)
          detail += std::string(e.passed ? "ok    " : "FAIL  ") + e.expression + (e.detail.empty() ? "" : "  (" + e.detail + ")") + "\n";
        bool warning_fails = m_options.fail_on_warning && step.status == StepStatus::warned;
        if ((step.status == StepStatus::failed && !step.handled) || warning_fails) {
          ++failures;
          body << ">\n      <failure message=\"" << xml_escape(redactor.redact(step.reason)) << "\" type=\""
               << (warning_fails ? "warning" : "failure") << "\">" << xml_escape(redactor.redact(detail))
               << "</failure>\n    </testcase>\n";
        } else if (step.status == StepStatus::interrupted) {
          ++errors;
          body << ">\n      <error message=\"" << xml_escape(redactor.redact(step.reason)) << "\" type=\"interrupted\"/>\n"
               << "    </testcase>\n";
        } else if (step.status == StepStatus::declined) {
          ++failures;
          body << ">\n      <failure message=\"" << xml_escape(redactor.redact(step.reason)) << "\" type=\"declined\"/>\n"
               << "    </testcase>\n";
        } else if (step.status == StepStatus::skipped) {
          ++skipped;
          body << ">\n      <skipped message=\"" << xml_escape(redactor.redact(step.reason)) << "\"/>\n    </testcase>\n";
        } else {
          std::string out_text = step.status == StepStatus::warned ? step.reason + "\n" + detail
                                 : step.handled ? "failure handled by the runbook: " + step.reason + "\n" + detail
                                 : step.kind == "decision" ? step.reason + "\n"
                                                           : detail;
          if (out_text.empty()) {
            body << "/>\n";
          } else {
            body << ">\n      <system-out>" << xml_escape(redactor.redact(out_text)) << "</system-out>\n    </testcase>\n";
          }
        }
      }
      suites << "  <testsuite name=\"" << xml_escape(run.service + "/" + run.runbook + context) << "\" tests=\"" << cases.size()
             << "\" failures=\"" << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\""
             << seconds(run.seconds) << "\" timestamp=\"" << xml_escape(run.started_at) << "\" hostname=\""
             << xml_escape(host) << "\">\n"
             << "    <properties>\n"
             << "      <property name=\"environment\" value=\"" << xml_escape(run.environment) << "\"/>\n"
             << (several_contexts ? "      <property name=\"context\" value=\"" + xml_escape(run.context) + "\"/>\n" : "")
             << "      <property name=\"run_id\" value=\"" << xml_escape(run.run_id) << "\"/>\n"
             << "      <property name=\"status\" value=\"" << to_string(run.status) << "\"/>\n"
             << "      <property name=\"dry_run\" value=\"" << (run.dry_run ? "true" : "false") << "\"/>\n"
             << "    </properties>\n"
             << body.str() << "  </testsuite>\n";
      total_tests += static_cast<int>(cases.size());
      total_failures += failures;
      total_errors += errors;
      total_skipped += skipped;
      total_time += run.seconds;
    }
    m_out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          << "<testsuites name=\"ttops\" tests=\"" << total_tests << "\" failures=\"" << total_failures
          << "\" errors=\"" << total_errors << "\" skipped=\"" << total_skipped << "\" time=\"" << seconds(total_time)
          << "\">\n"
          << suites.str() << "</testsuites>\n";
    m_out.flush();
  }

 private:
  std::ostream& m_out;
  ReporterOptions m_options;
};

}  // namespace

std::unique_ptr<Reporter> make_junit_reporter(std::ostream& out, const ReporterOptions& options) {
  return std::make_unique<JunitReporter>(out, options);
}

}  // namespace ttops
