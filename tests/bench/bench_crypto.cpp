// Benchmark of satwarden's Nostr crypto (issue target: NIP-44 encrypt+decrypt of 1 KiB and BIP-340 sign/verify
// per second >= 10x nostr-tools in the same run). Single-threaded, wall clock, fixed inputs shared with
// tests/bench/bench_crypto.mjs (same keys, same 1024-byte plaintext, same event), so the two print the same
// CHECK lines. Driven by tests/bench/run_crypto.sh, which prints the comparison table.
// Usage: bench_crypto [--seconds S] [--warmup S] [--only OPERATION]
//   (S per operation; defaults 0.5 and 0.15, each capped at 5 s; --only times one operation, for profiling).
// Output: "CHECK <name> <value>" and "RESULT <op> <ops_per_s> <iterations> <seconds>" lines, tab-separated.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "crypto/crypto.h"
#include "nostr/nostr.h"

namespace {

using Clk = std::chrono::steady_clock;
namespace cr = sw::crypto;

// Fixed benchmark-only keys (not secrets of anything). Both are scalars in [1, n-1].
constexpr const char* kSecretA = "7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a";
constexpr const char* kSecretB = "3b8a7f1c5d2e4f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a";
constexpr int64_t kCreatedAt = 1700000000;
constexpr int kKind = 23194;  // NWC request

// Deterministic ASCII text of n bytes; bench_crypto.mjs builds the identical string.
std::string gen_text(size_t n) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = kAlphabet[(i * 7 + 3) % kAlphabet.size()];
  return s;
}

[[noreturn]] void die(const char* what, const sw::Error& e) {
  std::fprintf(stderr, "bench_crypto: %s failed: %s\n", what, e.code.c_str());
  std::exit(1);
}
[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_crypto: %s failed\n", what);
  std::exit(1);
}

double secs_since(Clk::time_point t) { return std::chrono::duration<double>(Clk::now() - t).count(); }

// Runs op() in batches until `seconds` of wall time have passed; a batch doubles only while it takes under 1/50
// of the window, so the overshoot stays small (hard cap on iterations keeps the loop bounded even if the clock
// misbehaves). Returns ops/s over the real elapsed time. op() returns false on a failed check -> abort.
// bench_crypto.mjs uses the same loop.
template <class F>
double run_for(F&& op, double seconds, uint64_t* iters_out, double* secs_out) {
  constexpr uint64_t kMaxIters = 50'000'000;
  uint64_t iters = 0, batch = 1;
  const auto t0 = Clk::now();
  double el = 0;
  while (iters < kMaxIters) {
    const double before = el;
    for (uint64_t i = 0; i < batch; ++i)
      if (!op()) die("self-check inside the timed loop");
    iters += batch;
    el = secs_since(t0);
    if (el >= seconds) break;
    if (el - before < seconds / 50 && batch < (uint64_t{1} << 20)) batch *= 2;
  }
  *iters_out = iters;
  *secs_out = el;
  return el > 0 ? double(iters) / el : 0;
}

const char* g_only = nullptr;  // --only NAME: time just that operation (profiling)

template <class F>
void bench(const char* name, F&& op, double warmup, double seconds) {
  if (g_only && std::strcmp(g_only, name) != 0) return;
  uint64_t it = 0;
  double el = 0;
  run_for(op, warmup, &it, &el);
  const double ops = run_for(op, seconds, &it, &el);
  std::printf("RESULT\t%s\t%.1f\t%llu\t%.3f\n", name, ops, static_cast<unsigned long long>(it), el);
  std::fflush(stdout);
}

double arg_seconds(const char* v) {
  const double d = std::strtod(v, nullptr);
  if (!(d > 0)) return 0.5;
  return d > 5 ? 5 : d;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5, warmup = 0.15;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = arg_seconds(argv[++i]);
    } else if (std::strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
      warmup = arg_seconds(argv[++i]);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      g_only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_crypto [--seconds S] [--warmup S] [--only OPERATION]\n");
      return 2;
    }
  }

  auto a = cr::SecretKey::from_hex(kSecretA);
  auto b = cr::SecretKey::from_hex(kSecretB);
  if (!a) die("key A", a.error());
  if (!b) die("key B", b.error());
  const cr::SecretKey& ska = *a;
  const cr::XOnlyPubKey pub_b = b->public_key();

  // --- fixed inputs and cross-checks (the run script compares these with the nostr-tools run) ---
  auto ck = cr::nip44::conversation_key(ska, pub_b);
  if (!ck) die("conversation_key", ck.error());
  const cr::Secret32 conv = *ck;
  const cr::Hash32 ck_fp = cr::sha256(conv.data(), conv.size());  // fingerprint only, never the key itself
  std::printf("CHECK\tconv_key_sha256\t%s\n", sw::hex_encode(ck_fp.data(), 8).c_str());

  const std::string plaintext = gen_text(1024);
  const cr::Hash32 msg32 = cr::sha256(std::string_view("satwarden bench message"));

  sw::nostr::Event tmpl;
  tmpl.created_at = kCreatedAt;
  tmpl.kind = kKind;
  tmpl.tags = {{"p", b->public_key_hex()}};
  tmpl.content = gen_text(400);
  sw::nostr::Event signed_ev = tmpl;
  if (auto st = sw::nostr::sign_event(signed_ev, ska); !st) die("sign_event", st.error());
  if (auto st = sw::nostr::verify_event(signed_ev); !st) die("verify_event", st.error());
  std::printf("CHECK\tevent_id\t%s\n", signed_ev.id.c_str());

  auto sig = cr::schnorr_sign(ska, msg32.data(), msg32.size());
  if (!sig) die("schnorr_sign", sig.error());
  const cr::Signature64 sig64 = *sig;
  const cr::XOnlyPubKey pub_a = ska.public_key();

  auto enc0 = cr::nip44::encrypt(plaintext, conv);
  if (!enc0) die("nip44 encrypt", enc0.error());
  std::printf("CHECK\tnip44_payload_chars\t%zu\n", enc0->size());
  std::fflush(stdout);

  // --- timed operations ---
  // Encrypt (fresh random nonce, as in production) then decrypt and compare: one "op" is the pair.
  bench("nip44_encdec_1k", [&] {
    auto enc = cr::nip44::encrypt(plaintext, conv);
    if (!enc) return false;
    auto dec = cr::nip44::decrypt(*enc, conv);
    return dec.ok() && dec->size() == plaintext.size();
  }, warmup, seconds);

  // ECDH (raw x) + HKDF-Extract.
  bench("nip44_conv_key", [&] {
    auto k = cr::nip44::conversation_key(ska, pub_b);
    return k.ok();
  }, warmup, seconds);

  // BIP-340 over a 32-byte message. Our schnorr_sign verifies every signature before returning it (so does
  // @noble/curves' schnorr.sign), and uses the x-only public key cached in SecretKey.
  bench("schnorr_sign32", [&] {
    auto s = cr::schnorr_sign(ska, msg32.data(), msg32.size());
    return s.ok();
  }, warmup, seconds);

  bench("schnorr_verify32", [&] {
    return cr::schnorr_verify(pub_a, msg32.data(), msg32.size(), sig64);
  }, warmup, seconds);

  // Full event: copy the unsigned template, serialize + id + sign (fills pubkey/id/sig).
  bench("event_sign", [&] {
    sw::nostr::Event ev = tmpl;
    return sw::nostr::sign_event(ev, ska).ok();
  }, warmup, seconds);

  // Full event verify: field checks + id recomputation + signature.
  bench("event_verify", [&] {
    return sw::nostr::verify_event(signed_ev).ok();
  }, warmup, seconds);

  return 0;
}
