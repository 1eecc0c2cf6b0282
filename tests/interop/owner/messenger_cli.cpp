// sw_owner_cli — test-only driver for messenger.test.mjs (never installed): runs one sw::owner::Messenger.
//   sw_owner_cli --key-file F --owner NPUB_OR_HEX --relay URL [--relay URL…] [--mode nip17|nip04]
//                [--send-timeout-ms N] [--skew S]
// Prints {"op":"ready","pubkey":hex,"npub":…,"started_at":N} (or {"op":"error",…} and exits 1), then one JSON line
// per owner message: {"op":"message","sender","text","event_id","created_at","channel"}.
// stdin, one JSON command per line: {"op":"send","text":s} -> {"op":"sent","ok":bool,"code"?,"message"?};
// {"op":"stats"} -> {"op":"stats",…MessengerStats}. Exits when stdin closes.
#include <iostream>
#include <mutex>
#include <string>

#include "owner/owner.h"

using namespace sw;

namespace {

std::mutex out_mu;
void emit(const json& j) {
  std::lock_guard<std::mutex> g(out_mu);
  std::cout << json_dump(j) << '\n' << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  owner::MessengerOptions o;
  o.pool.tls = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--key-file") o.key_file = v;
    else if (k == "--owner") o.owner = v;
    else if (k == "--relay") o.relays.push_back(v);
    else if (k == "--mode") o.mode = owner::parse_channel(v).value_or(owner::Channel::nip17);
    else if (k == "--send-timeout-ms") o.send_timeout = std::chrono::milliseconds(std::stoll(v));
    else if (k == "--skew") o.skew_s = std::stoll(v);
    else {
      emit(json{{"op", "error"}, {"code", "BAD_ARGUMENT"}, {"message", k}});
      return 1;
    }
  }
  auto m = owner::Messenger::start(o, [](const owner::OwnerMessage& msg) {
    emit(json{{"op", "message"}, {"sender", msg.sender_pubkey}, {"text", msg.text}, {"event_id", msg.event_id},
              {"created_at", msg.created_at}, {"channel", owner::channel_name(msg.channel)}});
  });
  if (!m) {
    emit(json{{"op", "error"}, {"code", m.error().code}, {"message", m.error().message}});
    return 1;
  }
  auto& messenger = **m;
  emit(json{{"op", "ready"}, {"pubkey", messenger.notification_pubkey()}, {"npub", messenger.notification_npub()},
            {"started_at", messenger.started_at()}});
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json cmd;
    try {
      cmd = json::parse(line);
    } catch (const std::exception&) {
      emit(json{{"op", "error"}, {"code", "BAD_COMMAND"}});
      continue;
    }
    const std::string op = cmd.value("op", "");
    if (op == "send") {
      auto st = messenger.send(cmd.value("text", ""));
      json a{{"op", "sent"}, {"ok", st.ok()}};
      if (!st) {
        a["code"] = st.error().code;
        a["message"] = st.error().message;
      }
      emit(a);
    } else if (op == "stats") {
      auto s = messenger.stats();
      emit(json{{"op", "stats"}, {"events", s.events}, {"delivered", s.delivered}, {"duplicates", s.duplicates},
                {"not_owner", s.not_owner}, {"stale", s.stale}, {"invalid", s.invalid}, {"dropped", s.dropped}});
    } else {
      emit(json{{"op", "error"}, {"code", "BAD_COMMAND"}});
    }
  }
  return 0;
}
