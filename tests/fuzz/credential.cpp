// MPP credentials (Authorization: Payment …; the server view, also used to check our own output) and receipts
// (Payment-Receipt from paid APIs): validate_credential and parse_receipt on the whole input. Round trip: a valid
// credential re-encoded with encode_mpp_credential validates again to the same challenge echo, source and payload.
#include "challenge/challenge.h"
#include "fuzz.h"

using namespace sw;
namespace ch = sw::challenge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  auto cred = ch::validate_credential(text);
  if (cred) {
    SW_FUZZ_CHECK(!cred->challenge.id.empty());
    SW_FUZZ_CHECK(cred->payload.is_object());
    const std::string again_text = ch::encode_mpp_credential(cred->challenge, cred->payload, cred->source);
    auto again = ch::validate_credential(again_text);
    SW_FUZZ_CHECK(again.ok());
    const auto& a = again->challenge;
    const auto& b = cred->challenge;
    SW_FUZZ_CHECK(a.id == b.id && a.realm == b.realm && a.method == b.method && a.intent == b.intent);
    SW_FUZZ_CHECK(a.request == b.request && a.expires == b.expires && a.digest == b.digest);
    SW_FUZZ_CHECK(a.description == b.description && a.opaque == b.opaque);
    SW_FUZZ_CHECK(again->source == cred->source);
    SW_FUZZ_CHECK(again->payload == cred->payload);
  } else {
    SW_FUZZ_CHECK(cred.error().code == "INVALID_CREDENTIAL");
  }
  auto rec = ch::parse_receipt(text);
  if (rec) {
    SW_FUZZ_CHECK(rec->raw.is_object());
    (void)json_dump(rec->raw);
  } else {
    SW_FUZZ_CHECK(rec.error().code == "INVALID_RECEIPT");
  }
  return 0;
}
