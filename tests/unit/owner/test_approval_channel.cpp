// The Nostr approval channel's pure parts: reading the owner's replies (verbs, case, quoting, punctuation, split
// codes, reasons, what is not a reply) and the messages sent to the owner (the code only in the request).
#include <catch2/catch.hpp>

#include "owner/owner.h"

using namespace sw;
using namespace sw::owner::approval_text;

TEST_CASE("owner replies: approve / deny with a code, tolerant of case, quoting and punctuation") {
  auto r = parse_owner_reply("approve K7QF2M3A");
  REQUIRE(r);
  CHECK(r->approve);
  CHECK(r->code == "K7QF2M3A");
  CHECK(r->reason.empty());

  for (const char* t : {"APPROVE k7qf2m3a", "  Approve:  k7qf2m3a  ", "`approve K7QF2M3A`", "\"approve K7QF2M3A\"",
                        "**approve** K7QF2M3A!", "approve: K7QF-2M3A", "approve K7QF 2M3A", "yes K7QF2M3A",
                        "\xE2\x80\x9C" "approve K7QF2M3A" "\xE2\x80\x9D", "approve K7QF2M3A thanks",
                        "\n\n> satwarden: approval needed\n> reply `deny X`\napprove K7QF2M3A"}) {
    INFO(t);
    auto a = parse_owner_reply(t);
    REQUIRE(a);
    CHECK(a->approve);
    CHECK(a->code == "K7QF2M3A");
  }

  auto d = parse_owner_reply("Deny k7qf2m3a  too expensive, ask me tomorrow  ");
  REQUIRE(d);
  CHECK_FALSE(d->approve);
  CHECK(d->code == "K7QF2M3A");
  CHECK(d->reason == "too expensive, ask me tomorrow");
  auto d2 = parse_owner_reply("`deny K7QF2M3A` - not this site");
  REQUIRE(d2);
  CHECK(d2->reason == "not this site");
  auto d3 = parse_owner_reply("no K7QF2M3A");
  REQUIRE(d3);
  CHECK_FALSE(d3->approve);
  CHECK(d3->reason.empty());
  // A split code is joined only up to the code's length: the reason's first word stays in the reason.
  auto d4 = parse_owner_reply("deny K7QF2M3A nope");
  REQUIRE(d4);
  CHECK(d4->code == "K7QF2M3A");
  CHECK(d4->reason == "nope");

  // Long reasons are cut at 300 bytes without splitting a UTF-8 character.
  std::string longer = "deny K7QF2M3A ";
  for (int i = 0; i < 200; ++i) longer += "\xC3\xA9";  // é
  auto d5 = parse_owner_reply(longer);
  REQUIRE(d5);
  CHECK(d5->reason.size() == 300);
  CHECK(d5->reason.substr(298) == "\xC3\xA9");
  std::string odd = "deny K7QF2M3A x";
  for (int i = 0; i < 200; ++i) odd += "\xC3\xA9";
  auto d6 = parse_owner_reply(odd);
  REQUIRE(d6);
  CHECK(d6->reason.size() == 299);
}

TEST_CASE("owner replies: what is not a decision") {
  for (const char* t : {"", "   ", "hello", "approve", "approve   !", "deny", "approved K7QF2M3A", "approveK7QF2M3A",
                        "yesterday K7QF2M3A", "please approve K7QF2M3A", "> approve K7QF2M3A", "ok K7QF2M3A"}) {
    INFO(t);
    CHECK_FALSE(parse_owner_reply(t));
  }
}

namespace {
spend::Approval sample() {
  spend::Approval a;
  a.public_id = "7F3K";
  a.client = "claude";
  a.domain = "api.example.com";
  a.tool = "access_l402_resource";
  a.amount_msat = 600000;
  a.purpose = "https://api.example.com/report";
  a.reasons = {"600 sats is above the approval threshold of 500 sats"};
  a.created_at = 1800000000;
  a.expires_at = 1800000300;
  return a;
}
}  // namespace

TEST_CASE("messages to the owner: the request carries the code and how to answer, outcomes never do") {
  spend::Approval a = sample();
  spend::ApprovalSecrets s{"K7QF2M3A", "tokA", "tokD"};
  std::string req = request_message(a, s, a.created_at);
  CHECK(req.find("id 7F3K") != std::string::npos);
  CHECK(req.find("`approve K7QF2M3A`") != std::string::npos);
  CHECK(req.find("`deny K7QF2M3A`") != std::string::npos);
  CHECK(req.find("600 sats") != std::string::npos);
  CHECK(req.find("api.example.com") != std::string::npos);
  CHECK(req.find("until ") != std::string::npos);
  CHECK(req.find(" UTC") != std::string::npos);
  CHECK(req.find("tokA") == std::string::npos);  // the webhook's tokens are not for this channel
  CHECK(req.find("tokD") == std::string::npos);
  // The owner can answer with exactly what the message suggests.
  auto quoted = parse_owner_reply("approve K7QF2M3A");
  REQUIRE(quoted);

  a.decided_by = "nostr";
  CHECK(outcome_message(a, "approved").rfind("Approved (id 7F3K, via nostr)", 0) == 0);
  a.reason = "too much";
  CHECK(outcome_message(a, "denied").find("Reason: too much") != std::string::npos);
  CHECK(outcome_message(a, "denied").find("nothing was paid") != std::string::npos);
  CHECK(outcome_message(a, "expired").rfind("Expired (id 7F3K)", 0) == 0);
  CHECK(outcome_message(a, "paid") == "Paid (id 7F3K): 600 sats to api.example.com.");
  CHECK(outcome_message(a, "failed").find("nothing was paid") != std::string::npos);
  CHECK(outcome_message(a, "used").empty());
  for (const char* w : {"approved", "denied", "expired", "paid", "failed", "unknown"})
    CHECK(outcome_message(a, w).find("K7QF2M3A") == std::string::npos);
}
