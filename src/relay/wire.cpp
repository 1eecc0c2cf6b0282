// Pure parts of the relay pool: relay URLs, NIP-01 relay messages, the reconnect backoff and PublishResult.
// URL parsing is hand-written because lws_parse_uri() edits its input in place, accepts what NIP-01 relays never
// use (userinfo, other schemes) and gives no error detail.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "relay/relay.h"

namespace sw::relay {

const char* relay_state_name(RelayState s) {
  switch (s) {
    case RelayState::connecting: return "connecting";
    case RelayState::connected: return "connected";
    case RelayState::backoff: return "backoff";
    case RelayState::closed: return "closed";
  }
  return "closed";
}

size_t PublishResult::accepted_count() const {
  return static_cast<size_t>(std::count_if(relays.begin(), relays.end(), [](const RelayPublish& r) { return r.accepted; }));
}

Status PublishResult::status() const {
  if (accepted_count() > 0) return ok_status();
  json details = json::array();
  std::string names;
  bool any_sent = false, any_rejected = false, all_full = !relays.empty();
  std::string common_code;  // set when every relay failed for the same pool-level reason
  for (const auto& r : relays) {
    details.push_back(json{{"url", r.url}, {"code", r.code}, {"message", r.message}, {"sent", r.sent}});
    names += (names.empty() ? "" : ", ") + r.url + " (" + (r.code.empty() ? "no answer" : r.code) +
             (r.message.empty() ? "" : ": " + r.message) + ")";
    any_sent = any_sent || r.sent;
    any_rejected = any_rejected || r.code == "RELAY_REJECTED";
    all_full = all_full && r.code == "RELAY_QUEUE_FULL";
    if (&r == &relays.front()) common_code = r.code;
    else if (common_code != r.code) common_code.clear();
  }
  json d{{"relays", details}, {"event_id", event_id}};
  if (relays.empty()) return make_error("RELAY_UNREACHABLE", "no relay is configured", d);
  if (common_code == "INVALID_ARGUMENT" || common_code == "POOL_CLOSED" || common_code == "POOL_MISUSE")
    return make_error(common_code, relays.front().message, d);
  if (any_rejected) return make_error("RELAY_REJECTED", "every relay refused the event: " + names, d);
  if (all_full) return make_error("RELAY_QUEUE_FULL", "every relay's outbound queue is full: " + names, d);
  if (any_sent) return make_error("RELAY_TIMEOUT", "no relay confirmed the event in time: " + names, d);
  return make_error("RELAY_UNREACHABLE", "could not reach any relay: " + names, d);
}

namespace wire {

namespace {

Error bad_url(std::string_view url, const std::string& why) {
  std::string shown(url.substr(0, 200));
  return make_error("INVALID_RELAY_URL", "invalid relay URL \"" + shown + "\": " + why);
}

}  // namespace

Result<RelayUrl> parse_relay_url(std::string_view url) {
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return bad_url(url, "contains a space, control or non-ASCII character");
  }
  RelayUrl out;
  std::string scheme_l = ascii_lower(url.substr(0, std::min<size_t>(url.size(), 6)));
  std::string_view rest;
  if (scheme_l.rfind("wss://", 0) == 0) {
    out.tls = true;
    rest = url.substr(6);
  } else if (scheme_l.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else {
    return bad_url(url, "the scheme must be ws:// or wss://");
  }
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (authority.empty()) return bad_url(url, "no host");
  if (authority.find('@') != std::string_view::npos) return bad_url(url, "user info is not allowed");

  std::string_view host, port;
  bool v6 = false;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad_url(url, "unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad_url(url, "garbage after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return bad_url(url, "empty port");
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        }))
      return bad_url(url, "bad IPv6 address");
    v6 = true;
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad_url(url, "empty port");
    }
    if (host.empty()) return bad_url(url, "no host");
    if (!std::all_of(host.begin(), host.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
        }))
      return bad_url(url, "bad host name");
  }
  out.port = out.tls ? 443 : 80;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad_url(url, "bad port");
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return bad_url(url, "port out of range");
    out.port = p;
  }
  out.host = ascii_lower(host);
  std::string bracketed = v6 ? "[" + out.host + "]" : out.host;
  out.host_header = (out.port == (out.tls ? 443 : 80)) ? bracketed : bracketed + ":" + std::to_string(out.port);
  out.path = tail.empty() ? "/" : (tail.front() == '?' ? "/" + std::string(tail) : std::string(tail));
  return out;
}

Result<RelayMessage> parse_relay_message(std::string_view text) {
  auto bad = [](const std::string& why) { return make_error("INVALID_RELAY_MESSAGE", why); };
  if (json_nesting_exceeds(text, kMaxMessageDepth))
    return bad("nests JSON deeper than " + std::to_string(kMaxMessageDepth) + " levels");
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return bad("not JSON");
  if (!j.is_array() || j.empty() || !j[0].is_string()) return bad("not an array starting with a type string");
  const std::string& type = j[0].get_ref<const std::string&>();
  RelayMessage m;
  auto str_at = [&](size_t i) { return j.size() > i && j[i].is_string(); };
  if (type == "EVENT") {
    if (!str_at(1) || j.size() < 3 || !j[2].is_object()) return bad("EVENT needs a subscription id and an object");
    m.type = MsgType::event;
    m.sub_id = j[1].get<std::string>();
    m.event = std::move(j[2]);
  } else if (type == "OK") {
    if (!str_at(1) || j.size() < 3 || !j[2].is_boolean()) return bad("OK needs an event id and a boolean");
    m.type = MsgType::ok;
    m.event_id = j[1].get<std::string>();
    m.ok = j[2].get<bool>();
    // The message is mandatory per NIP-01 but some relays omit it or send null.
    if (str_at(3)) m.message = j[3].get<std::string>();
  } else if (type == "EOSE") {
    if (!str_at(1)) return bad("EOSE needs a subscription id");
    m.type = MsgType::eose;
    m.sub_id = j[1].get<std::string>();
  } else if (type == "CLOSED") {
    if (!str_at(1)) return bad("CLOSED needs a subscription id");
    m.type = MsgType::closed;
    m.sub_id = j[1].get<std::string>();
    if (str_at(2)) m.message = j[2].get<std::string>();
  } else if (type == "NOTICE") {
    if (!str_at(1)) return bad("NOTICE needs a message");
    m.type = MsgType::notice;
    m.message = j[1].get<std::string>();
  } else if (type == "AUTH") {
    if (!str_at(1)) return bad("AUTH needs a challenge string");
    m.type = MsgType::auth;
    m.message = j[1].get<std::string>();
  } else {
    return bad("unknown message type");
  }
  return m;
}

std::string make_req(const std::string& sub_id, const json& filters) {
  json req = json::array({"REQ", sub_id});
  if (filters.is_array()) {
    for (const auto& f : filters) req.push_back(f);
  } else {
    req.push_back(filters);
  }
  return json_dump(req);
}

std::string make_close(const std::string& sub_id) { return json_dump(json::array({"CLOSE", sub_id})); }
std::string make_event(const json& event) { return json_dump(json::array({"EVENT", event})); }
std::string make_auth(const json& event) { return json_dump(json::array({"AUTH", event})); }

bool has_prefix(std::string_view message, std::string_view prefix) {
  return message.size() > prefix.size() && message.substr(0, prefix.size()) == prefix &&
         message[prefix.size()] == ':';
}

std::chrono::milliseconds backoff_delay(uint32_t failures, std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, double jitter01) {
  if (min.count() < 1) min = std::chrono::milliseconds(1);
  if (max < min) max = min;
  uint32_t exp = failures == 0 ? 0 : std::min<uint32_t>(failures - 1, 30);
  double base = std::min(static_cast<double>(min.count()) * std::ldexp(1.0, static_cast<int>(exp)),
                         static_cast<double>(max.count()));
  double j = std::isfinite(jitter01) ? std::clamp(jitter01, 0.0, 1.0) : 0.5;
  double d = base * (0.8 + 0.4 * j);
  d = std::clamp(d, static_cast<double>(min.count()), static_cast<double>(max.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(d));
}

}  // namespace wire
}  // namespace sw::relay
