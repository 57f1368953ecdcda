// Prometheus series of finished runs: what node_exporter's textfile collector reads
// (--metrics-file), what a Pushgateway takes (--pushgateway), and `-o prometheus`. Gauges of the
// last run of each runbook in each context: success, duration, when it finished, and per step.
#include "report/prometheus_metrics.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <memory>
#include <ostream>

#include "ttops/reporter.hpp"
#include "util/redact.hpp"
#include "util/text.hpp"

namespace ttops {

namespace {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

using Labels = std::vector<std::pair<const char*, std::string>>;

std::string label_text(const Labels& labels) {
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    // Label values are names (services, steps, contexts), masked anyway: a label is never a secret.
    out += std::string(labels[i].first) + "=\"" + escape_label_value(process_redactor().redact(labels[i].second)) + "\"";
  }
  return out + "}";
}

Labels run_labels(const RunResult& run) {
  return {{"environment", run.environment}, {"service", run.service}, {"runbook", run.runbook}, {"context", run.context}};
}

struct Family {
  const char* name;
  const char* help;
  std::vector<std::string> samples;

  void add(const Labels& labels, double value) { samples.push_back(name + label_text(labels) + " " + number(value)); }
};

bool succeeded(StepStatus status, bool fail_on_warning) {
  return status == StepStatus::passed || (status == StepStatus::warned && !fail_on_warning);
}

// Steps as JUnit lists them: the steps of groups and procedures as "group/step". Decisions and
// steps that did not run have no series; a step that ran twice (a bounded loop) keeps its last run.
void collect_steps(const std::vector<StepResult>& steps, const std::string& prefix,
                   std::vector<std::pair<std::string, const StepResult*>>& out) {
  for (const auto& step : steps) {
    if (!step.children.empty()) {
      collect_steps(step.children, prefix + step.id + "/", out);
      continue;
    }
    if (step.kind == "decision" || step.status == StepStatus::skipped) continue;
    std::string name = prefix + step.id;
    auto same = std::find_if(out.begin(), out.end(), [&](const auto& entry) { return entry.first == name; });
    if (same != out.end()) {
      same->second = &step;
    } else {
      out.emplace_back(std::move(name), &step);
    }
  }
}

double finished_at(const RunResult& run) {
  std::tm tm{};
  const char* end = ::strptime(run.started_at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  double started = end != nullptr ? static_cast<double>(::timegm(&tm)) : static_cast<double>(std::time(nullptr));
  return started + run.seconds;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

std::size_t keep_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() < 4096) body->append(data, std::min(size * count, 4096 - body->size()));
  return size * count;
}

// A grouping label in the Pushgateway's URL form: plain when it can be, base64url otherwise
// (contexts such as EKS ARNs hold '/'), `@base64/=` for an empty value.
std::string group_segment(const std::string& name, const std::string& value) {
  bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
  });
  if (plain) return "/" + name + "/" + value;
  std::string encoded = base64_encode(value);
  for (char& c : encoded) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return "/" + name + "@base64/" + (encoded.empty() ? "=" : encoded);
}

bool put(const std::string& url, const std::string& body, const MetricsOptions& options, std::string& error) {
  static CurlGlobal global;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    error = "cannot start libcurl";
    return false;
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4; charset=utf-8"), &curl_slist_free_all);
  std::string answer;
  char curl_error[CURL_ERROR_SIZE] = "";
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, "PUT");  // PUT: this run's series replace the group's
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &keep_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, 15000L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  if (!options.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.insecure) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode code = curl_easy_perform(handle);
  std::string where = "PUT " + redact_url_credentials(url);
  if (code != CURLE_OK) {
    error = where + ": " + (curl_error[0] != '\0' ? std::string(curl_error) : std::string(curl_easy_strerror(code)));
    return false;
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    error = where + ": HTTP " + std::to_string(status) + (trim(answer).empty() ? "" : ": " + one_line(trim(answer), 200));
    return false;
  }
  return true;
}

// The last run of each runbook in each context (a series may appear once).
std::vector<const RunResult*> last_runs(const std::vector<RunResult>& runs) {
  std::vector<const RunResult*> out;
  for (const auto& run : runs) {
    auto same = std::find_if(out.begin(), out.end(), [&](const RunResult* other) {
      return other->environment == run.environment && other->service == run.service &&
             other->runbook == run.runbook && other->context == run.context;
    });
    if (same != out.end()) {
      *same = &run;
    } else {
      out.push_back(&run);
    }
  }
  return out;
}

class PrometheusReporter : public Reporter {
 public:
  PrometheusReporter(std::ostream& out, const ReporterOptions& options) : m_out(out) {
    m_options.fail_on_warning = options.fail_on_warning;
  }
  void report_finished(const std::vector<RunResult>& runs) override {
    m_out << prometheus_text(runs, m_options);
    m_out.flush();
  }

 private:
  std::ostream& m_out;
  MetricsOptions m_options;
};

}  // namespace

std::string prometheus_text(const std::vector<RunResult>& runs, const MetricsOptions& options) {
  Family success{"ttops_runbook_success",
                 "Whether the runbook's last run passed (1) or not (0: failed, declined, interrupted, or warned "
                 "under --fail-on warning).",
                 {}};
  Family duration{"ttops_runbook_duration_seconds", "How long the runbook's last run took.", {}};
  Family finished{"ttops_last_run_timestamp_seconds", "When the runbook's last run finished, in Unix time.", {}};
  Family step_success{"ttops_step_success",
                      "Whether the step passed (1) or not (0) in the runbook's last run; steps that did not run "
                      "have no series.",
                      {}};
  Family step_duration{"ttops_step_duration_seconds", "How long the step took in the runbook's last run.", {}};
  for (const RunResult* run : last_runs(runs)) {
    Labels labels = run_labels(*run);
    bool passed = run->status == RunStatus::passed || (run->status == RunStatus::warned && !options.fail_on_warning);
    success.add(labels, passed ? 1 : 0);
    duration.add(labels, run->seconds);
    finished.add(labels, finished_at(*run));
    std::vector<std::pair<std::string, const StepResult*>> steps;
    collect_steps(run->steps, "", steps);
    for (const auto& [name, step] : steps) {
      Labels with_step = labels;
      with_step.emplace_back("step", name);
      step_success.add(with_step, succeeded(step->status, options.fail_on_warning) ? 1 : 0);
      step_duration.add(with_step, step->seconds);
    }
  }
  std::string out;
  for (const Family* family : {&success, &duration, &finished, &step_success, &step_duration}) {
    if (family->samples.empty()) continue;
    out += "# HELP " + std::string(family->name) + " " + family->help + "\n";
    out += "# TYPE " + std::string(family->name) + " gauge\n";
    for (const auto& sample : family->samples) out += sample + "\n";
  }
  return out;
}

bool write_metrics_file(const std::filesystem::path& path, const std::vector<RunResult>& runs,
                        const MetricsOptions& options, std::string& error) {
  std::string text = prometheus_text(runs, options);
  // Beside the file, so that the rename stays in one filesystem; not *.prom, so that the
  // collector never reads it.
  std::filesystem::path temporary = path;
  temporary += "." + std::to_string(::getpid()) + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot create " + temporary.string() + ": " + std::strerror(errno);
    return false;
  }
  std::size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot write " + temporary.string() + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    error = "cannot write " + temporary.string() + ": " + std::strerror(errno);
    ::unlink(temporary.c_str());
    return false;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    error = "cannot replace " + path.string() + ": " + std::strerror(errno);
    ::unlink(temporary.c_str());
    return false;
  }
  return true;
}

bool push_metrics(const std::string& url, const std::vector<RunResult>& runs, const MetricsOptions& options,
                  std::string& error) {
  process_redactor().add_url_credentials(url);
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::vector<std::string> failures;
  for (const RunResult* run : last_runs(runs)) {
    std::string group = base + "/metrics/job/ttops";
    for (const auto& [name, value] : run_labels(*run)) group += group_segment(name, process_redactor().redact(value));
    std::string why;
    if (!put(group, prometheus_text({*run}, options), options, why)) failures.push_back(why);
  }
  if (failures.empty()) return true;
  error = failures.front();
  if (failures.size() > 1) error += " (and " + std::to_string(failures.size() - 1) + " more groups)";
  return false;
}

std::unique_ptr<Reporter> make_prometheus_reporter(std::ostream& out, const ReporterOptions& options) {
  return std::make_unique<PrometheusReporter>(out, options);
}

}  // namespace ttops
