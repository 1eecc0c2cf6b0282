// Benchmark of satwarden's wallet and paywall paths on the local world (all 127.0.0.1):
//   1. NWC round trip added by satwarden: get_balance through satwarden (MCP stdio) vs the same request made
//      directly by @getalby/sdk's NWCClient on the same relay and wallet (the peers' own time).
//   2. RSS of satwarden with a live relay connection.
//   3. A full access_l402_resource (402 → pay → 200) vs the same flow done directly in Node.
//   4. 200 concurrent paid fetches over one satwarden (one relay connection).
// Usage: node tests/bench/bench_world.mjs [path/to/satwarden] [--quick]. Bounded; exits by itself.
// SW_BENCH_SMAPS=1 also prints where the RSS of step 2 is, per mapping (from /proc/PID/smaps).
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StdioClientTransport, albySdk } from '../interop/world/peers.mjs';
import { startRelay } from '../interop/world/relay.mjs';
import { FakeLightning } from '../interop/world/lightning.mjs';
import { FakeWalletLedger, startAlbyWallet, nwcUrl, getPublicKey, hexToBytes } from '../interop/world/wallet.mjs';
import { startL402Server } from '../interop/world/l402server.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const SERVER = args.find((a) => !a.startsWith('--')) ?? '/work/main/build/src/app/satwarden';
const N = quick ? 30 : 100;
// SW_BENCH_SMAPS=1: where the RSS is, per mapped file (or [heap], [anon] = thread stacks and malloc arenas).
function smapsSummary(pid) {
  const per = new Map();
  let name = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { name = (head[1] || '[anon]').split('/').pop(); continue; }
    const m = /^(Rss|Private_Dirty):\s+(\d+) kB/.exec(line);
    if (!m || !name) continue;
    const e = per.get(name) ?? { rss: 0, dirty: 0 };
    if (m[1] === 'Rss') e.rss += Number(m[2]); else e.dirty += Number(m[2]);
    per.set(name, e);
  }
  return [...per].filter(([, e]) => e.rss).sort((a, b) => b[1].rss - a[1].rss)
    .map(([n, e]) => `  rss ${String(e.rss).padStart(6)} kB  private dirty ${String(e.dirty).padStart(5)} kB  ${n}`).join('\n');
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

const relay = await startRelay();
const ln = new FakeLightning({ network: 'regtest' });
const ledger = new FakeWalletLedger({ lightning: ln, balanceMsat: 10_000_000_000 });
const clientSecret = randomBytes(32).toString('hex');
const wallet = await startAlbyWallet({ relayUrls: [relay.url], ledger, clientPubkey: getPublicKey(hexToBytes(clientSecret)), infoEncryption: 'nip44_v2' });
const url = nwcUrl({ walletPubkey: wallet.walletPubkey, relayUrls: [relay.url], clientSecret });
const api = await startL402Server({ lightning: ln });
const dataHome = mkdtempSync(join(tmpdir(), 'sw-bench-'));

// Direct peers: Alby's own NWC client on the same connection secret.
const { NWCClient } = await albySdk();
const direct = new NWCClient({ nostrWalletConnectUrl: url });
await direct.getBalance();

const transport = new StdioClientTransport({ command: SERVER, env: { NWC_URL: url, SATWARDEN_TOOLS: 'all', XDG_DATA_HOME: dataHome, SATWARDEN_FETCH_ALLOW: '127.0.0.1',
  SATWARDEN_MAX_SATS: '100', SATWARDEN_LOG_LEVEL: 'warning' }, stderr: 'ignore' });
const client = new Client({ name: 'bench', version: '1' });
await client.connect(transport);
const call = (name, a = {}) => client.callTool({ name, arguments: a });
await call('get_balance');

// 1. Round trips, interleaved to share the machine's state fairly.
const viaSw = [], viaDirect = [];
for (let i = 0; i < N; i++) {
  let t0 = process.hrtime.bigint();
  const r = await call('get_balance');
  if (r.isError) throw new Error(r.content[0].text);
  viaSw.push(ms(t0));
  t0 = process.hrtime.bigint();
  await direct.getBalance();
  viaDirect.push(ms(t0));
}
console.log(`nwc_get_balance_ms      satwarden(MCP stdio) median ${median(viaSw).toFixed(2)}  direct @getalby/sdk median ${median(viaDirect).toFixed(2)}  added ${(median(viaSw) - median(viaDirect)).toFixed(2)} (n=${N})`);

// 2. RSS with the live relay connection.
const pid = transport.pid;
const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
console.log(`rss_with_live_relay_mb  ${(Number(rss) / 1024).toFixed(2)}`);
if (process.env.SW_BENCH_SMAPS) console.log(smapsSummary(pid));

// 3. Full paid fetch: satwarden vs the same steps done directly (fetch → pay with NWCClient → fetch again).
const swFetch = [], directFetch = [];
for (let i = 0; i < Math.min(N, 40); i++) {
  let t0 = process.hrtime.bigint();
  const r = await call('access_l402_resource', { url: `${api.url}/mpp` }); // MPP: pays on every call (no cache)
  if (r.isError || !r.structuredContent.paid) throw new Error(r.content[0].text);
  swFetch.push(ms(t0));
  t0 = process.hrtime.bigint();
  const a = await fetch(`${api.url}/mpp`);
  const h = a.headers.get('www-authenticate');
  const reqB64 = /request="([^"]+)"/.exec(h)[1];
  const req = JSON.parse(Buffer.from(reqB64, 'base64url').toString());
  const { preimage } = await direct.payInvoice({ invoice: req.methodDetails.invoice });
  const chal = Object.fromEntries([...h.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const cred = Buffer.from(JSON.stringify({ challenge: { id: chal.id, realm: chal.realm, method: chal.method, intent: chal.intent,
    request: chal.request, expires: chal.expires }, payload: { preimage } })).toString('base64url');
  const b = await fetch(`${api.url}/mpp`, { headers: { authorization: `Payment ${cred}` } });
  if (b.status !== 200) throw new Error(`direct flow got ${b.status}`);
  directFetch.push(ms(t0));
}
console.log(`paid_fetch_ms           satwarden median ${median(swFetch).toFixed(2)}  direct median ${median(directFetch).toFixed(2)}  added ${(median(swFetch) - median(directFetch)).toFixed(2)} (n=${swFetch.length})`);

// 4. 200 concurrent paid fetches through one satwarden (one relay connection).
const before = ledger.txs.length;
const t0 = process.hrtime.bigint();
const results = await Promise.all(Array.from({ length: 200 }, () => call('access_l402_resource', { url: `${api.url}/mpp` })));
const okCount = results.filter((r) => !r.isError && r.structuredContent.paid && r.structuredContent.status === 200).length;
console.log(`concurrent_paid_fetches ${okCount}/200 ok in ${(ms(t0) / 1000).toFixed(2)} s; wallet paid ${ledger.txs.length - before}`);

await client.close();
direct.close();
wallet.close();
await api.close();
await relay.close();
rmSync(dataHome, { recursive: true, force: true });
process.exit(0);
