// -o json: one document for the whole invocation, written when everything has finished.
#include <ostream>

#include "report/report_json.hpp"
#include "ttops/reporter.hpp"
#include "util/redact.hpp"

namespace ttops {

namespace {

class JsonReporter : public Reporter {
 public:
  explicit JsonReporter(std::ostream& out) : m_out(out) {}
  void report_finished(const std::vector<RunResult>& runs) override {
    m_out << process_redactor().redact(dump_json(report_document(runs), 2)) << '\n';
    m_out.flush();
  }

 private:
  std::ostream& m_out;
};

}  // namespace

std::unique_ptr<Reporter> make_json_reporter(std::ostream& out, const ReporterOptions& options) {
  (void)options;
  return std::make_unique<JsonReporter>(out);
}

}  // namespace ttops
