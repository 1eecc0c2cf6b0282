// Internal to sw_owner (other code includes only owner/owner.h): the pure part of receiving, exposed for unit tests.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_set>

#include "owner/owner.h"

namespace sw::owner::detail {

// A set of strings that forgets its oldest member beyond `capacity`.
class BoundedIdSet {
 public:
  explicit BoundedIdSet(size_t capacity) : cap_(capacity) {}
  bool contains(const std::string& id) const { return set_.count(id) != 0; }
  // False if it was already there.
  bool insert(const std::string& id);
  size_t size() const { return set_.size(); }

 private:
  size_t cap_;
  std::unordered_set<std::string> set_;
  std::deque<std::string> order_;
};

enum class Verdict { deliver, duplicate, not_owner, stale, invalid };
const char* verdict_name(Verdict v);

// Decides what one relay event means: opens it (kind 1059 or 4) with the notification key and keeps only new
// messages from the owner that are not older than `not_before`. Not thread-safe (the delivery thread owns it).
class Inbox {
 public:
  Inbox(crypto::SecretKey self, std::string owner_hex, int64_t not_before,
        size_t max_event_ids = kMaxRememberedEventIds, size_t max_message_ids = kMaxRememberedMessageIds);
  // On Verdict::deliver, *out is the message. `why` (may be null) gets the refusal code for Verdict::invalid.
  Verdict accept(const json& event, OwnerMessage* out, std::string* why = nullptr);

 private:
  crypto::SecretKey self_;
  std::string owner_;
  int64_t not_before_;
  BoundedIdSet events_;    // outer event ids whose id and signature held
  BoundedIdSet messages_;  // delivered message ids
};

}  // namespace sw::owner::detail
