#pragma once
/// Reading the Prometheus text exposition format, so expectations can name a metric:
/// metric('minting_queue_depth{state="waiting"}') > 1000.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ttops {

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// Parses exposition text; lines that do not parse are skipped (a scrape is evidence, not code).
std::vector<MetricSample> parse_prometheus_text(std::string_view text);

struct LabelMatcher {
  std::string label;
  enum class Op { equal, not_equal, regex, not_regex } op = Op::equal;
  std::string value;
};

/// `name{label="v",other!="w"}`. Throws std::invalid_argument with a readable message.
struct MetricSelector {
  std::string name;
  std::vector<LabelMatcher> matchers;

  static MetricSelector parse(std::string_view text);
  bool matches(const MetricSample& sample) const;
};

/// Samples that match, in exposition order.
std::vector<const MetricSample*> select_samples(const std::vector<MetricSample>& samples, const MetricSelector& selector);

/// The q-quantile of a classic histogram (`<name>_bucket{le=…}`), interpolated as Prometheus's
/// histogram_quantile() does; buckets of series that differ in other labels are added up.
/// NaN when there are no buckets or no observations.
double histogram_quantile(double q, const std::vector<MetricSample>& samples, const MetricSelector& selector);

}  // namespace ttops
