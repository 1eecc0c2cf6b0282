// The BTC price source: presets, URL templates, parsing the price out of a JSON body, the cache with its maximum
// age, and the background refresh.
#include "price/price.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

namespace sw::price {

namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string fill(std::string t, const std::string& currency) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{currency}", ascii_lower(currency)},
                                   std::pair<std::string, std::string>{"{CURRENCY}", upper(currency)}}) {
    for (size_t at = t.find(key); at != std::string::npos; at = t.find(key, at + value.size()))
      t.replace(at, key.size(), value);
  }
  return t;
}

Error unavailable(const std::string& currency, const std::string& why) {
  return make_error("PRICE_UNAVAILABLE", "no BTC price in " + upper(currency) + ": " + why,
                    json{{"currency", ascii_lower(currency)}});
}

constexpr uint64_t kMaxPriceMicros = 1'000'000'000'000ULL * 1'000'000ULL;  // 10^12 units per BTC

}  // namespace

const std::vector<Preset>& presets() {
  // Public tickers that need no key (facts from their API documentation: URL and where the price is).
  static const std::vector<Preset> p = {
      {"coinbase", "https://api.coinbase.com/v2/prices/BTC-{CURRENCY}/spot", "/data/amount",
       "Coinbase spot price (many currencies)"},
      {"coingecko", "https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies={currency}",
       "/bitcoin/{currency}", "CoinGecko simple price (many currencies; rate-limited without a key)"},
      {"bitstamp", "https://www.bitstamp.net/api/v2/ticker/btc{currency}/", "/last",
       "Bitstamp last trade (usd, eur, gbp)"},
      {"mempool", "https://mempool.space/api/v1/prices", "/{CURRENCY}",
       "mempool.space (USD, EUR, GBP, CAD, CHF, AUD, JPY)"},
  };
  return p;
}

Result<std::pair<std::string, std::string>> resolve_source(const std::string& source, const std::string& pointer) {
  for (const auto& p : presets())
    if (ascii_lower(source) == p.name) return std::pair{p.url, pointer.empty() ? p.pointer : pointer};
  std::string names;
  for (const auto& p : presets()) names += (names.empty() ? "" : ", ") + p.name;
  if (source.rfind("https://", 0) != 0 && source.rfind("http://", 0) != 0)
    return make_error("CONFIG_INVALID", "price_source must be a preset (" + names + ") or an https URL");
  if (auto u = fetch::parse_url(fill(source, "usd")); !u)
    return make_error("CONFIG_INVALID", "price_source is not a valid URL: " + u.error().message);
  if (pointer.empty() || pointer[0] != '/')
    return make_error("CONFIG_INVALID",
                      "price_path must say where the price of 1 BTC sits in the source's JSON, as a JSON pointer "
                      "such as /data/amount (it may contain {currency} or {CURRENCY})");
  return std::pair{source, pointer};
}

Result<uint64_t> parse_price(const std::string& body, const std::string& pointer) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return make_error("PRICE_UNAVAILABLE", "the price source did not answer with JSON");
  const json* v = nullptr;
  try {
    v = &j.at(json::json_pointer(pointer));
  } catch (const std::exception&) {
    return make_error("PRICE_UNAVAILABLE", "the price source's answer has nothing at " + pointer);
  }
  uint64_t micros = 0;
  if (v->is_string()) {
    // A decimal string; digits beyond the sixth decimal are dropped (a price, not an amount of money).
    std::string s = v->get<std::string>();
    if (auto dot = s.find('.'); dot != std::string::npos && s.size() > dot + 7) s.resize(dot + 7);
    auto m = spend::parse_fiat_amount(s);
    if (!m) return make_error("PRICE_UNAVAILABLE", "the price at " + pointer + " is not a plain decimal number");
    micros = *m;
  } else if (v->is_number()) {
    const double d = v->get<double>();
    if (!(d > 0) || d >= 1e12) return make_error("PRICE_UNAVAILABLE", "the price at " + pointer + " is out of range");
    micros = static_cast<uint64_t>(std::llround(d * 1e6));
  } else {
    return make_error("PRICE_UNAVAILABLE", "the value at " + pointer + " is not a number");
  }
  if (micros == 0 || micros >= kMaxPriceMicros)
    return make_error("PRICE_UNAVAILABLE", "the price at " + pointer + " is out of range");
  return micros;
}

Source::Source(Options opts, FetchFn fetch, const Clock& clock)
    : opts_(std::move(opts)), fetch_(std::move(fetch)), clock_(clock) {}

Source::~Source() { stop(); }

void Source::start(std::function<std::vector<std::string>()> currencies) {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  thread_ = std::thread([this, currencies = std::move(currencies)] {
    std::unique_lock held(mu_);
    while (!stopping_) {
      held.unlock();
      for (const auto& c : currencies()) (void)fetch_now(c);
      held.lock();
      cv_.wait_for(held, std::chrono::seconds(std::max(1, opts_.refresh_s)), [&] { return stopping_; });
    }
  });
}

void Source::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

Result<spend::Price> Source::fetch_now(const std::string& raw) {
  const std::string currency = ascii_lower(raw);
  if (!spend::is_currency_code(currency)) return unavailable(currency, "not a currency code");
  fetch::Request rq;
  rq.url = fill(opts_.url, currency);
  rq.headers.emplace_back("Accept", "application/json");
  auto cancelled = [this] {
    std::lock_guard lk(mu_);
    return stopping_;
  };
  auto r = fetch_(rq, opts_.fetch, cancelled);
  Result<uint64_t> micros = make_error("PRICE_UNAVAILABLE", "");
  std::string source;
  if (!r) {
    micros = make_error("PRICE_UNAVAILABLE", "the price source could not be reached (" + r.error().code + ")");
  } else if (r->status != 200) {
    micros = make_error("PRICE_UNAVAILABLE", "the price source answered HTTP " + std::to_string(r->status));
  } else if (r->truncated) {
    micros = make_error("PRICE_UNAVAILABLE", "the price source's answer is too large");
  } else {
    micros = parse_price(r->body, fill(opts_.pointer, currency));
  }
  if (auto u = fetch::parse_url(rq.url)) source = u->host;
  std::lock_guard lk(mu_);
  if (!micros) {
    errors_[currency] = micros.error().message;
    return unavailable(currency, micros.error().message);
  }
  spend::Price p{*micros, clock_.now_unix(), source};
  cache_[currency] = p;
  errors_.erase(currency);
  return p;
}

Result<spend::Price> Source::quote(const std::string& raw) {
  const std::string currency = ascii_lower(raw);
  {
    std::lock_guard lk(mu_);
    auto it = cache_.find(currency);
    if (it != cache_.end() && clock_.now_unix() - it->second.fetched_at <= opts_.max_age_s) return it->second;
    if (stopping_) return unavailable(currency, "shutting down");
  }
  auto p = fetch_now(currency);
  if (!p) {
    std::lock_guard lk(mu_);
    auto it = cache_.find(currency);
    std::string why = errors_.count(currency) ? errors_[currency] : p.error().message;
    if (it != cache_.end())
      why += "; the last price is " + std::to_string(clock_.now_unix() - it->second.fetched_at) +
             " s old, older than the " + std::to_string(opts_.max_age_s) + " s allowed";
    return unavailable(currency, why);
  }
  return p;
}

spend::Prices Source::quotes(const std::vector<std::string>& currencies) {
  spend::Prices out;
  for (const auto& c : currencies)
    if (auto p = quote(c)) out[ascii_lower(c)] = *p;
  return out;
}

std::optional<spend::Price> Source::last(const std::string& currency) const {
  std::lock_guard lk(mu_);
  auto it = cache_.find(ascii_lower(currency));
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

spend::Prices Source::fresh(const std::vector<std::string>& currencies) const {
  spend::Prices out;
  const int64_t now = clock_.now_unix();
  std::lock_guard lk(mu_);
  for (const auto& c : currencies) {
    const std::string key = ascii_lower(c);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.fetched_at <= opts_.max_age_s) out[key] = it->second;
  }
  return out;
}

std::string Source::why_unavailable(const std::string& currency) const {
  std::lock_guard lk(mu_);
  auto it = errors_.find(ascii_lower(currency));
  if (it != errors_.end()) return it->second;
  auto c = cache_.find(ascii_lower(currency));
  if (c != cache_.end() && clock_.now_unix() - c->second.fetched_at > opts_.max_age_s)
    return "the last price is older than " + std::to_string(opts_.max_age_s) + " s";
  return "";
}

}  // namespace sw::price
