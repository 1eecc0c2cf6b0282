// Relay → client messages (untrusted relays; NIP-01/NIP-42): relay::wire::parse_relay_message on the whole input,
// events inside EVENT messages through nostr::event_from_json + verify_event as the wallet client does; relay URLs
// (from the NWC URI) through parse_relay_url. Properties: a parsed URL rebuilt from its parts parses to the same
// parts; a REQ built with a parsed subscription id is a JSON array; an accepted message nests at most
// wire::kMaxMessageDepth levels, so its event can be copied and dumped.
#include "fuzz.h"
#include "nostr/nostr.h"
#include "relay/relay.h"

using namespace sw;
namespace wire = sw::relay::wire;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  auto msg = wire::parse_relay_message(text);
  if (msg) {
    if (msg->type == wire::MsgType::event) {
      SW_FUZZ_CHECK(msg->event.is_object());
      if (auto ev = nostr::event_from_json(msg->event)) (void)nostr::verify_event(*ev);
      // Nesting is bounded before parsing (wire::kMaxMessageDepth), so a callback may copy and re-serialize it.
      SW_FUZZ_CHECK(!json_nesting_exceeds(text, wire::kMaxMessageDepth));
      const json copy = msg->event;
      SW_FUZZ_CHECK(copy == msg->event);
      (void)json_dump(copy);
      const json req = json::parse(wire::make_req(msg->sub_id, json::array({json::object()})), nullptr, false);
      SW_FUZZ_CHECK(req.is_array() && req.size() == 3);
    }
    (void)wire::make_close(msg->sub_id);
    (void)wire::has_prefix(msg->message, "auth-required");
  } else {
    SW_FUZZ_CHECK(msg.error().code == "INVALID_RELAY_MESSAGE");
  }

  auto url = wire::parse_relay_url(text);
  if (url) {
    SW_FUZZ_CHECK(url->port >= 1 && url->port <= 65535);
    SW_FUZZ_CHECK(!url->path.empty() && url->path[0] == '/');
    const std::string rebuilt = std::string(url->tls ? "wss://" : "ws://") +
                                (url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host) +
                                ":" + std::to_string(url->port) + url->path;
    auto again = wire::parse_relay_url(rebuilt);
    SW_FUZZ_CHECK(again.ok());
    SW_FUZZ_CHECK(again->tls == url->tls && again->host == url->host && again->port == url->port &&
                  again->path == url->path);
  } else {
    SW_FUZZ_CHECK(url.error().code == "INVALID_RELAY_URL");
  }
  return 0;
}
