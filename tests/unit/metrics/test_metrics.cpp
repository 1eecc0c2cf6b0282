// The Prometheus text exposition writer and the histogram (src/metrics): escaping, number formatting, family
// headers, cumulative buckets with +Inf, _sum and _count, concurrent observations.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <thread>

#include "metrics/metrics.h"

using namespace sw::metrics;

TEST_CASE("metrics: label values are escaped as the text format says") {
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_label_value("a\"b") == "a\\\"b");
  CHECK(escape_label_value("back\\slash") == "back\\\\slash");
  CHECK(escape_label_value("two\nlines") == "two\\nlines");
}

TEST_CASE("metrics: values are integers without a fraction, shortest round trip otherwise, Inf/NaN spelled out") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(42) == "42");
  CHECK(format_value(-3) == "-3");
  CHECK(format_value(0.0025) == "0.0025");
  CHECK(format_value(0.1) == "0.1");
  CHECK(std::strtod(format_value(1.0 / 3).c_str(), nullptr) == 1.0 / 3);
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
  CHECK(format_value(1e300) == "1e+300");
}

TEST_CASE("metrics: a family has HELP and TYPE lines, samples carry their labels") {
  Text t;
  t.family("x_total", "counter", "what\nit counts");
  t.sample("x_total", {{"a", "1"}, {"b", "q\"x"}}, 7);
  t.sample("x_total", {}, 2.5);
  CHECK(t.str() ==
        "# HELP x_total what it counts\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"x\"} 7\nx_total 2.5\n");
}

TEST_CASE("metrics: histogram buckets are cumulative with +Inf, then _sum and _count, per label set") {
  Histogram h({0.1, 1});
  h.observe({{"tool", "a"}}, 0.05);
  h.observe({{"tool", "a"}}, 0.1);  // on a bound: counted in it (le = less or equal)
  h.observe({{"tool", "a"}}, 0.5);
  h.observe({{"tool", "a"}}, 5);
  h.observe({{"tool", "b"}}, 2);
  Text t;
  h.render(t, "d_seconds", "durations");
  CHECK(t.str() ==
        "# HELP d_seconds durations\n# TYPE d_seconds histogram\n"
        "d_seconds_bucket{tool=\"a\",le=\"0.1\"} 2\n"
        "d_seconds_bucket{tool=\"a\",le=\"1\"} 3\n"
        "d_seconds_bucket{tool=\"a\",le=\"+Inf\"} 4\n"
        "d_seconds_sum{tool=\"a\"} 5.65\n"
        "d_seconds_count{tool=\"a\"} 4\n"
        "d_seconds_bucket{tool=\"b\",le=\"0.1\"} 0\n"
        "d_seconds_bucket{tool=\"b\",le=\"1\"} 0\n"
        "d_seconds_bucket{tool=\"b\",le=\"+Inf\"} 1\n"
        "d_seconds_sum{tool=\"b\"} 2\n"
        "d_seconds_count{tool=\"b\"} 1\n");
}

TEST_CASE("metrics: concurrent observations are all counted") {
  Histogram h(latency_buckets());
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) h.observe({{"k", "v"}}, 0.003);
    });
  for (auto& t : ts) t.join();
  Text t;
  h.render(t, "c", "c");
  CHECK(t.str().find("c_count{k=\"v\"} 4000\n") != std::string::npos);
  CHECK(t.str().find("c_bucket{k=\"v\",le=\"0.0025\"} 0\n") != std::string::npos);
  CHECK(t.str().find("c_bucket{k=\"v\",le=\"0.005\"} 4000\n") != std::string::npos);
}
