#pragma once
// Run results as Prometheus series: `--metrics-file` (node_exporter's textfile collector),
// `--pushgateway` (a Pushgateway) and `-o prometheus` all write the same text.
#include <filesystem>
#include <string>
#include <vector>

#include "ttops/result.hpp"

namespace ttops {

struct MetricsOptions {
  bool fail_on_warning = false;  // --fail-on warning: a warned run or step is not a success
  std::string ca_file;           // --cacert, for an HTTPS Pushgateway
  bool insecure = false;         // --insecure
};

/// The exposition text (format 0.0.4) of `runs`: HELP and TYPE lines, then one sample per series.
/// Labels are environment, service, runbook and context, plus step for step series; never
/// parameters or values, so no secret can reach a label.
std::string prometheus_text(const std::vector<RunResult>& runs, const MetricsOptions& options);

/// Writes the series to `path` through a temporary file in the same directory and a rename, so
/// that a collector reads the old file or the new one, never half of one.
bool write_metrics_file(const std::filesystem::path& path, const std::vector<RunResult>& runs,
                        const MetricsOptions& options, std::string& error);

/// PUTs each run's series to the Pushgateway at `url` (http[s]://host:port[/prefix]) under
/// /metrics/job/ttops/environment/E/service/S/runbook/R/context/C (`context@base64/=` without
/// one): one group per runbook and context, which its next run replaces. False with `error`
/// (credentials masked) on failure; every group is tried.
bool push_metrics(const std::string& url, const std::vector<RunResult>& runs, const MetricsOptions& options,
                  std::string& error);

}  // namespace ttops
