// sw::price — the BTC price in the owner's currencies, for fiat caps and for showing amounts in both units.
// A Source fetches from one configured price source (an https URL template and where the price sits in its JSON,
// or a preset for a common public ticker) through the SSRF-guarded fetcher, keeps the last good price per currency,
// refreshes the ones in use on a schedule (a background thread) and never hands out a price older than max_age_s:
// a fiat cap without a fresh price refuses the payment (fail closed, in the ledger).
// Thread-safety: every method may be called from any thread; fetches happen outside the lock (concurrent callers for
// the same stale currency may fetch twice; both results are valid). stop() (or the destructor) joins the thread.
// Errors: PRICE_UNAVAILABLE (with why: the source's HTTP status, a bad body, a timeout), CONFIG_INVALID (options).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/common.h"
#include "fetch/fetch.h"
#include "spend/spend.h"

namespace sw::price {

struct Options {
  // {currency} / {CURRENCY} in url and pointer are replaced by the currency code in lower / upper case.
  std::string url;      // https (http only for hosts in fetch.allow)
  std::string pointer;  // RFC 6901 JSON pointer to the price of 1 BTC: a number or a decimal string
  int refresh_s = 300;  // background refresh of the currencies in use
  int max_age_s = 900;  // older prices are not used (fetched again on demand, else unavailable)
  fetch::Options fetch;
};

struct Preset {
  std::string name, url, pointer, about;
};
// coinbase, coingecko, bitstamp, mempool.
const std::vector<Preset>& presets();
// A preset name, or a URL (then `pointer` is required). CONFIG_INVALID naming the presets otherwise.
Result<std::pair<std::string, std::string>> resolve_source(const std::string& source, const std::string& pointer);

// The price of 1 BTC in micros of the currency from a response body. PRICE_UNAVAILABLE when the pointer does not
// lead to a positive number (or decimal string) below 10^12 units.
Result<uint64_t> parse_price(const std::string& body, const std::string& pointer);

using FetchFn = std::function<Result<fetch::Response>(const fetch::Request&, const fetch::Options&,
                                                      std::function<bool()>)>;

class Source {
 public:
  Source(Options opts, FetchFn fetch, const Clock& clock = Clock::system());
  ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // Refreshes `currencies()` every refresh_s on a background thread (the first time at once).
  void start(std::function<std::vector<std::string>()> currencies);
  void stop();

  // A price no older than max_age_s: the cached one, else fetched now (bounded by the fetch timeouts).
  Result<spend::Price> quote(const std::string& currency);
  // quote() for each; currencies without a fresh price are left out (why_unavailable tells why).
  spend::Prices quotes(const std::vector<std::string>& currencies);
  // The cached price, however old (for display next to its age), without fetching.
  std::optional<spend::Price> last(const std::string& currency) const;
  // The cached prices no older than max_age_s, keyed by lowercase currency, without fetching (display, approvals).
  spend::Prices fresh(const std::vector<std::string>& currencies) const;
  std::string why_unavailable(const std::string& currency) const;
  const Options& options() const { return opts_; }

 private:
  Result<spend::Price> fetch_now(const std::string& currency);
  Options opts_;
  FetchFn fetch_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, spend::Price> cache_;
  std::map<std::string, std::string> errors_;
  std::thread thread_;
};

}  // namespace sw::price
