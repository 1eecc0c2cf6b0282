#!/usr/bin/env python3
"""Writes tests/fuzz/seeds/<target>/ from tests/vectors (plus a few hand-made inputs per target).

The seeds are committed, so neither CI nor scripts/fuzz.sh runs this; run it again after changing the vectors or
the input layout of a target: python3 tests/fuzz/make_seeds.py. Each seed file is named after what it holds.
"""
import base64
import json
import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")
SEEDS = os.path.join(HERE, "seeds")


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)


def slug(s):
    s = re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()
    return s[:60] or "seed"


class Target:
    def __init__(self, name):
        self.dir = os.path.join(SEEDS, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.names = set()

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        base = slug(name)
        n, i = base, 2
        while n in self.names:
            n, i = f"{base}-{i}", i + 1
        self.names.add(n)
        with open(os.path.join(self.dir, n), "wb") as f:
            f.write(data)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


bolt11 = load("bolt11.json")
l402 = load("l402.json")
macs = load("macaroons.json")
mpp_ap = load("mpp-aperture-vectors.json")
mpp_gen = load("mpp-generated.json")
ids = load("l402-identifiers.json")
nip04 = load("nip04.json")
nip44 = load("nip44.vectors.json")
events = load("nostr-events.json")
flow = events["generated_nwc_flow"]

# ---- bolt11 ----
t = Target("bolt11")
for i, v in enumerate(bolt11["valid"]):
    t.add(f"valid-{i}", v["invoice"])
for i, v in enumerate(bolt11["invalid"]):
    t.add(f"invalid-{i}-{v.get('title', '')}", v["invoice"])
t.add("l402-invoice", l402["invoice"])
t.add("lightning-prefix-upper", "LIGHTNING:" + l402["invoice"].upper())

# ---- macaroon: raw bytes, base64 text, identifiers ----
t = Target("macaroon")
t.add("l402-v2-binary", bytes.fromhex(l402["macaroon_v2_hex"]))
t.add("l402-v2-base64", l402["macaroon_v2_base64_std"])
t.add("l402-v2-base64url", l402["macaroon_v2_base64url_nopad"])
t.add("l402-attenuated-base64", l402["attenuated"]["macaroon_v2_base64_std"])
t.add("l402-minimal-binary", bytes.fromhex(l402["minimal_no_location_no_caveats"]["macaroon_v2_hex"]))
t.add("l402-preimage-caveat-binary", bytes.fromhex(l402["with_preimage_caveat"]["macaroon_v2_hex"]))
t.add("l402-identifier", bytes.fromhex(l402["identifier_hex"]))
for i, step in enumerate(macs["readme_mybank_chain"]["steps"]):
    if "v1_serialization" in step:
        t.add(f"mybank-v1-{i}", step["v1_serialization"])
        t.add(f"mybank-v1-{i}-raw", base64.urlsafe_b64decode(step["v1_serialization"] + "=="))
for i, v in enumerate(macs["pymacaroons_vectors"]):
    t.add(f"pymacaroons-v1-{i}", v["v1_serialization"])
for i, v in enumerate(macs["libmacaroons_vtests"]["tests"]):
    t.add(f"vtest-{i}-{v['format']}", v["macaroon_as_in_file"])
for i, v in enumerate(macs["libmacaroons_serialization"]):
    t.add(f"serial-{i}-v1-line", v["v1_line"])
    t.add(f"serial-{i}-v2-line", v["v2_line"])
    t.add(f"serial-{i}-v2j-line", v["v2j_line"])
    t.add(f"serial-{i}-v2j-json", v["v2j_json"] if isinstance(v["v2j_json"], str) else compact(v["v2j_json"]))
    t.add(f"serial-{i}-v2-binary", bytes.fromhex(v["v2_binary_hex"]))
t.add("go-third-party-binary", bytes.fromhex(macs["go_macaroon_v2_roundtrip_third_party"]["v2_binary_hex"]))
for c in ids["cases"]:
    if c.get("macaroon_base64"):
        t.add(f"ids-{c['name']}-macaroon", c["macaroon_base64"])
    if c.get("identifier_hex"):
        t.add(f"ids-{c['name']}-identifier", bytes.fromhex(c["identifier_hex"]))

# ---- challenge: WWW-Authenticate lines ----
t = Target("challenge")
hdrs = l402["challenge_headers"]
t.add("aperture-lsat-and-l402", "\n".join(hdrs["aperture_current (two headers, LSAT first)"]))
t.add("l402-spec-2026", hdrs["spec_2026 (L402 repo protocol-specification.md)"])
t.add("mpp-generated", mpp_gen["www_authenticate"])
t.add("mpp-legacy", mpp_gen["non_standard_variant_seen_in_the_wild"]["challenge"])
t.add("mpp-and-l402", mpp_gen["www_authenticate"] + "\n" + hdrs["spec_2026 (L402 repo protocol-specification.md)"])
for v in mpp_ap["challengeHeaders"]:
    t.add(f"aperture-header-{v['name']}", v["header"])
for v in mpp_ap["challengeLists"]:
    h = v["header"]
    t.add(f"aperture-list-{v['name']}", "\n".join(h) if isinstance(h, list) else h)
for c in ids["cases"]:
    if c.get("challenge"):
        t.add(f"ids-{c['name']}-challenge", c["challenge"])
t.add("bearer-and-basic", 'Bearer realm="x", error="invalid_token", Basic realm="y", charset="UTF-8"')
t.add("token68", "Negotiate a87421000492aa874209af8bc028==, L402 macaroon=AgE+/=, invoice=lnbc1")
t.add("quoted-pairs", 'L402 macaroon="a\\"b\\\\c", invoice="lnbc,1", version="0"')
t.add("rfc3339", "2026-01-01T00:00:00.123+01:00")

# ---- credential: Authorization: Payment … and Payment-Receipt values ----
t = Target("credential")
t.add("mpp-generated-authorization", mpp_gen["authorization"])
t.add("mpp-generated-receipt", mpp_gen["payment_receipt_header"])
for v in mpp_ap["credentials"]:
    t.add(f"aperture-credential-{v['name']}", v["header"])
for v in mpp_ap["receipts"]:
    t.add(f"aperture-receipt-{v['name']}", v["header"])
t.add("legacy-authorization", mpp_gen["non_standard_variant_seen_in_the_wild"]["authorization"])

# ---- jcs: JSON texts and base64url strings ----
t = Target("jcs")
for v in mpp_ap["canonicalization"]:
    inp = v["input"]
    t.add(f"canon-{v['name']}", inp if isinstance(inp, str) else compact(inp))
for v in mpp_ap["base64url"]:
    t.add(f"b64url-{v['name']}", v["encoded"])
t.add("mpp-request-jcs", mpp_gen["request_json_jcs"])
t.add("mpp-request-b64url", mpp_gen["request_b64url"])
t.add("numbers", '[1e21,1e-7,-0,0.1,123456789012345680000,5e-324,1.7976931348623157e308,18446744073709551615]')
t.add("utf16-order", '{"\\u20ac":1,"\\ud83d\\ude00":2,"a":3,"\\u0080":4,"":5}')

# ---- nwc_uri ----
t = Target("nwc_uri")
uri = flow["connection_uri"]
t.add("flow-uri", uri)
t.add("no-slashes", uri.replace("nostr+walletconnect://", "nostrwalletconnect:"))
t.add("two-relays-lud16", uri + "&relay=ws%3A%2F%2F127.0.0.1%3A7777%2Fpath&lud16=alice%40example.com#frag")
t.add("plus-and-case", uri.replace("nostr+walletconnect", "NOSTR+WalletConnect") + "&relay=wss://a+b")

# ---- nostr_event: event objects ----
t = Target("nostr_event")
for group in ("real_events", "invalid_events", "generated_events"):
    for i, v in enumerate(events[group]):
        t.add(f"{group}-{i}", compact(v["event"]))
for k, v in flow.items():
    if isinstance(v, dict) and "event" in v:
        t.add(f"flow-{k}", compact(v["event"]))

# ---- relay_wire: relay → client messages and relay URLs ----
t = Target("relay_wire")
for k in ("info_event", "response_ok", "response_error"):
    t.add(f"event-{k}", compact(["EVENT", "sub-1", flow[k]["event"]]))
t.add("ok-true", compact(["OK", flow["request"]["event"]["id"], True, ""]))
t.add("ok-false", compact(["OK", flow["request"]["event"]["id"], False, "auth-required: sign in"]))
t.add("eose", '["EOSE","sub-1"]')
t.add("closed", '["CLOSED","sub-1","restricted: no"]')
t.add("notice", '["NOTICE","slow down"]')
t.add("auth", '["AUTH","challenge-string-123"]')
t.add("url-wss-path", "wss://relay.example.com:443/nostr?x=1#frag")
t.add("url-ws-ipv6", "ws://[::1]:7000")
t.add("url-upper", "WSS://Relay.Example.COM")

# ---- nip44: payload texts (ours decrypt), a plaintext, a forged plaintext area ----
t = Target("nip44")
for k in ("request", "response_ok", "response_error"):
    t.add(f"flow-{k}-content", flow[k]["event"]["content"])
for i, v in enumerate(nip44["v2"]["invalid"]["decrypt"]):
    t.add(f"invalid-decrypt-{i}", v["payload"])
for i, v in enumerate(nip44["v2"]["valid"]["encrypt_decrypt"][:4]):
    t.add(f"other-key-{i}", v["payload"])
t.add("plaintext-json", flow["request"]["plaintext"])
t.add("area-hello", b"\x00\x05hello" + b"\x00" * 27)
t.add("area-extended-prefix", b"\x00\x00\x00\x01\x00\x00" + b"a" * 32)

# ---- nip04 ----
t = Target("nip04")
t.add("flow-legacy-content", flow["legacy_nip04_request"]["event"]["content"])
for group in ("valid_decrypt", "generated_encrypt", "invalid_decrypt"):
    for i, v in enumerate(nip04[group]):
        t.add(f"{group}-{i}", v["payload"])
t.add("plaintext-json", flow["legacy_nip04_request"]["plaintext"])

# ---- url: URL \n Location \n allow list ----
t = Target("url")
t.add("https-with-redirect", "https://api.example.com/v1/data?q=1\n/v2/data?x=%20y\nlocalhost,127.0.0.1,10.0.0.0/8")
t.add("http-port-relative", "http://example.com:8080/a/b/c\n../d?e#f\nfd00::/8")
t.add("ipv6-literal", "http://[2001:db8::1]:8443/\n//other.example/path\n::1")
t.add("mapped-loopback", "http://[::ffff:127.0.0.1]/\n?only=query\n192.168.0.0/16")
t.add("noncanonical-ipv4", "http://127.1/\nhttp://0x7f.0.0.1/\n2130706433")
t.add("metadata", "http://169.254.169.254/latest/meta-data\nhttps://metadata.google.internal/\n169.254.0.0/16")
t.add("addresses", "64:ff9b::a9fe:a9fe\n2001::1\nfe80::1\n100.64.0.1\n0.0.0.0")
t.add("userinfo", "https://user:pass@example.com/\nhttps://example.com\\@evil.com/")

# ---- config: file \n---\n env \n---\n argv ----
t = Target("config")
t.add("file-env-flags",
      '{"transport":"http","port":8500,"tokens":[{"token":"aaaaaaaaaaaaaaaaaaaa","label":"agent-a",'
      '"envelope":"small"}],"envelopes":[{"name":"small","cap_sats":50,"protocols":["bolt11"]}],'
      '"policy":{"day_sats":100,"allow_domains":["a.example"],"fee":{"base_msat":1000,"ppm":100}}}'
      "\n---\nSATWARDEN_PORT=8600\nSATWARDEN_FEE_PPM=200\nNWC_URL=" + uri + "&x=sw-secret-url" +
      "\n---\n--max-sats\n50\n--deny-domains=*.evil.example")
t.add("env-only", "\n---\nSATWARDEN_TOKENS=sw-secret-0123456789abcdef,sw-secret-short,fedcba98765432100123\n"
      "SATWARDEN_DAY_SATS=none\n"
      "SATWARDEN_PROTOCOLS=bolt11,l402\nSATWARDEN_L402_UNBOUND=allow\n---\n--transport\nhttp\n--host\n0.0.0.0")
t.add("file-top-level", '{"max_sats":333,"log_level":"debug","fetch_allow":["localhost"],'
      '"fetch_methods":["GET","post"],"wallet_honours_expiration":true,"allowed_origins":["https://x.example"]}')
t.add("zero-fee", '{"policy":{"fee":{"base_msat":0,"ppm":0}}}\n---\nSATWARDEN_ALLOW_ZERO_FEE_ALLOWANCE=yes')
t.add("help", "\n---\n\n---\n--help")

# ---- mcp_session: JSON-RPC lines ----
t = Target("mcp_session")
init = compact({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "fuzz", "version": "1"}}})
initialized = '{"jsonrpc":"2.0","method":"notifications/initialized"}'
inv = bolt11["valid"][0]["invoice"]


def rpc(i, method, params=None):
    m = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        m["params"] = params
    return compact(m)


t.add("initialize-list", "\n".join([init, initialized, rpc(2, "tools/list"),
                                    rpc(3, "tools/list", {"cursor": base64.b64encode(b"tools:3").decode()})]))
t.add("decode-invoice", "\n".join([init, initialized, rpc(2, "tools/call", {"name": "decode_invoice",
                                                                            "arguments": {"invoice": inv},
                                                                            "_meta": {"progressToken": 7}})]))
t.add("wallet-tools", "\n".join([init, rpc(2, "tools/call", {"name": "get_balance", "arguments": {}}),
                                 rpc(3, "tools/call", {"name": "make_invoice", "arguments": {"amount_sats": 5}}),
                                 rpc("x", "tools/call", {"name": "lookup_payment",
                                                         "arguments": {"payment_hash": "00" * 32}}),
                                 rpc(5, "tools/call", {"name": "list_transactions",
                                                       "arguments": {"limit": None}})]))
t.add("resources", "\n".join([init, rpc(2, "resources/list"), rpc(3, "resources/templates/list"),
                              rpc(4, "resources/read", {"uri": "satwarden://spending"}),
                              rpc(5, "resources/read", {"uri": "satwarden://payments/" + "ab" * 32}),
                              rpc(6, "resources/read", {"uri": "satwarden://payments/zz"})]))
t.add("misc", "\n".join([rpc(1, "ping"), rpc(2, "logging/setLevel", {"level": "debug"}),
                         '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}',
                         rpc(3, "nope"), '{"jsonrpc":"2.0","id":4,"result":{}}', "[1,2]", "{", "null",
                         '{"jsonrpc":"1.0","id":5,"method":"ping"}', "[" * 70 + "]" * 70]))

# ---- http_head: request heads as agents send them to the HTTP front ----
# The whole input runs under the default limits; inputs of 8 bytes or more also run from byte 8 on under the
# small limits bytes 0-7 give (see tests/fuzz/http_head.cpp): limits() builds such a prefix.
def limits(request_line, header_line, headers, header_bytes, max_chunk):
    return (request_line - 1).to_bytes(2, "big") + (header_line - 1).to_bytes(2, "big") + bytes([headers]) + \
        (header_bytes - 1).to_bytes(2, "big") + bytes([max_chunk - 1])


t = Target("http_head")
body = init.encode()
t.add("mcp-initialize-post",
      b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8500\r\nAuthorization: Bearer sw-0123456789abcdef0123\r\n"
      b"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
      b"Mcp-Protocol-Version: 2025-06-18\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
t.add("sse-get", "GET /mcp HTTP/1.1\r\nHost: localhost:8500\r\nAccept: text/event-stream\r\n"
      "Mcp-Session-Id: 3f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b\r\nLast-Event-ID: 17\r\nConnection: keep-alive\r\n\r\n")
t.add("healthz-http10-bare-lf", "\r\n\nGET /healthz?x=1&y=%20z+w HTTP/1.0\nHost: a\n\n")
t.add("chunked-body", "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n")
t.add("continuation-line", "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: first\r\n  continued\r\n\r\n")
t.add("duplicate-host", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
t.add("origin-userinfo", "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://localhost:1@evil.com\r\n"
      "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
t.add("pipelined", "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
t.add("absolute-form", "GET http://127.0.0.1/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
t.add("http2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
t.add("controls-in-value", b"GET / HTTP/1.1\r\nX: a\x00b\r\nY: c\rd\r\nZ: \t tab \t\r\n\r\n")
t.add("small-limits-count", limits(64, 64, 3, 256, 3) +
      b"GET /mcp HTTP/1.1\r\nHost: a\r\nX-1: v\r\nX-2: v\r\nX-3: v\r\n\r\n")
t.add("small-limits-line", limits(16, 24, 8, 512, 1) +
      b"GET /mcp?q=0123456789 HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789012345678\r\n\r\n")
t.add("small-limits-bytes", limits(64, 64, 30, 40, 5) +
      b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX-1: 0123456789\r\nX-2: 0123456789\r\n\r\n")

# ---- fetch_head: response heads from paid APIs ----
# As http_head, with a 6-byte prefix for the small limits (line, header count, header bytes, largest piece).
def fetch_limits(line, headers, header_bytes, max_chunk):
    return (line - 1).to_bytes(2, "big") + bytes([headers]) + (header_bytes - 1).to_bytes(2, "big") + \
        bytes([max_chunk - 1])


t = Target("fetch_head")
l402_hdr = hdrs["spec_2026 (L402 repo protocol-specification.md)"]
t.add("l402-402", "HTTP/1.1 402 Payment Required\r\nContent-Type: application/json\r\nWWW-Authenticate: " +
      l402_hdr + "\r\nContent-Length: 2\r\n\r\n{}")
t.add("mpp-402", "HTTP/1.1 402 Payment Required\r\nWWW-Authenticate: " + mpp_gen["www_authenticate"] +
      "\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n")
t.add("two-challenges-duplicate-headers", "HTTP/1.1 402 Payment Required\r\n" +
      "".join("WWW-Authenticate: " + h + "\r\n" for h in hdrs["aperture_current (two headers, LSAT first)"]) +
      "Content-Length: 0\r\nContent-Length: 0\r\n\r\n")
t.add("receipt-200", "HTTP/1.1 200 OK\r\nPayment-Receipt: " + mpp_gen["payment_receipt_header"] +
      "\r\nContent-Length: 5\r\n\r\nhello")
t.add("interim-then-chunked", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
t.add("redirect-bare-lf-no-reason", "HTTP/1.0 302\nLocation: /v2/data?x=1\nServer:   spaced   \n\n")
t.add("continuation-line", "HTTP/1.1 200 OK\r\nX-Long: first\r\n\tcontinued\r\n\r\n")
t.add("switching-protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
t.add("controls-in-value", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nY: c\rd\r\n\r\n")
t.add("small-limits-count", fetch_limits(64, 2, 256, 3) + b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
t.add("small-limits-line", fetch_limits(20, 8, 512, 1) + b"HTTP/1.1 200 OK\r\nX-Long: 01234567890123\r\n\r\n")
t.add("small-limits-bytes", fetch_limits(64, 30, 30, 7) +
      b"HTTP/1.1 100 Continue\r\nA: 0123456789\r\n\r\nHTTP/1.1 200 OK\r\nB: 0123456789\r\n\r\n")

print("seeds written under", os.path.relpath(SEEDS))
