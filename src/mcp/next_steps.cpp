// next_step: what an agent can do after each error (every tool error carries it as error.next_step, through
// Server::set_error_advice, which the app sets to it): {action, text[, retry_after_s, retry_at][, approval_id]}
// where action is one of
//   retry          the same call may succeed now or after retry_after_s (nothing was paid)
//   retry_later    a later call may succeed (a budget window frees, a service or the wallet recovers)
//   fix_arguments  the call itself is wrong; change what `text` says
//   ask_owner      only the owner can change this (a setting, a decision); `text` says which
//   check_payment  a payment's outcome is not known: look it up (lookup_payment), never pay again
//   stop           retrying will not help (already done, refused for good)
// Every error code the server can produce has an entry (tests/unit/mcp/test_next_steps.cpp scans src/ and
// tools/ for codes); an unknown code gets a generic step.
#include <algorithm>
#include <map>
#include <string>

#include "mcp/mcp.h"

namespace sw::mcp {
namespace {

struct Step {
  const char* action;
  const char* text;
};

const std::map<std::string, Step>& steps() {
  static const std::map<std::string, Step> m{
      // Budget, policy, approvals.
      {"BUDGET_EXCEEDED", {"retry_later", "wait until the budget window frees (retry_at), ask for less, or ask the owner to raise the cap"}},
      {"AMOUNT_EXCEEDS_MAX", {"fix_arguments", "raise max_sats if you are willing to pay that much, or find a cheaper invoice"}},
      {"DOMAIN_NOT_ALLOWED", {"ask_owner", "the owner's allow/deny lists refuse this domain (allow_domains / deny_domains); pay somewhere else or ask the owner"}},
      {"PROTOCOL_NOT_ALLOWED", {"ask_owner", "the owner's policy does not allow this payment protocol (protocols); ask the owner"}},
      {"ENVELOPE_EXPIRED", {"ask_owner", "this token's budget envelope has expired; ask the owner for a new one"}},
      {"ENVELOPE_UNKNOWN", {"ask_owner", "this token names a budget envelope the server does not know; ask the operator"}},
      {"POLICY_LOOSEN_REFUSED", {"ask_owner", "limits can only be lowered at run time; the owner raises them in the configuration"}},
      {"POLICY_INVALID", {"fix_arguments", "fix the policy value named in the message"}},
      {"POLICY_AUTHORITY", {"ask_owner", "only the owner changes this policy; a token may lower only its own envelope"}},
      {"APPROVAL_REQUIRED", {"ask_owner", "the owner must approve this payment (satwarden approvals approve ID, the console, or their channel); then call again with the same arguments or approval_id"}},
      {"APPROVAL_DENIED", {"stop", "the owner said no; do not retry this payment"}},
      {"APPROVAL_TIMEOUT", {"ask_owner", "nobody decided in time; call again to ask the owner anew if it is still needed"}},
      {"APPROVAL_EXPIRED", {"ask_owner", "the approval expired; call again to ask the owner anew"}},
      {"APPROVAL_DECIDED", {"stop", "this approval was already decided; see list_approvals"}},
      {"APPROVAL_USED", {"stop", "this approval was already used for its payment; see lookup_payment"}},
      {"APPROVAL_MISMATCH", {"fix_arguments", "approval_id belongs to another payment; call without it, or with the id this payment was given"}},
      {"APPROVAL_NOT_FOUND", {"fix_arguments", "no such approval; check the id with list_approvals"}},
      {"APPROVAL_UNAVAILABLE", {"ask_owner", "this payment needs the owner's approval but no approval channel is running; ask the operator"}},
      {"APPROVAL_NONCE_INVALID", {"stop", "open the approval card again (or decide in the console or the terminal)"}},
      {"APPROVAL_FORBIDDEN", {"ask_owner", "only the owner decides approvals; ask them to use the console or the terminal"}},
      // Invoices and challenges.
      {"INVALID_INVOICE", {"fix_arguments", "pass a complete BOLT11 invoice (lnbc…/lntb…/lnbcrt…), as issued"}},
      {"INVOICE_NO_AMOUNT", {"fix_arguments", "ask the payee for an invoice that states its amount"}},
      {"INVOICE_EXPIRED", {"retry", "ask the payee for a new invoice (a paywall issues one with its next 402) and pay that"}},
      {"NETWORK_MISMATCH", {"fix_arguments", "the invoice is for another Lightning network than the wallet's; get one for the wallet's network"}},
      {"ALREADY_PAID", {"stop", "this invoice was already paid; use that payment (lookup_payment) instead of paying again"}},
      {"MACAROON_NOT_BOUND", {"stop", "the macaroon does not belong to this invoice; the paywall's challenge is inconsistent — do not pay it"}},
      {"MACAROON_UNBOUND", {"ask_owner", "the macaroon's binding cannot be read; the owner may allow such paywalls (l402_unbound)"}},
      {"INVALID_MACAROON", {"fix_arguments", "pass the macaroon exactly as the WWW-Authenticate challenge gave it"}},
      {"INVALID_CHALLENGE", {"fix_arguments", "pass the WWW-Authenticate header value exactly as received"}},
      {"UNSUPPORTED_CHALLENGE", {"stop", "this paywall asks for a payment method satwarden does not support"}},
      {"NO_CHALLENGE", {"stop", "the server did not ask for a Lightning payment; nothing to pay"}},
      {"MACAROON_EXPIRED", {"retry", "the credential expired; request the resource again for a fresh challenge"}},
      {"CHALLENGE_EXPIRED", {"retry", "request the resource again for a fresh challenge"}},
      {"INVALID_CREDENTIAL", {"retry", "the stored credential is unusable; call again to buy a fresh one"}},
      {"CREDENTIAL_NOT_USABLE", {"retry", "call again; satwarden buys a fresh credential if the policy allows"}},
      {"INVALID_RECEIPT", {"check_payment", "the paywall's receipt was malformed; the payment itself is in lookup_payment"}},
      {"STILL_PAYMENT_REQUIRED", {"check_payment", "the paywall refused the paid credential; check lookup_payment and contact the API provider — do not pay again"}},
      {"PURCHASE_EXISTS", {"retry_later", "the same purchase is being paid by another call; wait for it and call again"}},
      {"PURCHASE_NOT_FOUND", {"fix_arguments", "no such purchase; see list_payments"}},
      // Payments in flight and their outcome.
      {"PAYMENT_OUTCOME_UNKNOWN", {"check_payment", "the wallet did not say whether it paid; check lookup_payment later — never pay again; satwarden reconciles it"}},
      {"PAYMENT_PENDING", {"check_payment", "the payment is still pending with the wallet; check lookup_payment later"}},
      {"PAYMENT_IN_PROGRESS", {"retry_later", "another call is paying this right now; wait for it and check lookup_payment"}},
      {"PAYMENT_STATE_UNKNOWN", {"check_payment", "check lookup_payment; never pay again"}},
      {"PAYMENT_FAILED", {"retry_later", "the wallet could not route it (nothing was paid); retry later or with another invoice"}},
      // The owner's set-up commands (satwarden connect / doctor); not tool errors, but worded the same way.
      {"CONNECTION_EXISTS", {"ask_owner", "a wallet connection is already saved; the owner may replace it with satwarden connect --force"}},
      {"QR_FAILED", {"ask_owner", "the QR code could not be drawn; open the printed link in the wallet instead"}},
      {"SECRET_FILE_INSECURE", {"ask_owner", "the saved secret file is readable by others or not the owner's; the owner should fix its permissions (chmod 600) or connect again"}},
      {"SECRET_FILE_UNUSABLE", {"ask_owner", "the saved connection cannot be read; the owner should run satwarden connect --force"}},
      {"WALLETAUTH_IGNORED", {"retry_later", "an answer that was not the wallet's approval of this request was ignored; keep waiting"}},
      {"PRICE_UNAVAILABLE", {"retry_later", "a budget cap is in a currency and satwarden has no fresh BTC price right now; nothing was paid — retry in a few minutes, or tell the owner that the price source is failing"}},
      {"PAYMENT_NOT_FOUND", {"fix_arguments", "no payment with that hash or id in satwarden's ledger"}},
      {"NOT_FOUND", {"fix_arguments", "nothing with that identifier here; check it"}},
      {"NOT_FOUND_AFTER_EXPIRATION", {"check_payment", "the wallet has no record after the request expired; satwarden keeps the budget held until it knows"}},
      {"WALLET_INVALID_PREIMAGE", {"check_payment", "the wallet's proof did not match; satwarden reconciles it — check lookup_payment, never pay again"}},
      {"REPLAY_MISMATCH", {"fix_arguments", "this idempotency key was used for another payment; use a new key"}},
      {"IDEMPOTENCY_KEY_REUSED", {"fix_arguments", "use a new idempotency_key for a different request"}},
      {"IDEMPOTENCY_KEY_IN_USE", {"retry_later", "the first call with this key is still running; wait and call again with the same key"}},
      {"IDEMPOTENT_REPLAY_WOULD_PAY", {"check_payment", "the first call's payment did not complete; check lookup_payment before anything else"}},
      {"ILLEGAL_TRANSITION", {"check_payment", "the payment's state already changed; check lookup_payment"}},
      // Wallet.
      {"WALLET_NOT_CONFIGURED", {"ask_owner", "no wallet is connected; the owner sets NWC_URL"}},
      {"WALLET_TIMEOUT", {"check_payment", "the wallet did not answer in time; for a payment, check lookup_payment before anything else"}},
      {"WALLET_NOT_IMPLEMENTED", {"stop", "the wallet does not support this method"}},
      {"WALLET_RATE_LIMITED", {"retry_later", "the wallet is rate limiting; retry in a minute"}},
      {"WALLET_QUOTA_EXCEEDED", {"ask_owner", "the wallet's own budget for this connection is used up; the owner raises it in the wallet"}},
      {"WALLET_RESTRICTED", {"ask_owner", "the wallet does not allow this connection to do that; the owner changes its permissions in the wallet"}},
      {"WALLET_UNAUTHORIZED", {"ask_owner", "the wallet does not know this connection; the owner creates a new one"}},
      {"WALLET_UNSUPPORTED_ENCRYPTION", {"ask_owner", "the wallet and satwarden share no encryption; the owner updates the wallet"}},
      {"WALLET_INTERNAL", {"check_payment", "the wallet failed; for a payment, check lookup_payment before anything else"}},
      {"WALLET_OTHER", {"check_payment", "the wallet reported a problem; for a payment, check lookup_payment"}},
      {"INSUFFICIENT_BALANCE", {"ask_owner", "the wallet's balance is too low; the owner tops it up"}},
      {"INVALID_WALLET_RESPONSE", {"check_payment", "the wallet's answer was malformed; for a payment, check lookup_payment"}},
      {"INVALID_NWC_URL", {"ask_owner", "the owner's NWC_URL is not a valid connection string; they paste it again from the wallet"}},
      {"NWC_CLIENT_ERROR", {"retry_later", "the connection to the wallet failed before sending; retry later"}},
      {"LOOKUP_FAILED", {"retry_later", "the wallet could not be asked; retry later"}},
      // Relays and Nostr.
      {"RELAY_UNREACHABLE", {"retry_later", "no relay of the wallet connection is reachable; retry later or ask the owner to check the relays"}},
      {"RELAY_TIMEOUT", {"retry_later", "the relay did not answer in time; retry later"}},
      {"RELAY_REJECTED", {"retry_later", "the relay refused the request; retry later or ask the owner to use another relay"}},
      {"RELAY_QUEUE_FULL", {"retry", "too much is being sent right now; retry in a few seconds"}},
      {"POOL_CLOSED", {"retry_later", "the server is shutting down; retry on another instance or later"}},
      {"INVALID_RELAY_URL", {"ask_owner", "a relay URL in the configuration is invalid"}},
      {"INVALID_RELAY_MESSAGE", {"retry_later", "a relay sent a malformed message; retry later"}},
      {"INVALID_EVENT", {"retry_later", "a malformed Nostr event was received; retry later"}},
      {"EVENT_BAD_SIGNATURE", {"retry_later", "an event with a bad signature was ignored; retry later"}},
      {"EVENT_ID_MISMATCH", {"retry_later", "an event with a wrong id was ignored; retry later"}},
      {"INVALID_PUBLIC_KEY", {"fix_arguments", "the public key or node id is not valid"}},
      {"INVALID_SECRET_KEY", {"ask_owner", "a configured secret key is invalid"}},
      {"SIGN_FAILED", {"retry", "signing failed; retry"}},
      {"DM_RANDOM_FAILED", {"retry", "retry"}},
      {"INVALID_BECH32", {"fix_arguments", "the bech32 text is not valid; copy it again"}},
      // Paid APIs, LNURL and the network.
      {"URL_FORBIDDEN", {"ask_owner", "this address is refused by the SSRF guard (private, loopback or plain http); for a host they trust the owner adds it to SATWARDEN_FETCH_ALLOW (fetch_allow)"}},
      {"URL_INVALID", {"fix_arguments", "pass an absolute http(s) URL"}},
      {"UNSUPPORTED_SCHEME", {"fix_arguments", "only http and https URLs are fetched"}},
      {"METHOD_NOT_ALLOWED", {"ask_owner", "this HTTP method is not allowed (fetch_methods)"}},
      {"HEADER_INVALID", {"fix_arguments", "remove or fix the header named in the message"}},
      {"DNS_FAILED", {"retry_later", "the host name did not resolve; check it or retry later"}},
      {"UNREACHABLE", {"retry_later", "the server did not accept the connection; retry later"}},
      {"TLS_FAILED", {"stop", "the server's TLS certificate or handshake failed; do not send payments there"}},
      {"TLS_DISABLED", {"ask_owner", "TLS is not available in this build"}},
      {"TIMEOUT", {"retry_later", "the server did not answer in time; retry later"}},
      {"FETCH_FAILED", {"retry_later", "the request failed; retry later"}},
      {"BAD_RESPONSE", {"retry_later", "the server's answer was malformed or too large; retry later or contact its operator"}},
      {"LNURL_INVALID", {"fix_arguments", "give a Lightning address (name@domain) or an LNURL (lnurl1…, lnurlp://…)"}},
      {"LNURL_UNREACHABLE", {"retry_later", "the recipient's service did not answer; retry later"}},
      {"LNURL_BAD_RESPONSE", {"stop", "the recipient's service is misconfigured; pay another way or tell the recipient"}},
      {"LNURL_ERROR", {"stop", "the recipient's service refused (its reason is in the message)"}},
      {"LNURL_NOT_PAY", {"stop", "this LNURL is not for payments"}},
      {"LNURL_INVOICE_MISMATCH", {"stop", "the service's invoice did not match what was asked; do not pay it — tell the recipient"}},
      {"AMOUNT_OUT_OF_RANGE", {"fix_arguments", "choose an amount between min_sats and max_sats (details), or see resolve_lightning_address"}},
      {"COMMENT_NOT_ALLOWED", {"fix_arguments", "shorten the comment or leave it out (resolve_lightning_address says how long it may be)"}},
      // Arguments and protocol.
      {"INVALID_ARGUMENTS", {"fix_arguments", "fix the argument named in details.field (details.expected says the type)"}},
      {"INVALID_ARGUMENT", {"fix_arguments", "fix the argument named in the message"}},
      {"INVALID_CURSOR", {"fix_arguments", "start again without cursor"}},
      {"INVALID_JSON", {"fix_arguments", "send valid JSON"}},
      {"JSON_INVALID", {"fix_arguments", "send valid JSON"}},
      {"JSON_TOO_DEEP", {"fix_arguments", "send less deeply nested JSON"}},
      {"INVALID_REQUEST_STATE", {"retry", "call again without requestState"}},
      {"UNKNOWN_TOOL", {"fix_arguments", "call a tool that tools/list names"}},
      {"SCHEMA_INVALID", {"ask_owner", "a tool schema failed to load; report it to the operator"}},
      {"ELICITATION_FAILED", {"ask_owner", "the question could not be shown; the owner can decide in the console or the terminal"}},
      {"ELICITATION_INVALID", {"ask_owner", "the question could not be asked here; the owner decides elsewhere"}},
      {"ELICITATION_TIMEOUT", {"ask_owner", "nobody answered in time; the owner can still decide in the console or the terminal"}},
      {"ELICITATION_UNSUPPORTED", {"ask_owner", "this client cannot ask; the owner decides in the console or the terminal"}},
      {"WITHDRAWN", {"retry", "the question was answered elsewhere; call again to continue"}},
      {"CANCELLED", {"retry", "the call was cancelled before anything was paid; call again if still wanted"}},
      {"RATE_LIMITED", {"retry", "too many calls from this client; retry after retry_after_s"}},
      {"RESOURCE_EXHAUSTED", {"retry_later", "the server is busy; retry in a few seconds"}},
      {"UNAVAILABLE", {"retry_later", "not available right now; retry later"}},
      {"INTERNAL", {"retry_later", "an unexpected failure (nothing was paid by that step); retry later, and tell the operator if it repeats"}},
      // Ledger and server.
      {"LEDGER_BUSY", {"retry", "the ledger is busy; retry in a few seconds"}},
      {"LEDGER_UNAVAILABLE", {"retry_later", "the ledger database is not reachable; retry later (nothing was paid)"}},
      {"LEDGER_ERROR", {"retry_later", "the ledger failed; retry later and tell the operator if it repeats"}},
      {"LEDGER_SCHEMA_TOO_NEW", {"ask_owner", "the ledger was written by a newer satwarden; the operator upgrades"}},
      {"CONFIG_INVALID", {"ask_owner", "fix the setting named in the message"}},
      {"OPTIONS_INVALID", {"ask_owner", "fix the option named in the message"}},
      {"DATA_DIR_UNUSABLE", {"ask_owner", "the data directory is not usable; the owner fixes its path or permissions"}},
      {"OWNER_KEY_INSECURE", {"ask_owner", "fix the notification key file's permissions (chmod 600) or delete it"}},
      {"OWNER_KEY_UNUSABLE", {"ask_owner", "the notification key file is unusable; the owner deletes it for a new one"}},
      {"CONSOLE_TOKEN_INSECURE", {"ask_owner", "fix the console token file's permissions or delete it"}},
      {"CONSOLE_TOKEN_UNUSABLE", {"ask_owner", "the console token file is unusable; the owner deletes it"}},
      {"CONSOLE_NOT_LOOPBACK", {"ask_owner", "serve the console on loopback, or set console_public_url behind a TLS proxy"}},
      {"CONSOLE_UNAVAILABLE", {"ask_owner", "that part of the console is not available in this configuration"}},
      {"HTTP_BIND_FAILED", {"ask_owner", "the port is taken or not allowed; choose another"}},
      {"HTTP_MODULE_MISSING", {"ask_owner", "reinstall satwarden: libsatwarden_http.so is missing next to the binary"}},
      {"HTTP_START_FAILED", {"ask_owner", "the HTTP listener could not start; see the server log"}},
      {"SIGNATURE_INVALID", {"stop", "the signature does not verify"}},
      {"SIGNATURE_MISSING", {"fix_arguments", "sign the request"}},
      {"SIGNATURE_STALE", {"retry", "sign again with a current timestamp"}},
  };
  return m;
}

}  // namespace

bool has_next_step(const std::string& code) {
  if (steps().count(code)) return true;
  return code.rfind("NIP04_", 0) == 0 || code.rfind("NIP44_", 0) == 0;
}

json next_step(const Error& e, int64_t now) {
  json out;
  auto it = steps().find(e.code);
  if (it != steps().end()) {
    out = json{{"action", it->second.action}, {"text", it->second.text}};
  } else if (e.code.rfind("NIP04_", 0) == 0 || e.code.rfind("NIP44_", 0) == 0) {
    out = json{{"action", "retry_later"},
               {"text", "a message to or from the wallet could not be encrypted or decrypted; retry later, and ask "
                        "the owner to check the wallet connection if it repeats"}};
  } else {
    out = json{{"action", "retry_later"}, {"text", "see the message; retry later if it may be temporary"}};
  }
  const json& d = e.details;
  // When exactly a retry can succeed.
  if (e.code == "BUDGET_EXCEEDED" && d.is_object()) {
    if (d.value("window", "") == "per_call") {
      out = json{{"action", "ask_owner"},
                 {"text", "the payment is above the per-payment cap; pay less, or the owner raises the cap"}};
    } else if (d.contains("next_rolloff") && d["next_rolloff"].is_number_integer()) {
      const int64_t at = d["next_rolloff"].get<int64_t>();
      out["retry_at"] = iso8601_utc(at);
      out["retry_after_s"] = std::max<int64_t>(0, at - now);
      out["text"] = "the " + d.value("window", std::string("budget")) + " window frees its oldest payment at " +
                    iso8601_utc(at) + " (in " + std::to_string(std::max<int64_t>(0, at - now)) +
                    " s); retry then, ask for less, or ask the owner to raise the cap";
    } else {
      out = json{{"action", "ask_owner"},
                 {"text", "nothing in this window rolls off (a lifetime cap or an envelope); the owner must raise the cap"}};
    }
  }
  if (d.is_object() && d.contains("retry_after_s") && d["retry_after_s"].is_number()) {
    out["retry_after_s"] = d["retry_after_s"];
    out["retry_at"] = iso8601_utc(now + d["retry_after_s"].get<int64_t>());
  }
  if (d.is_object() && d.contains("approval_id") && d["approval_id"].is_string()) {
    const std::string id = d["approval_id"].get<std::string>();
    out["approval_id"] = id;
    if (e.code == "APPROVAL_REQUIRED")
      out["text"] = "the owner must approve payment " + id + " (`satwarden approvals approve " + id +
                    "`, the console, or their channel); then call again with approval_id " + id;
  }
  if (e.code == "INVALID_ARGUMENTS" && d.is_object() && d.contains("field") && d["field"].is_string()) {
    std::string t = "fix argument " + d["field"].get<std::string>();
    if (d.contains("expected")) t += ": expected " + (d["expected"].is_string() ? d["expected"].get<std::string>() : d["expected"].dump());
    out["text"] = t;
  }
  return out;
}

}  // namespace sw::mcp
