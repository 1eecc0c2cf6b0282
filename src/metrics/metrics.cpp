// Prometheus text exposition format 0.0.4, written by hand: it is a few lines of escaping and number formatting,
// and Debian packages no C++ Prometheus client (prometheus-cpp is not in bookworm).
#include "metrics/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sw::metrics {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::fabs(v) < 9.0e15 && v == std::floor(v)) return std::to_string(static_cast<int64_t>(v));
  // The shortest of %.15g / %.16g / %.17g that reads back as the same double (0.0025, not 0.0025000000000000001).
  char buf[64];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

Text& Text::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) out_ += c == '\n' ? ' ' : c;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
  return *this;
}

Text& Text::sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
  return *this;
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {}

void Histogram::observe(const Labels& labels, double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  std::lock_guard<std::mutex> lk(mu_);
  Series& s = series_[labels];
  if (s.counts.empty()) s.counts.assign(bounds_.size() + 1, 0);
  ++s.counts[i];
  s.sum += value;
  ++s.count;
}

void Histogram::render(Text& t, std::string_view name, std::string_view help) const {
  t.family(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket", sum = std::string(name) + "_sum",
                    count = std::string(name) + "_count";
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [labels, s] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += s.counts[i];
      Labels l = labels;
      l.emplace_back("le", i < bounds_.size() ? format_value(bounds_[i]) : "+Inf");
      t.sample(bucket, l, static_cast<double>(cumulative));
    }
    t.sample(sum, labels, s.sum);
    t.sample(count, labels, static_cast<double>(s.count));
  }
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

Process& process() {
  static Process p;
  return p;
}

}  // namespace sw::metrics
