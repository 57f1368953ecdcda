// libFuzzer target: the Prometheus text parser, selectors and histogram_quantile.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "expr/prometheus.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto samples = ttops::parse_prometheus_text(text);
  // Use the first line as a selector too, so selector parsing sees the same inputs.
  std::string first_line = text.substr(0, text.find('\n'));
  try {
    auto selector = ttops::MetricSelector::parse(first_line.size() > 256 ? first_line.substr(0, 256) : first_line);
    (void)ttops::select_samples(samples, selector);
    (void)ttops::histogram_quantile(0.99, samples, selector);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
