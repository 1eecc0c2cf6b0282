// The owner's Nostr client as an approval channel (owner.h, "approvals over the messenger"): the request and
// outcome messages, the reply parser, and the handler that decides through the Hub.
#include <cctype>
#include <mutex>

#include "owner/owner.h"

namespace sw::owner {

namespace approval_text {

namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
bool is_alnum(unsigned char c) { return std::isalnum(c) != 0; }

// Bytes at s[i] that are noise around words: ASCII whitespace and punctuation people or clients put around a
// command (quotes, backticks, markdown emphasis, colons, dashes, brackets), the typographic quotes “ ” ‘ ’ and a
// no-break space. Returns their length, 0 when s[i] is not noise.
size_t noise_at(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (is_space(c)) return 1;
  if (std::string_view("`\"'*_~:;,.!?-()[]<>").find(static_cast<char>(c)) != std::string_view::npos) return 1;
  if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
    const unsigned char d = static_cast<unsigned char>(s[i + 2]);
    if (d == 0x9C || d == 0x9D || d == 0x98 || d == 0x99) return 3;
  }
  if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) return 2;
  return 0;
}

void skip_noise(std::string_view s, size_t& i) {
  while (i < s.size()) {
    size_t n = noise_at(s, i);
    if (!n) return;
    i += n;
  }
}

// A run of letters, digits and dashes at s[i] (dashes dropped, upper-cased).
std::string code_group(std::string_view s, size_t& i) {
  std::string out;
  while (i < s.size() && (is_alnum(static_cast<unsigned char>(s[i])) || s[i] == '-')) {
    if (s[i] != '-') out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(s[i]))));
    ++i;
  }
  return out;
}

constexpr size_t kCodeLength = 8;  // spend: "8 characters of an unambiguous alphabet"

std::string amount_text(const spend::Approval& a) {
  std::string s = std::to_string(msat_to_sat_ceil(a.amount_msat)) + " sats";
  if (a.amount_msat % 1000) s += " (" + std::to_string(a.amount_msat) + " msat)";
  return s;
}

std::string payee_text(const spend::Approval& a) {
  if (!a.domain.empty()) return a.domain;
  if (!a.payee.empty()) return "node " + a.payee.substr(0, 16) + "…";
  return "an invoice";
}

}  // namespace

std::optional<Reply> parse_owner_reply(std::string_view text) {
  // The first line that says something and is not a quote of an earlier message.
  std::string_view line;
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    pos = end + 1;
    size_t k = 0;
    while (k < l.size() && is_space(static_cast<unsigned char>(l[k]))) ++k;
    if (k == l.size()) continue;
    if (l[k] == '>') continue;
    line = l;
    break;
  }
  if (line.empty()) return std::nullopt;

  size_t i = 0;
  skip_noise(line, i);
  std::string verb;
  while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i])))
    verb.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(line[i++]))));
  if (i < line.size() && is_alnum(static_cast<unsigned char>(line[i]))) return std::nullopt;  // "approve7F", "no1"
  Reply r;
  if (verb == "approve" || verb == "yes") r.approve = true;
  else if (verb == "deny" || verb == "no") r.approve = false;
  else return std::nullopt;

  skip_noise(line, i);
  r.code = code_group(line, i);
  if (r.code.empty()) return std::nullopt;
  // A code split in groups by a phone keyboard or by hand ("K7QF 2M3A"): join while it stays within the length.
  while (r.code.size() < kCodeLength) {
    size_t j = i;
    while (j < line.size() && is_space(static_cast<unsigned char>(line[j]))) ++j;
    if (j == i || j >= line.size()) break;
    size_t k = j;
    std::string more = code_group(line, k);
    if (more.empty() || r.code.size() + more.size() > kCodeLength) break;
    r.code += more;
    i = k;
  }
  if (!r.approve) {
    skip_noise(line, i);
    std::string_view rest = line.substr(i);
    // Trailing whitespace and closing quotes/backticks/emphasis.
    while (!rest.empty()) {
      const unsigned char c = static_cast<unsigned char>(rest.back());
      if (is_space(c) || c == '`' || c == '"' || c == '*') {
        rest.remove_suffix(1);
      } else if (rest.size() >= 3 && static_cast<unsigned char>(rest[rest.size() - 3]) == 0xE2 &&
                 static_cast<unsigned char>(rest[rest.size() - 2]) == 0x80 &&
                 (static_cast<unsigned char>(rest.back()) == 0x9D || static_cast<unsigned char>(rest.back()) == 0x99)) {
        rest.remove_suffix(3);
      } else {
        break;
      }
    }
    r.reason = std::string(rest);
    if (r.reason.size() > 300) {  // at most 300 bytes, never half a UTF-8 sequence
      r.reason.resize(300);
      size_t start = r.reason.size();
      while (start > 0 && (static_cast<unsigned char>(r.reason[start - 1]) & 0xC0) == 0x80) --start;
      if (start > 0) {
        const unsigned char lead = static_cast<unsigned char>(r.reason[start - 1]);
        const size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (r.reason.size() - (start - 1) < len) r.reason.resize(start - 1);
      }
    }
  }
  return r;
}

std::string request_message(const spend::Approval& a, const spend::ApprovalSecrets& secrets, int64_t now) {
  const std::string until = approve::utc_time(a.expires_at, now);
  return "satwarden: approval needed (id " + a.public_id + ", until " + until + ")\n" + approve::describe(a) +
         ".\n\nReply `approve " + secrets.code + "` or `deny " + secrets.code +
         "` (a reason may follow the code). Nothing is paid before you approve; without an answer the request "
         "expires at " + until + ".";
}

std::string outcome_message(const spend::Approval& a, const std::string& what) {
  const std::string id = "(id " + a.public_id + ")";
  const std::string via = a.decided_by.empty() ? "" : ", via " + a.decided_by;
  if (what == "approved")
    return "Approved (id " + a.public_id + via + "): paying " + amount_text(a) + " to " + payee_text(a) + " now.";
  if (what == "denied")
    return "Denied (id " + a.public_id + via + "): nothing was paid; the budget is released." +
           (a.reason.empty() ? std::string() : " Reason: " + a.reason);
  if (what == "expired") return "Expired " + id + ": not decided in time; nothing was paid.";
  if (what == "paid") return "Paid " + id + ": " + amount_text(a) + " to " + payee_text(a) + ".";
  if (what == "failed") return "Failed " + id + ": the payment did not go through; nothing was paid.";
  if (what == "unknown")
    return "Outcome unknown " + id + ": the wallet has not confirmed " + amount_text(a) + " to " + payee_text(a) +
           " yet; satwarden keeps checking.";
  if (what == "used") return "";  // the paying call took it: "paid" / "failed" follows
  return "Approval " + a.public_id + ": " + what + ".";
}

}  // namespace approval_text

struct ApprovalChannel::Shared {
  std::mutex mu;                         // guards hub, messenger, raw
  approve::Hub* hub = nullptr;           // nullptr once stopped
  std::shared_ptr<Messenger> messenger;  // request()/outcome() hold a copy while sending
  Messenger* raw = nullptr;              // for the handler (runs on the messenger's own delivery thread)
  std::mutex decide_mu;                  // held around hub->decide; stop() takes it to wait a decision out

  // The delivery thread: one owner message at a time.
  void handle(const OwnerMessage& msg) {
    Messenger* m = nullptr;
    {
      std::lock_guard<std::mutex> g(mu);
      m = raw;
    }
    if (!m) return;  // stopping
    auto answer = [m](const std::string& text) {
      if (auto st = m->send(text); !st)
        log(LogLevel::warning, "approve", "could not answer the owner over Nostr: " + st.error().code);
    };
    auto reply = approval_text::parse_owner_reply(msg.text);
    if (!reply) {
      log(LogLevel::info, "approve", "a message from the owner is not an approval reply; answered with a hint");
      answer("satwarden understands `approve CODE` and `deny CODE [reason]`, with the code from an approval request.");
      return;
    }
    spend::ApprovalDecision d;
    d.code = reply->code;
    d.approve = reply->approve;
    d.channel = msg.channel == owner::Channel::nip04 ? "nip04" : "nostr";
    d.reason = reply->reason;
    Result<spend::Approval> r = make_error("CANCELLED", "stopping");
    {
      std::lock_guard<std::mutex> g(decide_mu);
      approve::Hub* h = nullptr;
      {
        std::lock_guard<std::mutex> g2(mu);
        h = hub;
      }
      if (!h) return;
      r = h->decide(d);
    }
    if (r) {
      // The Hub tells every channel the outcome (this one sends "Approved …" / "Denied …").
      log(LogLevel::info, "approve",
          "the owner " + std::string(reply->approve ? "approved" : "denied") + " approval " + r->public_id + " (" +
              d.channel + ")");
      return;
    }
    const Error& e = r.error();
    log(LogLevel::info, "approve", "an owner reply changed nothing: " + e.code);
    auto detail = [&](const char* k) {
      return e.details.contains(k) && e.details[k].is_string() ? e.details[k].get<std::string>() : std::string();
    };
    if (e.code == "APPROVAL_DECIDED") {
      std::string by = detail("decided_by");
      answer("Approval " + detail("approval_id") + " is already " + detail("state") + (by.empty() ? "" : " (" + by + ")") +
             "; nothing changed.");
    } else if (e.code == "APPROVAL_EXPIRED") {
      answer("Approval " + detail("approval_id") + " has expired; nothing was paid and nothing changed.");
    } else if (e.code == "APPROVAL_NOT_FOUND") {
      answer("No approval has that code; nothing changed. Use the 8-character code from the request message.");
    } else {
      answer("Your reply could not be applied (" + e.code + "); nothing changed.");
    }
  }
};

Result<std::shared_ptr<ApprovalChannel>> ApprovalChannel::start(MessengerOptions opts, approve::Hub& hub) {
  auto sh = std::make_shared<Shared>();
  sh->hub = &hub;
  std::weak_ptr<Shared> weak = sh;
  std::vector<std::string> relays = opts.relays;
  const owner::Channel mode = opts.mode;
  auto m = Messenger::start(std::move(opts), [weak](const OwnerMessage& msg) {
    if (auto s = weak.lock()) s->handle(msg);
  });
  if (!m) return m.error();
  std::shared_ptr<ApprovalChannel> ch(new ApprovalChannel());
  ch->npub_ = (*m)->notification_npub();
  ch->relays_ = std::move(relays);
  ch->mode_ = mode;
  {
    std::lock_guard<std::mutex> g(sh->mu);
    sh->raw = m->get();
    sh->messenger = std::shared_ptr<Messenger>(std::move(*m));
  }
  ch->sh_ = std::move(sh);
  return ch;
}

ApprovalChannel::~ApprovalChannel() { stop(); }

void ApprovalChannel::stop() {
  if (!sh_) return;
  std::shared_ptr<Messenger> m;
  {
    std::lock_guard<std::mutex> g(sh_->mu);
    sh_->hub = nullptr;
    sh_->raw = nullptr;
    m = std::move(sh_->messenger);
  }
  // A decision in progress finishes before the hub may go away.
  { std::lock_guard<std::mutex> g(sh_->decide_mu); }
  m.reset();  // the last owner stops the pool (after the running handler, if any, returned)
}

std::string ApprovalChannel::notification_npub() const { return npub_; }

void ApprovalChannel::request(const spend::Approval& a, const spend::ApprovalSecrets& secrets) {
  std::shared_ptr<Messenger> m;
  {
    std::lock_guard<std::mutex> g(sh_->mu);
    m = sh_->messenger;
  }
  if (!m) return;
  auto st = m->send(approval_text::request_message(a, secrets, Clock::system().now_unix()));
  if (!st)
    log(LogLevel::warning, "approve",
        "could not reach the owner over Nostr about approval " + a.public_id + ": " + st.error().message);
}

void ApprovalChannel::outcome(const spend::Approval& a, const std::string& what) {
  const std::string text = approval_text::outcome_message(a, what);
  if (text.empty()) return;
  std::shared_ptr<Messenger> m;
  {
    std::lock_guard<std::mutex> g(sh_->mu);
    m = sh_->messenger;
  }
  if (!m) return;
  if (auto st = m->send(text); !st)
    log(LogLevel::warning, "approve",
        "could not tell the owner over Nostr about approval " + a.public_id + ": " + st.error().message);
}

}  // namespace sw::owner
