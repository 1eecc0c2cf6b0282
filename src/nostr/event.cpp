// NIP-01 events: canonical serialization, id, signing, verification, strict JSON mapping.
#include <cstring>
#include <limits>

#include "nostr/nostr.h"

namespace sw::nostr {

namespace {

Error invalid(const char* msg) { return make_error("INVALID_EVENT", msg); }

bool lower_hex(std::string_view s, size_t chars) {
  if (s.size() != chars) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Hand-written rather than nlohmann's dump(): the id depends on every byte, so the escaping rules are spelled
// out here exactly as NIP-01 states them instead of relying on a library's defaults (and its UTF-8 handling).
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void append_tags(std::string& out, const std::vector<Tag>& tags) {
  out += '[';
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    out += '[';
    for (size_t k = 0; k < tags[i].size(); ++k) {
      if (k) out += ',';
      append_json_string(out, tags[i][k]);
    }
    out += ']';
  }
  out += ']';
}

// Range and encoding checks shared by sign and verify (fields that feed the id).
Status check_body(const Event& ev) {
  if (ev.created_at < 0) return invalid("created_at must be >= 0");
  if (ev.kind < 0 || ev.kind > 65535) return invalid("kind must be 0..65535");
  if (!crypto::valid_utf8(ev.content)) return invalid("content is not valid UTF-8");
  for (const auto& t : ev.tags)
    for (const auto& v : t)
      if (!crypto::valid_utf8(v)) return invalid("tag value is not valid UTF-8");
  return ok_status();
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

std::string serialize_for_id(const Event& ev) {
  std::string out;
  out.reserve(ev.content.size() + 160);
  out += "[0,";
  append_json_string(out, ev.pubkey);
  out += ',';
  out += std::to_string(ev.created_at);
  out += ',';
  out += std::to_string(ev.kind);
  out += ',';
  append_tags(out, ev.tags);
  out += ',';
  append_json_string(out, ev.content);
  out += ']';
  return out;
}

std::string compute_id(const Event& ev) {
  auto h = crypto::sha256(serialize_for_id(ev));
  return hex_encode(h.data(), h.size());
}

Status sign_event_with_aux(Event& ev, const crypto::SecretKey& sk, const uint8_t* aux32) {
  if (!sk.valid()) return make_error("INVALID_SECRET_KEY", "secret key is not set");
  if (auto s = check_body(ev); !s) return s;
  ev.pubkey = sk.public_key_hex();
  auto id = crypto::sha256(serialize_for_id(ev));
  auto sig = aux32 ? crypto::schnorr_sign_with_aux(sk, id.data(), id.size(), aux32)
                   : crypto::schnorr_sign(sk, id.data(), id.size());
  if (!sig) return sig.error();
  ev.id = hex_encode(id.data(), id.size());
  ev.sig = hex_encode(sig->data(), sig->size());
  return ok_status();
}

Status sign_event(Event& ev, const crypto::SecretKey& sk) { return sign_event_with_aux(ev, sk, nullptr); }

Status verify_event(const Event& ev) {
  if (!lower_hex(ev.id, 64)) return invalid("id must be 64 lowercase hex characters");
  if (!lower_hex(ev.pubkey, 64)) return invalid("pubkey must be 64 lowercase hex characters");
  if (!lower_hex(ev.sig, 128)) return invalid("sig must be 128 lowercase hex characters");
  if (auto s = check_body(ev); !s) return s;
  auto pk = crypto::parse_xonly_pubkey_hex(ev.pubkey);
  if (!pk) return invalid("pubkey is not a valid secp256k1 x-only key");
  auto id = crypto::sha256(serialize_for_id(ev));
  if (hex_encode(id.data(), id.size()) != ev.id) return make_error("EVENT_ID_MISMATCH", "event id does not match its content");
  auto sig_bytes = hex_decode(ev.sig);
  crypto::Signature64 sig;
  std::memcpy(sig.data(), sig_bytes->data(), 64);
  if (!crypto::schnorr_verify(*pk, id.data(), id.size(), sig))
    return make_error("EVENT_BAD_SIGNATURE", "event signature is invalid");
  return ok_status();
}

Result<Event> event_from_json(const json& j) {
  if (!j.is_object()) return invalid("event must be a JSON object");
  auto str_field = [&](const char* name, std::string& out) -> bool {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  Event ev;
  if (!str_field("id", ev.id) || !lower_hex(ev.id, 64)) return invalid("id must be 64 lowercase hex characters");
  if (!str_field("pubkey", ev.pubkey) || !lower_hex(ev.pubkey, 64))
    return invalid("pubkey must be 64 lowercase hex characters");
  if (!str_field("sig", ev.sig) || !lower_hex(ev.sig, 128)) return invalid("sig must be 128 lowercase hex characters");
  if (!str_field("content", ev.content)) return invalid("content must be a string");

  auto ca = j.find("created_at");
  if (ca == j.end() || !ca->is_number_integer()) return invalid("created_at must be an integer");
  if (ca->is_number_unsigned()) {
    auto u = ca->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return invalid("created_at out of range");
    ev.created_at = static_cast<int64_t>(u);
  } else {
    ev.created_at = ca->get<int64_t>();
  }
  if (ev.created_at < 0) return invalid("created_at must be >= 0");

  auto kd = j.find("kind");
  if (kd == j.end() || !kd->is_number_integer()) return invalid("kind must be an integer");
  if (kd->is_number_unsigned() ? kd->get<uint64_t>() > 65535 : (kd->get<int64_t>() < 0 || kd->get<int64_t>() > 65535))
    return invalid("kind must be 0..65535");
  ev.kind = static_cast<int>(kd->get<int64_t>());

  auto tg = j.find("tags");
  if (tg == j.end() || !tg->is_array()) return invalid("tags must be an array");
  ev.tags.reserve(tg->size());
  for (const auto& t : *tg) {
    if (!t.is_array()) return invalid("each tag must be an array of strings");
    Tag tag;
    tag.reserve(t.size());
    for (const auto& v : t) {
      if (!v.is_string()) return invalid("each tag must be an array of strings");
      tag.push_back(v.get<std::string>());
    }
    ev.tags.push_back(std::move(tag));
  }
  return ev;
}

Result<Event> parse_event(std::string_view text) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception&) {
    return invalid("event is not valid JSON");
  }
  return event_from_json(j);
}

json event_to_json(const Event& ev) {
  json tags = json::array();
  for (const auto& t : ev.tags) tags.push_back(t);
  return json{{"id", ev.id},           {"pubkey", ev.pubkey}, {"created_at", ev.created_at}, {"kind", ev.kind},
              {"tags", std::move(tags)}, {"content", ev.content}, {"sig", ev.sig}};
}

std::string serialize_event(const Event& ev) {
  std::string out;
  out.reserve(ev.content.size() + 400);
  out += "{\"id\":";
  append_json_string(out, ev.id);
  out += ",\"pubkey\":";
  append_json_string(out, ev.pubkey);
  out += ",\"created_at\":" + std::to_string(ev.created_at);
  out += ",\"kind\":" + std::to_string(ev.kind);
  out += ",\"tags\":";
  append_tags(out, ev.tags);
  out += ",\"content\":";
  append_json_string(out, ev.content);
  out += ",\"sig\":";
  append_json_string(out, ev.sig);
  out += '}';
  return out;
}

const Tag* find_tag(const Event& ev, std::string_view name) {
  for (const auto& t : ev.tags)
    if (t.size() >= 2 && t[0] == name) return &t;
  return nullptr;
}

std::optional<std::string> tag_value(const Event& ev, std::string_view name) {
  const Tag* t = find_tag(ev, name);
  if (!t) return std::nullopt;
  return (*t)[1];
}

}  // namespace sw::nostr
