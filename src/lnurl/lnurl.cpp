// LNURL-pay and Lightning addresses (lnurl.h): targets, the payRequest, the invoice check, success actions, and
// the flow through the payment engine.
#include "lnurl/lnurl.h"

#include <algorithm>

#include "crypto/crypto.h"

namespace sw::lnurl {
namespace {

constexpr uint64_t kMaxMsat = 21'000'000ull * 100'000'000ull * 1000ull;
constexpr const char* kNothingPaid = "; nothing was paid";

Error invalid(const std::string& why) {
  return make_error("LNURL_INVALID", why + kNothingPaid + ": give a Lightning address (name@domain) or an LNURL "
                                          "(lnurl1…, lnurlp://…)");
}
Error bad_response(const std::string& who, const std::string& why) {
  return make_error("LNURL_BAD_RESPONSE", who + " answered something that is not a valid LNURL-pay response: " + why +
                                              kNothingPaid + "; the service may be misconfigured");
}

// Printable, bounded text from a service, for messages.
std::string shown(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 32 || c == 127) ? ' ' : c;
  if (s.size() > max) out += "…";
  return out;
}

bool host_allowed(const fetch::Url& u, const std::vector<std::string>& allow) {
  for (const auto& a : allow)
    if (ascii_iequals(a, u.host)) return true;
  return false;
}

// https, or plain http only for an allow-listed host (local development and tests) or a .onion (LUD-16/17).
Status check_scheme(const fetch::Url& u, const std::vector<std::string>& allow, const std::string& what) {
  if (u.scheme == "https") return ok_status();
  const bool onion = u.host.size() > 6 && u.host.compare(u.host.size() - 6, 6, ".onion") == 0;
  if (onion || host_allowed(u, allow)) return ok_status();
  return make_error("URL_FORBIDDEN", what + " is plain http (" + u.origin() + "); only https is accepted" +
                                         kNothingPaid + " (a local test service needs its host in fetch_allow)");
}

std::string with_scheme_for(const std::string& host_and_rest, const std::vector<std::string>& allow) {
  auto probe = fetch::parse_url("https://" + host_and_rest);
  if (probe) {
    const bool onion = probe->host.size() > 6 && probe->host.compare(probe->host.size() - 6, 6, ".onion") == 0;
    if (onion || host_allowed(*probe, allow)) return "http://" + host_and_rest;
  }
  return "https://" + host_and_rest;
}


Result<Target> from_url(const std::string& text, const std::vector<std::string>& allow, const std::string& kind) {
  auto u = fetch::parse_url(text);
  if (!u) return invalid("the LNURL's URL is not usable (" + u.error().message + ")");
  if (auto st = check_scheme(*u, allow, "the LNURL"); !st) return st.error();
  Target t;
  t.kind = kind;
  t.url = u->to_string();
  t.domain = u->host;
  return t;
}

}  // namespace

Result<Target> parse_target(std::string_view text, const std::vector<std::string>& allow) {
  std::string s(trim(text));
  if (s.size() > 2048) return invalid("the target is longer than 2048 characters");
  if (s.size() >= 10 && ascii_iequals(std::string_view(s).substr(0, 10), "lightning:")) s = s.substr(10);
  if (s.rfind("\xE2\x82\xBF", 0) == 0) s = s.substr(3);  // "₿name@domain" (BIP-21-style display)
  if (s.empty()) return invalid("the target is empty");
  const std::string lower = ascii_lower(s);
  if (lower.rfind("lnurl1", 0) == 0) {
    auto d = bolt11::decode_bech32_long(s);
    if (!d) return invalid("the LNURL is not valid bech32 (" + d.error().message + ")");
    if (d->first != "lnurl") return invalid("the bech32 string is not an LNURL (prefix " + d->first + ")");
    std::string url = to_string(d->second);
    if (ascii_lower(url).rfind("https://", 0) != 0 && ascii_lower(url).rfind("http://", 0) != 0)
      return invalid("the LNURL does not hold an http(s) URL");
    return from_url(url, allow, "lnurl");
  }
  if (lower.rfind("lnurlp://", 0) == 0) return from_url(with_scheme_for(s.substr(9), allow), allow, "lnurl");
  if (lower.rfind("https://", 0) == 0 || lower.rfind("http://", 0) == 0) return from_url(s, allow, "lnurl");
  const size_t at = s.find('@');
  if (at == std::string::npos || at == 0 || s.find('@', at + 1) != std::string::npos)
    return invalid("'" + shown(s, 80) + "' is neither a Lightning address nor an LNURL");
  std::string name = ascii_lower(s.substr(0, at));
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+'))
      return invalid("the address's name may only use a-z, 0-9, '-', '_', '.' and '+' (LUD-16)");
  if (name.size() > 64) return invalid("the address's name is longer than 64 characters");
  const std::string domain = ascii_lower(s.substr(at + 1));
  if (domain.find_first_of("/?#@ ") != std::string::npos || domain.empty())
    return invalid("the address's domain '" + shown(domain, 80) + "' is not a domain");
  auto t = from_url(with_scheme_for(domain + "/.well-known/lnurlp/" + name, allow), allow, "address");
  if (!t) return t.error();
  t->address = name + "@" + domain;
  return t;
}

Result<PayRequest> parse_pay_request(const std::string& body, const Target& target,
                                     const std::vector<std::string>& allow) {
  const std::string who = target.domain;
  if (json_nesting_exceeds(body, 32)) return bad_response(who, "JSON nested too deeply");
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return bad_response(who, "not a JSON object");
  if (j.contains("status") && j["status"].is_string() && ascii_iequals(j["status"].get<std::string>(), "ERROR")) {
    const std::string reason = j.contains("reason") && j["reason"].is_string() ? j["reason"].get<std::string>() : "";
    return make_error("LNURL_ERROR", who + " refused: " + (reason.empty() ? "no reason given" : shown(reason)) +
                                         kNothingPaid);
  }
  if (!j.contains("tag") || !j["tag"].is_string() || j["tag"].get<std::string>() != "payRequest")
    return make_error("LNURL_NOT_PAY",
                      who + " does not offer payments here (tag " +
                          (j.contains("tag") && j["tag"].is_string() ? shown(j["tag"].get<std::string>(), 40)
                                                                     : std::string("missing")) +
                          ", expected payRequest)" + kNothingPaid);
  PayRequest pr;
  pr.domain = target.domain;
  if (!j.contains("callback") || !j["callback"].is_string()) return bad_response(who, "no callback URL");
  auto cb = fetch::parse_url(j["callback"].get<std::string>());
  if (!cb) return bad_response(who, "the callback URL is not usable (" + cb.error().message + ")");
  if (auto st = check_scheme(*cb, allow, "the service's callback"); !st) return st.error();
  pr.callback = cb->to_string();
  auto msat = [&](const char* k) -> std::optional<uint64_t> {
    if (!j.contains(k)) return std::nullopt;
    const json& v = j[k];
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
    if (v.is_number_float() && v.get<double>() >= 0 && v.get<double>() < 1e19 &&
        v.get<double>() == static_cast<double>(static_cast<uint64_t>(v.get<double>())))
      return static_cast<uint64_t>(v.get<double>());
    return std::nullopt;
  };
  auto mn = msat("minSendable"), mx = msat("maxSendable");
  if (!mn || !mx) return bad_response(who, "minSendable/maxSendable missing or not whole numbers of msat");
  if (*mn < 1 || *mn > *mx || *mx > kMaxMsat)
    return bad_response(who, "minSendable " + std::to_string(*mn) + " / maxSendable " + std::to_string(*mx) +
                                 " msat is not a usable range");
  pr.min_msat = *mn;
  pr.max_msat = *mx;
  if (!j.contains("metadata") || !j["metadata"].is_string()) return bad_response(who, "no metadata");
  pr.metadata = j["metadata"].get<std::string>();
  if (pr.metadata.size() > kMaxMetadataBytes)
    return bad_response(who, "its metadata is " + std::to_string(pr.metadata.size()) + " bytes (at most " +
                                 std::to_string(kMaxMetadataBytes) + " accepted)");
  if (json_nesting_exceeds(pr.metadata, 8)) return bad_response(who, "its metadata is nested too deeply");
  json md = json::parse(pr.metadata, nullptr, false);
  if (!md.is_array()) return bad_response(who, "its metadata is not a JSON array");
  for (const auto& e : md) {
    if (!e.is_array() || e.size() < 2 || !e[0].is_string()) continue;
    const std::string type = e[0].get<std::string>();
    if (type == "text/plain" && e[1].is_string()) pr.description = e[1].get<std::string>();
    else if (type == "text/long-desc" && e[1].is_string()) pr.long_description = e[1].get<std::string>();
    else if ((type == "text/identifier" || type == "text/email") && e[1].is_string()) pr.identifier = e[1].get<std::string>();
    else if (type.rfind("image/", 0) == 0) pr.has_image = true;
  }
  if (pr.description.empty() && !md.empty() &&
      std::none_of(md.begin(), md.end(), [](const json& e) { return e.is_array() && !e.empty() && e[0] == "text/plain"; }))
    return bad_response(who, "its metadata has no text/plain entry (LUD-06)");
  if (j.contains("commentAllowed")) {
    auto c = msat("commentAllowed");
    if (!c) return bad_response(who, "commentAllowed is not a whole number");
    pr.comment_allowed = static_cast<uint32_t>(std::min<uint64_t>(*c, 2000));
  }
  return pr;
}

Status check_invoice(const bolt11::Invoice& inv, uint64_t amount_msat, const PayRequest& pr) {
  if (!inv.amount_msat || *inv.amount_msat != amount_msat)
    return make_error("LNURL_INVOICE_MISMATCH",
                      pr.domain + " returned an invoice for " +
                          (inv.amount_msat ? std::to_string(*inv.amount_msat) + " msat" : std::string("no amount")) +
                          ", not the " + std::to_string(amount_msat) + " msat asked for; it was not paid" +
                          " (nothing was paid): the service is misbehaving, do not retry it blindly");
  if (!inv.description_hash || !bolt11::description_hash_matches(inv, pr.metadata))
    return make_error("LNURL_INVOICE_MISMATCH",
                      pr.domain + " returned an invoice that does not commit to its own metadata (description_hash " +
                          std::string(inv.description_hash ? "differs from" : "missing, not") +
                          " SHA-256 of the metadata, LUD-06); it was not paid (nothing was paid)");
  return ok_status();
}

std::optional<SuccessAction> parse_success_action(const json& given, const std::string& preimage_hex) {
  // Some servers (the `lnurl` npm package among them) send the object as a JSON string: accepted as well.
  json sa = given;
  if (given.is_string() && given.get_ref<const std::string&>().size() <= 16384 &&
      !json_nesting_exceeds(given.get_ref<const std::string&>(), 4))
    sa = json::parse(given.get<std::string>(), nullptr, false);
  if (!sa.is_object() || !sa.contains("tag") || !sa["tag"].is_string()) return std::nullopt;
  SuccessAction a;
  a.tag = sa["tag"].get<std::string>();
  auto str = [&](const char* k) { return sa.contains(k) && sa[k].is_string() ? sa[k].get<std::string>() : std::string(); };
  if (a.tag == "message") {
    a.message = str("message");
    if (a.message.empty() || a.message.size() > 144) a.problem = "the message is empty or longer than 144 characters";
    a.message = shown(a.message, 144);
  } else if (a.tag == "url") {
    a.description = shown(str("description"), 144);
    auto u = fetch::parse_url(str("url"));
    if (!u) a.problem = "the url is not usable";
    else a.url = u->to_string();  // shown only; satwarden never fetches it
  } else if (a.tag == "aes") {
    a.description = shown(str("description"), 144);
    const std::string ct = str("ciphertext"), iv = str("iv");
    auto key = hex_decode_fixed(preimage_hex, 32);
    if (ct.empty() || ct.size() > 4096 || iv.size() != 24 || !key) {
      a.problem = "the encrypted part is malformed (LUD-10: base64 ciphertext up to 4 KB, 24-character iv)";
    } else {
      crypto::Secret32 k(key->data());
      // LUD-10 is AES-256-CBC with PKCS#7, base64 ciphertext and iv: NIP-04's cipher and framing, keyed with the
      // preimage instead of an ECDH secret.
      auto text = crypto::nip04::decrypt_with_shared(ct + "?iv=" + iv, k, 8192);
      if (!text) a.problem = "it did not decrypt with the preimage (" + text.error().message + ")";
      else a.text = shown(*text, 4096);
    }
  } else {
    a.problem = "unknown success action '" + shown(a.tag, 20) + "'";
  }
  return a;
}

Payments::Payments(pay::Payer* payer, spend::Ledger* ledger, FetchFn fetch, fetch::Options fetch_options)
    : payer_(payer), ledger_(ledger), fetch_(std::move(fetch)), fopts_(std::move(fetch_options)) {
  fopts_.redirects = fetch::RedirectPolicy::none;
  fopts_.allowed_methods = {"GET"};
  fopts_.max_body_bytes = std::min<size_t>(fopts_.max_body_bytes, 256 * 1024);
}

Result<json> Payments::get_json(const std::string& url, const std::function<bool()>& cancelled, const char* what) const {
  fetch::Request rq;
  rq.url = url;
  rq.headers = {{"Accept", "application/json"}};
  auto u = fetch::parse_url(url);
  const std::string host = u ? u->host : url;
  auto r = fetch_(rq, fopts_, cancelled ? cancelled : std::function<bool()>([] { return false; }));
  if (!r) {
    if (r.error().code == "URL_FORBIDDEN" || r.error().code == "CANCELLED") {
      Error e = r.error();
      e.message += kNothingPaid;
      return e;
    }
    return make_error("LNURL_UNREACHABLE", std::string("could not reach ") + what + " at " + host + ": " +
                                               r.error().message + kNothingPaid + "; try again later");
  }
  if (r->status >= 300 && r->status < 400)
    return bad_response(host, "a redirect (HTTP " + std::to_string(r->status) + "), which is not followed");
  if (r->truncated) return bad_response(host, "more than " + std::to_string(fopts_.max_body_bytes) + " bytes");
  if (json_nesting_exceeds(r->body, 32)) return bad_response(host, "JSON nested too deeply");
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object())
    return bad_response(host, "HTTP " + std::to_string(r->status) + " without a JSON object");
  if (r->status != 200 && !(j.contains("status") && j["status"] == "ERROR"))
    return bad_response(host, "HTTP " + std::to_string(r->status));
  return j;
}

Result<PayRequest> Payments::resolve(const Target& t, const std::function<bool()>& cancelled) const {
  auto j = get_json(t.url, cancelled, t.kind == "address" ? "the Lightning address's service" : "the LNURL's service");
  if (!j) return j.error();
  return parse_pay_request(j->dump(), t, fopts_.allow);
}

Result<Payments::Paid> Payments::pay(const PayArgs& a) const {
  if (!payer_) return make_error("WALLET_NOT_CONFIGURED", "no wallet is configured" + std::string(kNothingPaid));
  pay::PayRequest rq;
  rq.max_sats = a.max_sats;
  rq.client = a.client;
  rq.envelope = a.envelope;
  rq.domain = a.target.domain;
  rq.tool = a.tool;
  rq.protocol = "bolt11";
  rq.progress = a.progress;
  rq.cancelled = a.cancelled;
  rq.idempotency = a.idempotency;
  rq.resume = a.resume;
  rq.approval = a.approval;
  Paid out;
  if (a.resume) {
    rq.invoice = a.resume->invoice;  // a replay: the settled payment's own invoice; nothing is asked or sent
  } else if (a.approval.approval_id && ledger_) {
    // Continuing a payment that waited for the owner: the invoice it was reserved with, not a new one.
    auto ap = ledger_->get_approval(*a.approval.approval_id);
    if (!ap) return ap.error();
    auto row = ledger_->get_payment_by_id(ap->payment_id);
    if (!row) return row.error();
    if (row->client != a.client || row->domain != a.target.domain || row->amount_msat != a.amount_msat)
      return make_error("APPROVAL_MISMATCH", "approval " + ap->public_id +
                                                 " belongs to another payment (caller, domain or amount differ)" +
                                                 kNothingPaid);
    rq.invoice = row->invoice;
  } else {
    auto pr = resolve(a.target, a.cancelled);
    if (!pr) return pr.error();
    if (a.amount_msat < pr->min_msat || a.amount_msat > pr->max_msat)
      return make_error("AMOUNT_OUT_OF_RANGE",
                        a.target.domain + " accepts " + std::to_string((pr->min_msat + 999) / 1000) + " to " +
                            std::to_string(pr->max_msat / 1000) + " sats, not " +
                            std::to_string((a.amount_msat + 999) / 1000) + kNothingPaid,
                        json{{"min_sats", (pr->min_msat + 999) / 1000}, {"max_sats", pr->max_msat / 1000}});
    if (!a.comment.empty() && a.comment.size() > pr->comment_allowed)
      return make_error("COMMENT_NOT_ALLOWED",
                        pr->comment_allowed == 0
                            ? a.target.domain + " accepts no comment" + std::string(kNothingPaid) + "; pay without one"
                            : a.target.domain + " accepts comments of at most " + std::to_string(pr->comment_allowed) +
                                  " characters" + kNothingPaid);
    if (a.progress) a.progress(1, "asking " + a.target.domain + " for an invoice");
    std::string url = pr->callback + (pr->callback.find('?') == std::string::npos ? "?" : "&") +
                      "amount=" + std::to_string(a.amount_msat);
    if (!a.comment.empty()) url += "&comment=" + percent_encode(a.comment);
    auto cb = get_json(url, a.cancelled, "the payment service's callback");
    if (!cb) return cb.error();
    if (cb->contains("status") && (*cb)["status"] == "ERROR") {
      const std::string reason = cb->contains("reason") && (*cb)["reason"].is_string() ? (*cb)["reason"].get<std::string>() : "";
      return make_error("LNURL_ERROR", a.target.domain + " refused the payment: " +
                                           (reason.empty() ? std::string("no reason given") : shown(reason)) +
                                           kNothingPaid);
    }
    if (!cb->contains("pr") || !(*cb)["pr"].is_string()) return bad_response(a.target.domain, "no invoice (pr)");
    rq.invoice = (*cb)["pr"].get<std::string>();
    auto inv = bolt11::decode(rq.invoice);
    if (!inv) return make_error("LNURL_INVOICE_MISMATCH", a.target.domain + " returned an invalid invoice (" +
                                                               inv.error().message + ")" + kNothingPaid);
    if (auto st = check_invoice(*inv, a.amount_msat, *pr); !st) return st.error();
    if (rq.approval.purpose.empty())
      rq.approval.purpose = (a.target.kind == "address" ? a.target.address : a.target.domain) +
                            (pr->description.empty() ? std::string() : ": " + shown(pr->description, 120));
    out.request = *pr;
    rq.required_payment_hash = inv->payment_hash;
    auto paid = payer_->pay(rq);
    if (!paid) return paid.error();
    out.outcome = std::move(*paid);
    // Read only now: an aes action needs the preimage.
    if (cb->contains("successAction")) out.success = parse_success_action((*cb)["successAction"], out.outcome.preimage);
    return out;
  }
  auto paid = payer_->pay(rq);
  if (!paid) return paid.error();
  out.outcome = std::move(*paid);
  return out;
}

}  // namespace sw::lnurl
