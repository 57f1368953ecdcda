#include "expr/prometheus.hpp"

#include "util/regex.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ttops {

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

void skip_spaces(std::string_view text, std::size_t& i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
}

bool parse_double(std::string_view text, double& out) {
  if (text == "+Inf" || text == "Inf") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Inf") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "NaN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text.empty()) return false;
  std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end != nullptr && *end == '\0';
}

// Parses `{a="x",b="y"}` starting at text[i] == '{'. Returns false on malformed input.
bool parse_labels(std::string_view text, std::size_t& i, std::map<std::string, std::string>& labels,
                  std::vector<LabelMatcher>* matchers) {
  ++i;  // '{'
  while (true) {
    skip_spaces(text, i);
    if (i < text.size() && text[i] == '}') {
      ++i;
      return true;
    }
    std::size_t start = i;
    while (i < text.size() && is_name_char(text[i])) ++i;
    if (start == i) return false;
    std::string label(text.substr(start, i - start));
    skip_spaces(text, i);
    LabelMatcher::Op op = LabelMatcher::Op::equal;
    if (text.substr(i, 2) == "!=") {
      op = LabelMatcher::Op::not_equal;
      i += 2;
    } else if (text.substr(i, 2) == "=~") {
      op = LabelMatcher::Op::regex;
      i += 2;
    } else if (text.substr(i, 2) == "!~") {
      op = LabelMatcher::Op::not_regex;
      i += 2;
    } else if (i < text.size() && text[i] == '=') {
      ++i;
    } else {
      return false;
    }
    if (op != LabelMatcher::Op::equal && matchers == nullptr) return false;
    skip_spaces(text, i);
    if (i >= text.size() || text[i] != '"') return false;
    ++i;
    std::string value;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\' && i + 1 < text.size()) {
        ++i;
        value += text[i] == 'n' ? '\n' : text[i];
      } else {
        value += text[i];
      }
      ++i;
    }
    if (i >= text.size()) return false;
    ++i;  // closing quote
    if (matchers != nullptr) {
      matchers->push_back(LabelMatcher{label, op, value});
    } else {
      labels[label] = value;
    }
    skip_spaces(text, i);
    if (i < text.size() && text[i] == ',') ++i;
  }
}

}  // namespace

std::vector<MetricSample> parse_prometheus_text(std::string_view text) {
  std::vector<MetricSample> samples;
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    std::size_t i = 0;
    skip_spaces(line, i);
    if (i >= line.size() || line[i] == '#' || !is_name_start(line[i])) continue;
    MetricSample sample;
    std::size_t start = i;
    while (i < line.size() && is_name_char(line[i])) ++i;
    sample.name = std::string(line.substr(start, i - start));
    if (i < line.size() && line[i] == '{') {
      if (!parse_labels(line, i, sample.labels, nullptr)) continue;
    }
    skip_spaces(line, i);
    std::size_t value_start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (!parse_double(line.substr(value_start, i - value_start), sample.value)) continue;
    samples.push_back(std::move(sample));
  }
  return samples;
}

MetricSelector MetricSelector::parse(std::string_view text) {
  MetricSelector selector;
  std::size_t i = 0;
  skip_spaces(text, i);
  std::size_t start = i;
  while (i < text.size() && is_name_char(text[i])) ++i;
  selector.name = std::string(text.substr(start, i - start));
  skip_spaces(text, i);
  if (i < text.size() && text[i] == '{') {
    std::map<std::string, std::string> unused;
    if (!parse_labels(text, i, unused, &selector.matchers))
      throw std::invalid_argument("malformed metric selector '" + std::string(text) +
                                  "' (expected name{label=\"value\",…})");
  }
  skip_spaces(text, i);
  if (i != text.size() || (selector.name.empty() && selector.matchers.empty()))
    throw std::invalid_argument("malformed metric selector '" + std::string(text) + "'");
  for (const auto& matcher : selector.matchers) {
    if (matcher.op == LabelMatcher::Op::regex || matcher.op == LabelMatcher::Op::not_regex)
      (void)cached_regex(matcher.value);  // throws std::invalid_argument for a bad pattern
  }
  return selector;
}

bool MetricSelector::matches(const MetricSample& sample) const {
  if (!name.empty() && sample.name != name) return false;
  for (const auto& matcher : matchers) {
    auto it = sample.labels.find(matcher.label);
    const std::string& value = it == sample.labels.end() ? std::string() : it->second;
    switch (matcher.op) {
      case LabelMatcher::Op::equal:
        if (value != matcher.value) return false;
        break;
      case LabelMatcher::Op::not_equal:
        if (value == matcher.value) return false;
        break;
      // Prometheus anchors label regexes: they must match the whole value.
      case LabelMatcher::Op::regex:
        if (!cached_regex(matcher.value).full_match(value)) return false;
        break;
      case LabelMatcher::Op::not_regex:
        if (cached_regex(matcher.value).full_match(value)) return false;
        break;
    }
  }
  return true;
}

std::vector<const MetricSample*> select_samples(const std::vector<MetricSample>& samples,
                                                const MetricSelector& selector) {
  std::vector<const MetricSample*> out;
  for (const auto& sample : samples)
    if (selector.matches(sample)) out.push_back(&sample);
  return out;
}

double histogram_quantile(double q, const std::vector<MetricSample>& samples, const MetricSelector& selector) {
  MetricSelector buckets = selector;
  buckets.name = selector.name + "_bucket";
  std::map<double, double> counts;  // upper bound -> cumulative count, summed over series
  for (const auto* sample : select_samples(samples, buckets)) {
    auto le = sample->labels.find("le");
    double bound = 0;
    if (le == sample->labels.end() || !parse_double(le->second, bound)) continue;
    counts[bound] += sample->value;
  }
  if (counts.empty() || !std::isinf(counts.rbegin()->first)) return std::numeric_limits<double>::quiet_NaN();
  double total = counts.rbegin()->second;
  if (total <= 0) return std::numeric_limits<double>::quiet_NaN();
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  double rank = q * total;
  double lower_bound = 0;
  double lower_count = 0;
  for (auto it = counts.begin(); it != counts.end(); ++it) {
    if (it->second >= rank) {
      if (std::isinf(it->first)) {
        // Prometheus answers the highest finite bound when the rank falls in the +Inf bucket.
        return it == counts.begin() ? 0 : std::prev(it)->first;
      }
      double in_bucket = it->second - lower_count;
      if (in_bucket <= 0) return it->first;
      return lower_bound + (it->first - lower_bound) * ((rank - lower_count) / in_bucket);
    }
    lower_bound = it->first;
    lower_count = it->second;
  }
  return counts.rbegin()->first;
}

}  // namespace ttops
