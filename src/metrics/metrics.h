// sw::metrics — Prometheus text exposition (format 0.0.4) and the process's own measurements. A leaf: no I/O.
// What: Text builds an exposition (families with # HELP / # TYPE, samples with escaped labels); Histogram is a
// thread-safe labelled histogram with fixed bucket bounds; process() holds the histograms the engine records
// into (tool-call and wallet-request durations).
// Thread-safety: Histogram::observe/render may be called from any thread; Text is single-threaded.
// Errors: none (values are doubles; label values are escaped, names are the caller's constants).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sw::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view v);
// A sample value: integers without a fraction, NaN/±Inf as the format spells them.
std::string format_value(double v);

class Text {
 public:
  // Starts a metric family: "# HELP name help" and "# TYPE name type" (counter | gauge | histogram).
  Text& family(std::string_view name, std::string_view type, std::string_view help);
  Text& sample(std::string_view name, const Labels& labels, double value);
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // ascending; +Inf is implied
  void observe(const Labels& labels, double value);
  // The whole family: _bucket (cumulative, le as the format writes it), _sum and _count per label set.
  void render(Text& t, std::string_view name, std::string_view help) const;

 private:
  struct Series {
    std::vector<uint64_t> counts;  // per bound, not cumulative; last = above every bound
    double sum = 0;
    uint64_t count = 0;
  };
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, Series> series_;
};

// Latency buckets in seconds, 1 ms … 60 s.
const std::vector<double>& latency_buckets();

struct Process {
  Histogram tool_calls{latency_buckets()};       // labels: tool, outcome (ok | error code)
  Histogram wallet_requests{latency_buckets()};  // labels: method, outcome
};
Process& process();

}  // namespace sw::metrics
