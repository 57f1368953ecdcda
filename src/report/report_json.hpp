#pragma once
// The JSON shape of results, shared by the json reporter, the journal and the audit log.
#include <vector>

#include "ttops/json.hpp"
#include "ttops/result.hpp"

namespace ttops {

/// Version of the report document; bumped on incompatible changes (docs/report.schema.json).
constexpr int k_report_schema_version = 2;

Json to_json(const StepResult& step);
Json to_json(const RunResult& run);
/// The whole report: {"schema_version", "tool", "status", "summary", "contexts", "runs"}. Not yet redacted:
/// redact the serialised text (one pass over the output instead of a walk over every value).
Json report_document(const std::vector<RunResult>& runs);

/// The status of several runs together: the worst of them.
RunStatus overall_status(const std::vector<RunResult>& runs);

}  // namespace ttops
