// Start-up of the BTC price source (see prices.h).
#include "app/prices.h"

#include <algorithm>
#include <set>

#include "transport/transport.h"

namespace sw::app {

Result<std::shared_ptr<price::Source>> start_prices(const config::Config& cfg, spend::Ledger& ledger,
                                                    pay::Payer& payer) {
  if (cfg.price_source.empty()) {
    const auto fiat = ledger.fiat_currencies();
    if (!fiat.empty())
      return make_error("CONFIG_INVALID", "a cap in " + fiat.front() +
                                              " (policy or envelope) needs a BTC price: set price_source "
                                              "(SATWARDEN_PRICE_SOURCE), e.g. coinbase");
    return std::shared_ptr<price::Source>();
  }
  auto src = price::resolve_source(cfg.price_source, cfg.price_path);
  if (!src) return src.error();
  price::Options o;
  o.url = src->first;
  o.pointer = src->second;
  o.refresh_s = cfg.price_refresh_seconds;
  o.max_age_s = cfg.price_max_age_seconds;
  o.fetch.allowed_methods = {"GET"};
  o.fetch.allow = cfg.fetch_allow;  // the same SSRF guard and allow-list as every outbound fetch
  o.fetch.max_body_bytes = 64 * 1024;
  o.fetch.total_timeout = std::chrono::milliseconds(10000);
  auto fetcher = [](const fetch::Request& rq, const fetch::Options& opts,
                    std::function<bool()> cancelled) -> Result<fetch::Response> {
    auto fn = transport::load_fetch();  // the on-demand HTTP module, like the paywall's fetcher
    if (!fn) return fn.error();
    return (*fn)(rq, opts, std::move(cancelled));
  };
  auto source = std::make_shared<price::Source>(o, fetcher);
  const std::vector<std::string> display = cfg.price_currencies;
  spend::Ledger* l = &ledger;
  auto currencies = [l, display] {
    std::set<std::string> all(display.begin(), display.end());
    for (const auto& c : l->fiat_currencies()) all.insert(c);
    return std::vector<std::string>(all.begin(), all.end());
  };
  // The feed shares ownership: a tool call still running at shutdown cannot outlive the Source it is asking.
  std::shared_ptr<price::Source> s = source;
  pay::Payer::PriceFeed feed;
  feed.quotes = [s](const std::vector<std::string>& cs) { return s->quotes(cs); };
  feed.cached = [s](const std::vector<std::string>& cs) { return s->fresh(cs); };
  feed.why = [s](const std::string& c) { return s->why_unavailable(c); };
  feed.display = display;
  payer.set_prices(std::move(feed));
  source->start(currencies);
  // Only the preset's name or the source's host: a custom URL may carry an API key in its query.
  std::string shown = cfg.price_source;
  if (auto u = fetch::parse_url(src->first); u && shown.find("://") != std::string::npos) shown = u->host;
  log(LogLevel::info, "price", "BTC prices from " + shown + " (refresh every " +
                                   std::to_string(o.refresh_s) + " s, used up to " + std::to_string(o.max_age_s) +
                                   " s old)");
  return source;
}

}  // namespace sw::app
