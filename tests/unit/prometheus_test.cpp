#include <catch2/catch.hpp>
#include <cmath>

#include "expr/prometheus.hpp"

using namespace ttops;

TEST_CASE("exposition text is parsed, junk lines skipped", "[prometheus]") {
  auto samples = parse_prometheus_text(
      "# HELP http_requests_total total\n"
      "http_requests_total{code=\"200\",path=\"/a\\\"b\"} 1027 1395066363000\n"
      "http_requests_total{code=\"500\"} 3.5\n"
      "garbage line {{{\n"
      "up 1\n"
      "nan_metric NaN\n"
      "inf_metric +Inf\n");
  REQUIRE(samples.size() == 5);
  CHECK(samples[0].labels.at("path") == "/a\"b");
  CHECK(samples[0].value == 1027);
  CHECK(samples[1].value == 3.5);
  CHECK(std::isnan(samples[3].value));
  CHECK(std::isinf(samples[4].value));
}

TEST_CASE("selectors match names and labels", "[prometheus]") {
  auto samples = parse_prometheus_text("q{state=\"waiting\"} 5\nq{state=\"active\"} 2\nq{state=\"delayed\"} 1\n");
  CHECK(select_samples(samples, MetricSelector::parse("q")).size() == 3);
  CHECK(select_samples(samples, MetricSelector::parse("q{state=\"active\"}")).size() == 1);
  CHECK(select_samples(samples, MetricSelector::parse("q{state!=\"active\"}")).size() == 2);
  CHECK(select_samples(samples, MetricSelector::parse("q{state=~\"w.*|d.*\"}")).size() == 2);
  CHECK_THROWS_AS(MetricSelector::parse("q{state=active}"), std::invalid_argument);
  CHECK_THROWS_AS(MetricSelector::parse("q{"), std::invalid_argument);
}

TEST_CASE("histogram_quantile interpolates like Prometheus", "[prometheus]") {
  auto samples = parse_prometheus_text(
      "lat_bucket{le=\"0.1\"} 50\n"
      "lat_bucket{le=\"0.5\"} 90\n"
      "lat_bucket{le=\"1\"} 100\n"
      "lat_bucket{le=\"+Inf\"} 100\n");
  // rank 0.5*100 = 50 falls at the top of the first bucket.
  CHECK(histogram_quantile(0.5, samples, MetricSelector::parse("lat")) == Approx(0.1));
  // rank 0.95*100 = 95: halfway through (0.5, 1].
  CHECK(histogram_quantile(0.95, samples, MetricSelector::parse("lat")) == Approx(0.75));
  CHECK(std::isnan(histogram_quantile(0.5, samples, MetricSelector::parse("other"))));
}
