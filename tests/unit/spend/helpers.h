// Shared test helpers for the spend tests: temp dirs under /tmp, an injectable clock, hash generator.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>

#include "spend/spend.h"

namespace spend_test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/sw_spend_test_XXXXXX";
    char* p = mkdtemp(tmpl.data());
    if (p) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class FakeClock final : public sw::Clock {
 public:
  explicit FakeClock(int64_t t = 1'700'000'000) : t_(t) {}
  int64_t now_unix() const override { return t_.load(); }
  void set(int64_t t) { t_.store(t); }
  void advance(int64_t s) { t_.fetch_add(s); }

 private:
  std::atomic<int64_t> t_;
};

inline std::string hash_of(uint64_t n, char prefix = 'a') {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%c%063llu", prefix, static_cast<unsigned long long>(n));
  return buf;
}

inline sw::spend::ReserveRequest req(uint64_t amount_msat, const std::string& hash, const std::string& domain = "",
                                     const std::string& protocol = "bolt11") {
  sw::spend::ReserveRequest r;
  r.client = "test";
  r.domain = domain;
  r.tool = "pay_invoice";
  r.protocol = protocol;
  r.invoice = "lnbc1test";
  r.payment_hash = hash;
  r.amount_msat = amount_msat;
  return r;
}

// No fee allowance, no per-call cap: makes window arithmetic exact in tests.
inline sw::spend::Policy bare_policy() {
  sw::spend::Policy p;
  p.global.per_call_msat.reset();
  p.fee.base_msat = 0;
  p.fee.ppm = 0;
  return p;
}

}  // namespace spend_test
