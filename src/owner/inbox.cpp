// Receiving: which relay events become owner messages (see owner.h for the rules).
#include "nostr/nostr.h"
#include "owner/internal.h"

namespace sw::owner::detail {

bool BoundedIdSet::insert(const std::string& id) {
  if (!set_.insert(id).second) return false;
  order_.push_back(id);
  while (order_.size() > cap_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::deliver: return "deliver";
    case Verdict::duplicate: return "duplicate";
    case Verdict::not_owner: return "not_owner";
    case Verdict::stale: return "stale";
    case Verdict::invalid: return "invalid";
  }
  return "?";
}

Inbox::Inbox(crypto::SecretKey self, std::string owner_hex, int64_t not_before, size_t max_event_ids,
             size_t max_message_ids)
    : self_(std::move(self)),
      owner_(std::move(owner_hex)),
      not_before_(not_before),
      events_(max_event_ids),
      messages_(max_message_ids) {}

Verdict Inbox::accept(const json& event, OwnerMessage* out, std::string* why) {
  auto set_why = [&](const std::string& code) {
    if (why) *why = code;
  };
  auto ev = nostr::event_from_json(event);
  if (!ev) {
    set_why(ev.error().code);
    return Verdict::invalid;
  }
  if (events_.contains(ev->id)) return Verdict::duplicate;

  if (ev->kind != nostr::kKindGiftWrap && ev->kind != nostr::kKindNip04Dm) {
    set_why("DM_WRONG_KIND");
    return Verdict::invalid;
  }
  const Channel channel = ev->kind == nostr::kKindGiftWrap ? Channel::nip17 : Channel::nip04;
  auto dm = channel == Channel::nip17 ? nostr::open_gift_wrap(*ev, self_) : nostr::open_nip04_dm(*ev, self_);
  // Remembered only once its id and signature held (every outcome but DM_INVALID_EVENT): an event merely CLAIMING a
  // real wrap's id (a relay can send anything) must not make the genuine one look like a duplicate later.
  if (dm.ok() || dm.error().code != "DM_INVALID_EVENT") events_.insert(ev->id);
  if (!dm) {
    set_why(dm.error().code);
    return Verdict::invalid;
  }
  if (dm->sender_pubkey != owner_) return Verdict::not_owner;
  if (dm->created_at < not_before_) return Verdict::stale;
  if (messages_.contains(dm->id)) return Verdict::duplicate;
  messages_.insert(dm->id);
  if (out) {
    out->sender_pubkey = std::move(dm->sender_pubkey);
    out->text = std::move(dm->content);
    out->event_id = std::move(dm->id);
    out->created_at = dm->created_at;
    out->channel = channel;
  }
  return Verdict::deliver;
}

}  // namespace sw::owner::detail
