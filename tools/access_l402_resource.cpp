// access_l402_resource — fetches a URL; on 402 it checks the L402/MPP challenge, pays within max_sats and the
// budget, retries with the credential and returns the resource. L402 credentials are cached per caller and origin.
#include "challenge/challenge.h"
#include "crypto/crypto.h"
#include "fetch/fetch.h"
#include "macaroon/macaroon.h"
#include "pay/pay.h"
#include "tools.h"
#include "transport/transport.h"

namespace sw::tools {
namespace {

constexpr double kSteps = 5;

bool is_texty(const std::string& ctype) {
  const std::string c = ascii_lower(ctype);
  return c.empty() || c.rfind("text/", 0) == 0 || c.find("json") != std::string::npos ||
         c.find("xml") != std::string::npos || c.find("javascript") != std::string::npos ||
         c.find("x-www-form-urlencoded") != std::string::npos;
}


json result_json(const fetch::Response& r, bool used_cached) {
  static const char* kKeep[] = {"content-type", "content-length", "location", "www-authenticate", "payment-receipt",
                                "cache-control", "retry-after", "etag", "last-modified", "content-encoding"};
  json headers = json::object();
  for (const auto& [k, v] : r.headers)
    for (auto* keep : kKeep)
      if (k == keep) headers[k] = headers.contains(k) ? headers[k].get<std::string>() + ", " + v : v;
  bool text = is_texty(r.content_type) && crypto::valid_utf8(r.body);
  return json{{"status", r.status},
              {"content_type", r.content_type},
              {"headers", headers},
              {"body", text ? r.body : base64_encode(to_bytes(r.body))},
              {"body_encoding", text ? "text" : "base64"},
              {"truncated", r.truncated},
              {"paid", false},
              {"amount_sats", 0},
              {"fee_msat", 0},
              {"protocol", nullptr},
              {"payment_hash", nullptr},
              {"preimage", nullptr},
              {"credential", nullptr},
              {"used_cached_token", used_cached},
              {"message", ""}};
}

struct Access {
  Engine& e;
  pay::TokenCache& tokens;

  // The fetcher lives in the on-demand HTTP module (keeps cpp-httplib out of servers that never fetch).
  struct Fetcher {
    Result<fetch::Response> fetch(const fetch::Request& rq, const fetch::Options& o,
                                  std::function<bool()> cancelled) const {
      auto fn = transport::load_fetch();
      if (!fn) return fn.error();
      return (*fn)(rq, o, std::move(cancelled));
    }
  } fetcher;

  fetch::Options options() const {
    fetch::Options o;
    o.allowed_methods = e.config->fetch_methods;
    o.allow = e.config->fetch_allow;
    o.max_body_bytes = e.config->fetch_max_body_bytes;
    o.redirects = e.config->fetch_redirects == "same-origin" ? fetch::RedirectPolicy::same_origin
                                                               : fetch::RedirectPolicy::none;
    return o;
  }

  mcp::ToolOutcome run(const json& args, mcp::CallContext& ctx) {
    auto progress = [&](double p, const std::string& m) {
      if (ctx.progress) ctx.progress(p, kSteps, m);
    };
    std::string url_text = args.at("url").get<std::string>();
    auto url = fetch::parse_url(url_text);
    if (!url) return mcp::ToolOutcome::failure(url.error());
    const std::string origin = url->origin();
    fetch::Request rq;
    rq.method = args.value("method", "GET");
    rq.url = url_text;
    if (args.contains("headers"))
      for (auto& [k, v] : args["headers"].items()) {
        if (ascii_iequals(k, "authorization")) continue;  // satwarden supplies the payment credential itself
        rq.headers.emplace_back(k, v.get<std::string>());
      }
    rq.body = args.value("body", "");
    auto cancelled = [&ctx] { return ctx.cancelled(); };
    const auto opts = options();

    // 1. Try, with a cached L402 credential when this caller has one for this origin. Credentials are keyed by
    // the caller (label + envelope): one paid from another token's budget is never used here.
    const Caller who = caller_of(e, ctx);
    const pay::TokenOwner owner{who.client, who.envelope, who.hosted};
    const std::string path = url->target.substr(0, url->target.find('?'));
    auto cached = tokens.get(owner, origin, path);
    fetch::Request first = rq;
    if (cached) first.headers.emplace_back("Authorization", *cached);
    progress(1, "fetching " + origin);
    auto resp = fetcher.fetch(first, opts, cancelled);
    if (!resp) return mcp::ToolOutcome::failure(resp.error());
    bool used_cached = cached.has_value();
    std::string cache_note;
    if (cached && (resp->status == 401 || resp->status == 402)) {
      used_cached = false;
      // Only a refusal of THIS credential removes it: a 401, or a 402 that offers an L402 challenge again. A 402
      // offering only MPP (another kind of resource on the same origin) says nothing about the L402 credential.
      bool l402_again = false;
      if (resp->status == 402)
        if (auto s = challenge::select_challenge(resp->header_values("www-authenticate")); s && s->l402)
          l402_again = true;
      if (resp->status == 401 || l402_again) {
        auto dropped = tokens.rejected(owner, origin, path, *cached);
        cache_note = !dropped  ? "; the cached L402 credential was refused (the token cache could not be updated: " +
                                     dropped.error().message + ")"
                     : *dropped ? "; the cached L402 credential was refused and dropped"
                                : "; the cached L402 credential does not cover this path and was kept";
      }
      if (resp->status == 401) {
        resp = fetcher.fetch(rq, opts, cancelled);
        if (!resp) return mcp::ToolOutcome::failure(resp.error());
      }
    }
    if (resp->status != 402) {
      if (used_cached && resp->status >= 200 && resp->status < 300) (void)tokens.accepted(owner, origin, path, *cached);
      json out = result_json(*resp, used_cached);
      out["message"] = used_cached ? "served with the cached L402 credential; nothing was paid"
                                   : "no payment needed" + cache_note;
      return mcp::ToolOutcome::success(out);
    }

    // 2. 402: pick a challenge.
    progress(2, "402 Payment Required: reading the challenge");
    auto sel = challenge::select_challenge(resp->header_values("www-authenticate"));
    if (!sel) {
      Error err = sel.error();
      err.message += " (HTTP 402 from " + origin + "); nothing was paid";
      return mcp::ToolOutcome::failure(err);
    }
    pay::PayRequest prq;
    prq.max_sats = args.contains("max_sats") ? args["max_sats"].get<uint64_t>() : e.config->default_max_sats;
    prq.client = ctx.client;
    prq.envelope = ctx.envelope;
    prq.domain = url->host;
    prq.tool = "access_l402_resource";
    prq.cancelled = cancelled;
    std::optional<challenge::MppChallenge> mpp;
    std::string mac;
    if (sel->l402) {
      mac = sel->l402->macaroon_b64;
      prq.protocol = "l402";
      prq.invoice = sel->l402->invoice;
      auto m = macaroon::decode(mac);
      if (!m)
        return mcp::ToolOutcome::failure(make_error("INVALID_CHALLENGE", "the L402 macaroon does not decode: " +
                                                                             m.error().message + "; nothing was paid"));
      if (auto id = macaroon::decode_l402_identifier(m->identifier); id)
        prq.required_payment_hash = hex_encode(id->payment_hash.data(), id->payment_hash.size());
    } else if (sel->mpp_lightning_charge) {
      const auto& c = *sel->mpp_lightning_charge;
      if (c.challenge.expires_unix && *c.challenge.expires_unix <= e.clock->now_unix())
        return mcp::ToolOutcome::failure(make_error("CHALLENGE_EXPIRED", "the Payment challenge has expired; nothing was paid"));
      mpp = c.challenge;
      prq.protocol = "mpp";
      prq.invoice = c.request.invoice;
      if (c.request.payment_hash) prq.required_payment_hash = *c.request.payment_hash;
      auto inv = bolt11::decode(c.request.invoice);
      if (inv && inv->network != c.request.network)
        return mcp::ToolOutcome::failure(make_error(
            "INVALID_CHALLENGE", "the Payment challenge names network " + c.request.network + " but its invoice is for " +
                                     inv->network + "; nothing was paid"));
    } else {
      return mcp::ToolOutcome::failure(make_error(
          "UNSUPPORTED_CHALLENGE", "HTTP 402 without an L402 or Lightning Payment challenge; nothing was paid"));
    }
    if (auto err = wallet_unavailable(e)) return mcp::ToolOutcome::failure(*err);

    // 3. Pay (checks, budget, wallet, preimage).
    progress(3, "paying the invoice");
    auto paid = e.payer->pay(prq);
    if (!paid) return mcp::ToolOutcome::failure(paid.error());

    // 4. Retry with the credential.
    std::string header;
    if (mpp) {
      auto h = challenge::build_mpp_authorization(*mpp, paid->preimage);
      if (!h) return mcp::ToolOutcome::failure(h.error());
      header = *h;
    } else {
      auto h = challenge::build_l402_authorization("L402", mac, paid->preimage);
      if (!h) return mcp::ToolOutcome::failure(h.error());
      header = *h;
    }
    progress(4, "paid; retrying with the credential");
    fetch::Request retry = rq;
    retry.headers.emplace_back("Authorization", header);
    auto second = fetcher.fetch(retry, opts, cancelled);
    uint64_t sats = msat_to_sat_ceil(paid->amount_msat);
    json pay_info{{"paid", true},
                  {"amount_sats", sats},
                  {"fee_msat", paid->fee_msat},
                  {"protocol", mpp ? "MPP" : "L402"},
                  {"payment_hash", paid->payment_hash},
                  {"preimage", paid->preimage}};
    if (!second) {
      Error err = second.error();
      err.message += ". The payment of " + std::to_string(sats) + " sats succeeded; " +
                     (mpp ? std::string("the MPP credential is single-use and was not accepted yet")
                          : std::string("the L402 credential is cached and will be used on the next call"));
      err.details = pay_info;
      if (!mpp) (void)tokens.put(owner, origin, path, header);
      return mcp::ToolOutcome::failure(err);
    }
    if (second->status == 402 || second->status == 401) {
      return mcp::ToolOutcome::failure(make_error(
          "STILL_PAYMENT_REQUIRED",
          "paid " + std::to_string(sats) + " sats (preimage verified) but " + origin + " still answers " +
              std::to_string(second->status) + " to the credential; not paying again",
          pay_info));
    }
    if (!mpp) (void)tokens.put(owner, origin, path, header);
    progress(5, "done");
    json out = result_json(*second, false);
    for (auto& [k, v] : pay_info.items()) out[k] = v;
    out["credential"] = mpp ? json(nullptr) : json{{"headerName", "Authorization"}, {"headerValue", header}};
    out["message"] = "paid " + std::to_string(sats) + " sats over " + (mpp ? "MPP" : "L402") + "; HTTP " +
                     std::to_string(second->status) +
                     (mpp ? std::string() : "; credential cached for " + origin + " (for this caller only)") + cache_note;
    return mcp::ToolOutcome::success(out);
  }
};

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.payer || !engine.tokens) return std::nullopt;
  auto access = std::make_shared<Access>(Access{engine, *engine.tokens, {}});
  return make_tool(
      "access_l402_resource", "Fetch a paid (L402/MPP) resource",
      "Fetch an HTTP(S) URL; if it answers 402 Payment Required with an L402 (or LSAT) or MPP Lightning challenge, "
      "check the invoice, pay it within max_sats and the budget, retry with the credential and return the "
      "response (status, selected headers, body as text or base64). L402 credentials are cached per caller (token "
      "label and budget envelope) and origin, and reused only by that caller; a credential is dropped only when the "
      "server refuses it where it was paid for or accepted (401, or 402 with a new L402 challenge). MPP "
      "credentials are single-use and never cached. Redirects are returned, not followed. Private and loopback "
      "addresses are refused.",
      paying_annotations("Fetch a paid (L402/MPP) resource"),
      [access](const json& args, mcp::CallContext& ctx) { return access->run(args, ctx); });
}

}  // namespace
SW_REGISTER_TOOL(access_l402_resource, make);
}  // namespace sw::tools
