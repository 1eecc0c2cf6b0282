// RFC 8785 JCS and the base64 codecs (MPP requests, credentials and receipts are base64url JSON; macaroons and
// NIP-44/NIP-04 payloads are base64). Properties: jcs_canonicalize is idempotent and its output is JSON equal to
// the input; base64url_decode_strict accepts exactly one spelling per payload (decode → encode gives the text back
// without padding) and encode → decode is the identity; the same for common::base64 and hex.
#include "challenge/challenge.h"
#include "fuzz.h"

using namespace sw;
namespace ch = sw::challenge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const Bytes raw(data, data + size);

  auto canon = ch::jcs_canonicalize(text);
  if (canon) {
    auto twice = ch::jcs_canonicalize(*canon);
    SW_FUZZ_CHECK(twice.ok());
    SW_FUZZ_CHECK(*twice == *canon);
    const json a = json::parse(text, nullptr, false);
    const json b = json::parse(*canon, nullptr, false);
    SW_FUZZ_CHECK(!b.is_discarded());
    // Numbers are rendered as ECMAScript doubles, so only number-free documents compare exactly.
    if (a.dump().find_first_of("0123456789") == std::string::npos) SW_FUZZ_CHECK(a == b);
  } else {
    SW_FUZZ_CHECK(canon.error().code == "INVALID_JSON");
  }

  if (auto dec = ch::base64url_decode_strict(text)) {
    std::string_view unpadded = text;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
    SW_FUZZ_CHECK(ch::base64url_encode(*dec) == unpadded);
  }
  const std::string enc = ch::base64url_encode(raw);
  auto back = ch::base64url_decode_strict(enc);
  SW_FUZZ_CHECK(back && *back == raw);

  for (bool url : {false, true})
    for (bool pad : {false, true}) {
      auto b64 = base64_decode(base64_encode(raw, url, pad));
      SW_FUZZ_CHECK(b64 && *b64 == raw);
    }
  if (auto any = base64_decode(text)) {
    auto again = base64_decode(base64_encode(*any));
    SW_FUZZ_CHECK(again && *again == *any);
  }
  auto hex = hex_decode(hex_encode(raw));
  SW_FUZZ_CHECK(hex && *hex == raw);
  if (auto h = hex_decode(text)) SW_FUZZ_CHECK(ascii_lower(hex_encode(*h)) == ascii_lower(text));
  return 0;
}
