// satwarden — the owner's console (browser side). Plain ES2020, no dependencies.
// Every string that comes from the server (domains, purposes, descriptions, error messages) goes into the page
// through textContent / attributes only, never through innerHTML.
'use strict';

// ---- State ----
const S = {
  csrf: null,
  expiresAt: null,
  loggedIn: false,
  skew: 0,              // server clock minus ours, seconds
  es: null,             // EventSource
  esOpenedOnce: false,
  esRetry: 3000,
  seen: null,           // approval ids already announced (null until the first list arrived)
  approvals: null,      // latest list_approvals output
  seq: 0,               // render generation; stale async results are dropped
  ctx: null,            // current view: {seq, name, refresh}
  chartMode: 'day',
  refreshTimer: null,
  expiryTimer: null,
};

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---- DOM helpers ----
// h('a', {href: '#/x', class: 'c', onClick: fn}, 'text', child, [more]) — attributes via setAttribute,
// listeners via addEventListener, strings as text nodes.
function build(el, attrs, children) {
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.length > 2 && k.startsWith('on') && k[2] === k[2].toUpperCase()) {
        el.addEventListener(k.slice(2).toLowerCase(), v);
      } else if (k === 'text') {
        el.textContent = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
const SVGNS = 'http://www.w3.org/2000/svg';
const s = (tag, attrs, ...children) => build(document.createElementNS(SVGNS, tag), attrs, children);

// ---- Formatting ----
const NUM = new Intl.NumberFormat('en-US');
const NUM3 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
const fmtSats = (n) => (n == null ? '—' : NUM.format(n));
const fmtMsat = (m) => (m == null ? '—' : NUM3.format(m / 1000));
const nowSec = () => Math.floor(Date.now() / 1000) + S.skew;
const plural = (n, one, many) => `${NUM.format(n)} ${n === 1 ? one : many}`;

function fmtTime(t) {
  if (t == null) return '—';
  return new Date(t * 1000).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}
function timeEl(t) {
  if (t == null) return '—';
  return h('time', { datetime: new Date(t * 1000).toISOString() }, fmtTime(t));
}
function fmtDur(sec) {
  sec = Math.max(0, Math.round(Math.abs(sec)));
  if (sec < 60) return `${sec} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return m < 10 && sec % 60 ? `${m} min ${sec % 60} s` : `${m} min`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return m % 60 ? `${hr} h ${m % 60} min` : `${hr} h`;
  return `${Math.floor(hr / 24)} days`;
}
function fmtRel(t) {
  const d = t - nowSec();
  return d >= 0 ? `in ${fmtDur(d)}` : `${fmtDur(d)} ago`;
}
// For moments already past (a clock a second apart must not say "in 1 s").
function fmtAgo(t) {
  const d = nowSec() - t;
  return d < 5 ? 'just now' : `${fmtDur(d)} ago`;
}
const shortHash = (x) => (x && x.length > 20 ? `${x.slice(0, 10)}…${x.slice(-6)}` : x || '—');
const orNone = (x) => (x == null || x === '' ? '—' : x);

const STATE_LABEL = {
  reserved: 'reserved', in_flight: 'in flight', settled: 'settled', failed: 'failed', released: 'released',
  unknown: 'unknown', pending: 'pending', approved: 'approved', denied: 'denied', expired: 'expired', used: 'used',
};
const stateBadge = (st) =>
  h('span', { class: `badge st-${st}`, 'data-state': st }, STATE_LABEL[st] || st || '—');
const WINDOW_LABEL = { hour: 'Hour', day: 'Day', week: 'Week', month: 'Month', lifetime: 'Lifetime' };
const WINDOW_HINT = { hour: 'rolling hour', day: 'rolling 24 h', week: 'rolling 7 days', month: 'rolling 30 days', lifetime: 'all time' };
const PROTOCOL_LABEL = { bolt11: 'BOLT11', keysend: 'keysend', l402: 'L402', mpp: 'MPP' };
const ENCRYPTION_LABEL = { nip44_v2: 'NIP-44 v2', nip04: 'NIP-04 (legacy)', '': 'none reported' };

// ---- Messages: errors (role=alert), notices (role=status), announcements (aria-live) ----
const alertBox = () => $('#alert');
function showError(msg) {
  const el = alertBox();
  el.textContent = msg;
  $('#notice').textContent = '';
}
function showNotice(msg) {
  $('#notice').textContent = msg;
  alertBox().textContent = '';
}
function clearMessages() {
  alertBox().textContent = '';
  $('#notice').textContent = '';
}
let announceTimer = null;
function announce(msg) {
  const el = $('#announcer');
  el.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { el.textContent = msg; }, 60);
}
function fail(e) {
  if (e && e.loginRequired) return;   // the login panel is already shown
  showError(e && e.message ? e.message : String(e));
}

// ---- API ----
class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
    this.loginRequired = false;
  }
}
async function api(method, path, body, opts = {}) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.headers['X-CSRF-Token'] = S.csrf || '';
    init.body = JSON.stringify(body || {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError('NETWORK', 'Could not reach satwarden. Is `satwarden console` still running?', 0);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(err.code || `HTTP_${res.status}`,
      err.message || `The request failed (HTTP ${res.status}).`, res.status);
    if (res.status === 401 && !opts.isLogin) {   // CONSOLE_LOGIN_REQUIRED (or a session that ended)
      e.loginRequired = true;
      showLoggedOut();
    }
    throw e;
  }
  return data || {};
}

// ---- Theme ----
const THEMES = ['auto', 'light', 'dark'];
function storedTheme() {
  try {
    const t = localStorage.getItem('sw-theme');
    return THEMES.includes(t) ? t : 'auto';
  } catch (e) {
    return 'auto';
  }
}
function applyTheme(t) {
  document.documentElement.setAttribute('data-theme', t);
  const btn = $('#theme-btn');
  btn.textContent = `Theme: ${t}`;
  btn.title = 'Switch between automatic, light and dark theme';
}
function cycleTheme() {
  const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
  try { localStorage.setItem('sw-theme', next); } catch (e) { /* private mode: still apply */ }
  applyTheme(next);
  announce(`Theme: ${next}`);
}

// ---- Session: login link, session check, log out ----
async function boot() {
  applyTheme(storedTheme());
  $('#theme-btn').addEventListener('click', cycleTheme);
  $('#logout-btn').addEventListener('click', logout);
  $('#notify-btn').addEventListener('click', askNotifications);
  $('#skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('#main').focus();
  });
  window.addEventListener('hashchange', () => {
    if (loginToken()) loginWithLink();
    else route(true);
  });
  setInterval(tick, 1000);

  if (loginToken()) {
    loginWithLink();
    return;
  }
  try {
    const r = await api('GET', '/api/session');
    if (location.pathname !== '/') history.replaceState(null, '', `/${location.hash.startsWith('#/') ? location.hash : '#/overview'}`);
    onSession(r);
  } catch (e) {
    if (!e.loginRequired) {
      showError(e.message);
      $('#view').replaceChildren(h('h1', { id: 'view-title' }, 'satwarden console'),
        h('p', {}, 'The console could not be loaded. Reload the page to try again.'));
    }
  }
}

// The login link is /login#TOKEN; a hash starting with "/" is a route instead.
function loginToken() {
  const frag = location.hash.slice(1);
  if (location.pathname !== '/login' || !frag || frag.startsWith('/')) return null;
  try { return decodeURIComponent(frag); } catch (e) { return frag; }
}
async function loginWithLink() {
  const token = loginToken();
  history.replaceState(null, '', '/login');   // the token leaves the address bar at once
  try {
    const r = await api('POST', '/api/login', { token }, { isLogin: true });
    history.replaceState(null, '', '/#/overview');
    onSession(r);
  } catch (e) {
    showLoggedOut();
    showError(e.message);
  }
}

function onSession(r) {
  S.csrf = r.csrf;
  S.expiresAt = r.expires_at;
  S.loggedIn = true;
  $('#nav').hidden = false;
  $('#logout-btn').hidden = false;
  updateNotifyBtn();
  startEvents();
  clearTimeout(S.expiryTimer);
  if (r.expires_at) {
    const ms = Math.min((r.expires_at - Math.floor(Date.now() / 1000)) * 1000 + 1000, 2 ** 31 - 1);
    S.expiryTimer = setTimeout(() => api('GET', '/api/session').then(onSessionRefresh, fail), Math.max(ms, 1000));
  }
  route(false);
}
function onSessionRefresh(r) {
  S.csrf = r.csrf || S.csrf;
  S.expiresAt = r.expires_at;
}

function showLoggedOut() {
  const wasIn = S.loggedIn;
  S.loggedIn = false;
  S.csrf = null;
  S.seq++;
  S.ctx = null;
  S.seen = null;
  stopEvents();
  clearTimeout(S.expiryTimer);
  $('#nav').hidden = true;
  $('#logout-btn').hidden = true;
  $('#notify-btn').hidden = true;
  $('#live-status').hidden = true;
  document.title = 'Log in · satwarden';
  $('#view').replaceChildren(h('section', { class: 'panel login', 'aria-labelledby': 'view-title' },
    h('h1', { id: 'view-title', tabindex: '-1' }, 'Log in'),
    h('p', {}, 'Open the one-time login link that ', h('code', {}, 'satwarden console'),
      ' printed (or run it again for a new one).')));
  if (wasIn) announce('You are logged out.');
}

async function logout() {
  try {
    await api('POST', '/api/logout', {});
  } catch (e) {
    if (!e.loginRequired) { showError(e.message); return; }
  }
  showLoggedOut();
  showNotice('You are logged out.');
}

// ---- Live updates (Server-Sent Events) and notifications ----
function setLive(on) {
  const el = $('#live-status');
  el.hidden = !S.loggedIn;
  el.textContent = on ? 'Live' : 'Reconnecting…';
  el.classList.toggle('off', !on);
}
function startEvents() {
  if (S.es || typeof EventSource === 'undefined') return;
  const es = new EventSource('/api/events', { withCredentials: true });
  S.es = es;
  es.addEventListener('open', () => {
    setLive(true);
    S.esRetry = 3000;
    if (S.esOpenedOnce) scheduleRefresh();   // we may have missed changes while disconnected
    S.esOpenedOnce = true;
  });
  es.addEventListener('approvals', (ev) => {
    try { onApprovals(JSON.parse(ev.data)); } catch (e) { /* ignore a malformed event */ }
  });
  es.addEventListener('ledger', scheduleRefresh);
  es.addEventListener('error', () => {
    if (S.es !== es) return;
    setLive(false);
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. 401): is the session still alive? If so, try again later.
      es.close();
      S.es = null;
      reconnectEvents();
    }
  });
}
function reconnectEvents() {
  const wait = S.esRetry;
  S.esRetry = Math.min(S.esRetry * 2, 60000);
  api('GET', '/api/session').then((r) => {
    onSessionRefresh(r);
    setTimeout(() => { if (S.loggedIn && !S.es) startEvents(); }, wait);
  }, (e) => {
    if (e.loginRequired) return;
    setTimeout(() => { if (S.loggedIn && !S.es) reconnectEvents(); }, wait);
  });
}
function stopEvents() {
  if (S.es) S.es.close();
  S.es = null;
  S.esOpenedOnce = false;
}
function scheduleRefresh() {
  clearTimeout(S.refreshTimer);
  S.refreshTimer = setTimeout(() => {
    const ctx = S.ctx;
    if (ctx && ctx.refresh && S.loggedIn) ctx.refresh().catch(fail);
  }, 300);
}

function onApprovals(data) {
  if (!data || !Array.isArray(data.approvals)) return;
  S.approvals = data;
  const pending = data.approvals.filter((a) => a.state === 'pending');
  const first = S.seen === null;
  if (first) S.seen = new Set();
  const fresh = [];
  for (const a of pending) {
    if (!S.seen.has(a.approval_id)) {
      S.seen.add(a.approval_id);
      fresh.push(a);
    }
  }
  if (first && fresh.length) {
    announce(`${plural(fresh.length, 'approval is', 'approvals are')} waiting for you.`);
  } else if (!first && fresh.length) {
    announce(fresh.map((a) => `Approval needed: ${fmtSats(a.amount_sats)} sats to ${a.domain || a.payee || 'an unnamed payee'}.`).join(' '));
    notify(fresh);
  }
  updateTitleCount(pending.length);
  syncApprovals();
}
function notify(list) {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  for (const a of list) {
    try {
      const n = new Notification('satwarden: approval needed', {
        body: `${fmtSats(a.amount_sats)} sats to ${a.domain || a.payee || 'an unnamed payee'}`,
        tag: `sw-approval-${a.approval_id}`,
      });
      n.addEventListener('click', () => {
        window.focus();
        location.hash = '#/overview';
        n.close();
      });
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }
}
function updateNotifyBtn() {
  const can = typeof Notification !== 'undefined' && Notification.permission === 'default';
  $('#notify-btn').hidden = !(S.loggedIn && can);
}
function askNotifications() {
  if (typeof Notification === 'undefined') return;
  Promise.resolve(Notification.requestPermission()).then((p) => {
    updateNotifyBtn();
    if (p === 'granted') showNotice('Notifications enabled: you will be told when an approval is needed.');
    else if (p === 'denied') showNotice('Notifications are blocked; new approvals are still shown here.');
  });
}
let baseTitle = 'satwarden';
let waitingCount = 0;
function setTitle(t) { baseTitle = t; updateTitleCount(waitingCount); }
function updateTitleCount(n) {
  waitingCount = n;
  document.title = n > 0 ? `(${n}) ${baseTitle}` : baseTitle;
}

// Countdowns (approval expiry) tick every second.
function tick() {
  for (const el of $$('[data-expires-at]')) {
    const t = Number(el.getAttribute('data-expires-at'));
    el.textContent = t - nowSec() > 0 ? `expires ${fmtRel(t)}` : 'expired';
  }
}

// ---- Router ----
function parseRoute() {
  const hash = location.hash || '#/overview';
  if (!hash.startsWith('#/')) return null;   // e.g. an in-page anchor
  const qi = hash.indexOf('?');
  const path = qi < 0 ? hash.slice(1) : hash.slice(1, qi);
  const q = new URLSearchParams(qi < 0 ? '' : hash.slice(qi + 1));
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'payments' && parts[1]) {
    let id = parts[1];
    try { id = decodeURIComponent(id); } catch (e) { /* keep */ }
    return { name: 'payment', nav: 'payments', id, q };
  }
  if (parts[0] === 'payments') return { name: 'payments', nav: 'payments', q };
  if (parts[0] === 'policy') return { name: 'policy', nav: 'policy', q };
  return { name: 'overview', nav: 'overview', q };
}
function route(byUser) {
  if (!S.loggedIn) return;
  const r = parseRoute();
  if (!r) return;
  clearMessages();
  for (const a of $$('#nav a')) {
    if (a.getAttribute('data-route') === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx = { seq: ++S.seq, name: r.name, refresh: null };
  ctx.alive = () => ctx.seq === S.seq && S.loggedIn;
  S.ctx = ctx;
  const views = { overview: viewOverview, payments: viewPayments, payment: viewPayment, policy: viewPolicy };
  views[r.name](r, ctx).catch(fail);
  if (byUser) {
    window.scrollTo(0, 0);
    const t = $('#view-title');
    if (t) t.focus({ preventScroll: true });
  }
}
function mount(...nodes) {
  $('#view').replaceChildren(...nodes);
}
const empty = (text) => h('p', { class: 'empty' }, text);
const loading = () => h('p', { class: 'loading' }, 'Loading…');
const title = (text) => h('h1', { id: 'view-title', tabindex: '-1' }, text);
// Re-render a container, giving focus back to the element with the same data-focus-key.
function keepFocus(container, fn) {
  const a = document.activeElement;
  const key = a && container.contains(a) ? a.getAttribute('data-focus-key') : null;
  fn();
  if (key) {
    const el = $$('[data-focus-key]', container).find((x) => x.getAttribute('data-focus-key') === key);
    if (el) el.focus();
  }
}

// ---- Overview ----
async function viewOverview(r, ctx) {
  setTitle('Overview · satwarden');
  const approvalsBox = h('div', { id: 'approvals-box' },
    h('ul', { class: 'cards', id: 'approvals-list', 'aria-labelledby': 'approvals-title' }),
    h('p', { class: 'empty', id: 'approvals-empty' }, 'Nothing is waiting for your approval.'));
  const unknownBox = h('div', { id: 'unknown-box' }, loading());
  const walletBox = h('div', {}, loading());
  const budgetBox = h('div', {}, loading());
  const scopesBox = h('div', {});
  const chartBox = h('div', { class: 'chart-wrap' });
  const btnDay = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': String(S.chartMode === 'day'), 'data-mode': 'day' }, 'Last 7 days');
  const btnHour = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': String(S.chartMode === 'hour'), 'data-mode': 'hour' }, 'Last 48 hours');
  for (const b of [btnDay, btnHour]) {
    b.addEventListener('click', () => {
      S.chartMode = b.getAttribute('data-mode');
      btnDay.setAttribute('aria-pressed', String(S.chartMode === 'day'));
      btnHour.setAttribute('aria-pressed', String(S.chartMode === 'hour'));
      loadChart().catch(fail);
    });
  }

  mount(
    title('Overview'),
    h('section', { class: 'block', 'aria-labelledby': 'approvals-title' },
      h('h2', { id: 'approvals-title', tabindex: '-1' }, 'Waiting for your approval ', h('span', { class: 'count', id: 'approvals-count' })),
      approvalsBox),
    h('section', { class: 'block', 'aria-labelledby': 'unknown-title' },
      h('h2', { id: 'unknown-title' }, 'Outcome unknown ', h('span', { class: 'count', id: 'unknown-count' })),
      unknownBox),
    h('div', { class: 'grid' },
      h('section', { class: 'panel', 'aria-labelledby': 'wallet-title' }, h('h2', { id: 'wallet-title' }, 'Wallet'), walletBox),
      h('section', { class: 'panel', 'aria-labelledby': 'budget-title' }, h('h2', { id: 'budget-title' }, 'Budget'), budgetBox)),
    scopesBox,
    h('section', { class: 'panel block chart', 'aria-labelledby': 'spend-title' },
      h('div', { class: 'head-row' },
        h('h2', { id: 'spend-title' }, 'Spending'),
        h('div', { class: 'switch', role: 'group', 'aria-label': 'Chart period' }, btnDay, btnHour)),
      chartBox));
  syncApprovals();

  async function load() {
    const ov = await api('GET', '/api/overview');
    if (!ctx.alive()) return;
    if (typeof ov.now === 'number') S.skew = Math.round(ov.now - Date.now() / 1000);
    renderWallet(walletBox, ov.wallet || {});
    renderBudget(budgetBox, scopesBox, ov.budget || {});
    if (ov.approvals) onApprovals(ov.approvals);
    renderUnknown(unknownBox, ov.unknown || { payments: [] });
    tick();
  }
  async function loadChart() {
    const mode = S.chartMode;
    const q = mode === 'hour' ? 'days=2&bucket=hour' : 'days=7&bucket=day';
    const data = await api('GET', `/api/spend?${q}`);
    if (!ctx.alive() || mode !== S.chartMode) return;
    renderChart(chartBox, data, mode);
  }
  ctx.refresh = () => Promise.all([load(), loadChart()]);
  await ctx.refresh();
}

function renderWallet(box, w) {
  const rows = [];
  if (w.connected) {
    rows.push(h('p', {}, h('span', { class: 'badge ok' }, 'connected')));
    rows.push(h('p', { class: 'balance' }, w.balance_sats == null ? 'Balance not available' : `${fmtSats(w.balance_sats)} sats`));
    rows.push(kv([
      ['Alias', w.alias],
      ['Network', w.network],
      ['Encryption', ENCRYPTION_LABEL[w.encryption || ''] || w.encryption],
      ['Methods', (w.methods || []).join(', ')],
    ]));
  } else {
    rows.push(h('p', {}, h('span', { class: 'badge bad' }, 'not connected')));
    rows.push(h('p', { class: 'wrap-any' }, w.error || 'No wallet is connected.'));
  }
  if (w.connected && w.error) rows.push(h('p', { class: 'callout wrap-any' }, w.error));
  box.replaceChildren(...rows);
}

function scopeName(scope) {
  const m = /^(domain|envelope):(.*)$/.exec(scope || '');
  return m ? m[2] : scope;
}
function gauge(w, scopeLabel, idBase) {
  const name = WINDOW_LABEL[w.window] || w.window;
  const nameId = `${idBase}-${w.window}`;
  const limit = w.limit_sats;
  const spent = w.spent_sats || 0;
  const sub = [];
  if (limit == null) {
    sub.push('no limit');
  } else if (spent > limit) {
    sub.push(`over the limit by ${fmtSats(spent - limit)} sats`);
  } else {
    sub.push(`${fmtSats(w.remaining_sats)} sats left`);
  }
  if (w.next_rolloff != null) sub.push(`next roll-off ${fmtTime(w.next_rolloff)}`);
  return h('div', { class: 'gauge', 'data-window': w.window },
    h('div', { class: 'gauge-head' },
      h('span', {},
        h('span', { class: 'gauge-name', id: nameId }, name), ' ',
        h('span', { class: 'gauge-sub' }, WINDOW_HINT[w.window] || '')),
      h('span', {}, limit == null ? `${fmtSats(spent)} sats spent` : `${fmtSats(spent)} / ${fmtSats(limit)} sats`)),
    limit == null ? null : h('meter', {
      min: 0, max: Math.max(limit, 1), value: Math.min(spent, Math.max(limit, 1)),
      low: Math.max(limit, 1) * 0.75, high: Math.max(limit, 1) * 0.9, optimum: 0,
      'aria-label': `${scopeLabel}, ${name.toLowerCase()}: ${fmtSats(spent)} of ${fmtSats(limit)} sats spent`,
    }, `${fmtSats(spent)} of ${fmtSats(limit)} sats`),
    h('div', { class: 'gauge-sub' }, sub.join(' · ')));
}

function renderBudget(box, scopesBox, b) {
  const g = b.global || { windows: [] };
  const nodes = [];
  nodes.push(h('p', {}, 'Per payment: ', h('b', {}, g.per_call_sats == null ? 'no limit' : `up to ${fmtSats(g.per_call_sats)} sats`)));
  const wins = g.windows || [];
  if (!wins.length) nodes.push(empty('No spending window is configured.'));
  wins.forEach((w) => nodes.push(gauge(w, 'Budget', 'g')));
  if (g.expires_at != null) nodes.push(h('p', { class: 'small muted' }, `This budget expires ${fmtTime(g.expires_at)} (${fmtRel(g.expires_at)}).`));
  const counts = [];
  if (b.pending_count) counts.push(`${plural(b.pending_count, 'payment', 'payments')} pending`);
  if (b.unknown_count) counts.push(`${plural(b.unknown_count, 'payment', 'payments')} with unknown outcome`);
  if (counts.length) nodes.push(h('p', { class: 'small' }, `${counts.join(', ')} (their amounts stay held).`));
  const fx = b.fee_excess;
  if (fx && fx.count > 0) {
    nodes.push(h('p', { class: 'callout small' },
      `Routing fees above the reserved allowance: ${fmtMsat(fx.excess_msat)} sats in ${plural(fx.count, 'payment', 'payments')} (last 30 days). `,
      fx.note || ''));
  }
  box.replaceChildren(...nodes);

  const groups = [];
  const scopeGroup = (list, heading, kind) => {
    if (!list || !list.length) return;
    groups.push(h('section', { class: 'block', 'aria-labelledby': `scopes-${kind}` },
      h('h3', { id: `scopes-${kind}` }, heading),
      h('div', { class: 'grid-small' }, list.map((sc, i) => {
        const nm = scopeName(sc.scope);
        return h('div', { class: 'panel scope-card', 'data-scope': sc.scope },
          h('h4', {}, nm),
          sc.per_call_sats == null ? null : h('p', { class: 'small' }, `Per payment: up to ${fmtSats(sc.per_call_sats)} sats`),
          (sc.windows || []).map((w) => gauge(w, `${kind === 'domain' ? 'Domain' : 'Envelope'} ${nm}`, `${kind}${i}`)),
          sc.expires_at == null ? null : h('p', { class: 'small muted' }, `Expires ${fmtTime(sc.expires_at)}`));
      }))));
  };
  scopeGroup(b.domains, 'Per domain', 'domain');
  scopeGroup(b.envelopes, 'Per envelope', 'envelope');
  scopesBox.replaceChildren(...(groups.length
    ? [h('section', { class: 'panel block', 'aria-labelledby': 'scopes-title' }, h('h2', { id: 'scopes-title' }, 'Other budgets'), groups)]
    : []));
}

// Approvals: cards are kept by id, so a refresh never wipes a half-typed deny reason.
function syncApprovals() {
  const list = $('#approvals-list');
  if (!list || !S.approvals) return;
  const items = S.approvals.approvals.filter((a) => a.state === 'pending' || a.state === 'approved');
  const want = new Set(items.map((a) => a.approval_id));
  const have = new Map();
  for (const li of $$(':scope > li', list)) {
    const id = li.getAttribute('data-approval-id');
    if (!want.has(id) || li.getAttribute('data-state') !== (items.find((a) => a.approval_id === id) || {}).state) li.remove();
    else have.set(id, li);
  }
  items.forEach((a, i) => {
    const card = have.get(a.approval_id) || approvalCard(a);
    if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
  });
  const pending = items.filter((a) => a.state === 'pending').length;
  $('#approvals-empty').hidden = items.length > 0;
  $('#approvals-count').textContent = pending ? `(${pending})` : '';
  tick();
}

function approvalCard(a) {
  const id = a.approval_id;
  const headId = `ap-${String(id).replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const pending = a.state === 'pending';
  const li = h('li', { class: `card approval${pending ? '' : ' decided'}`, 'data-approval-id': id, 'data-state': a.state },
    h('h3', { class: 'amount', id: headId }, `${fmtSats(a.amount_sats)} sats`, h('span', { class: 'muted' }, ' to '),
      h('span', { class: 'wrap-any' }, a.domain || a.payee || 'an unnamed payee')),
    a.purpose ? h('p', { class: 'purpose' }, h('b', {}, 'Purpose: '), a.purpose) : null,
    a.reasons && a.reasons.length
      ? h('div', {}, h('b', {}, 'Why it needs you:'), h('ul', { class: 'reasons' }, a.reasons.map((x) => h('li', {}, x))))
      : null,
    h('div', { class: 'meta' },
      a.client ? h('span', {}, 'Client: ', h('b', {}, a.client)) : null,
      a.envelope ? h('span', {}, 'Envelope: ', h('b', {}, a.envelope)) : null,
      a.tool ? h('span', {}, 'Tool: ', h('b', {}, a.tool)) : null,
      a.protocol ? h('span', {}, 'Protocol: ', h('b', {}, PROTOCOL_LABEL[a.protocol] || a.protocol)) : null,
      a.payee && a.domain ? h('span', { class: 'mono' }, 'Payee: ', shortHash(a.payee)) : null,
      a.created_at ? h('span', {}, 'Asked ', fmtAgo(a.created_at)) : null,
      pending ? h('span', { class: 'countdown', 'data-expires-at': a.expires_at }, `expires ${fmtRel(a.expires_at)}`) : null));
  if (!pending) {
    li.appendChild(h('p', {}, stateBadge(a.state), ' waiting for the agent to use it'));
    return li;
  }
  const approveBtn = h('button', { type: 'button', class: 'btn btn-approve', 'data-action': 'approve', 'aria-describedby': headId }, 'Approve');
  const denyBtn = h('button', { type: 'button', class: 'btn btn-deny', 'data-action': 'deny', 'aria-describedby': headId }, 'Deny');
  const reasonId = `${headId}-reason`;
  const reasonInput = h('input', { type: 'text', id: reasonId, name: 'reason', maxlength: '500', autocomplete: 'off' });
  const cancelBtn = h('button', { type: 'button', class: 'btn', 'data-action': 'cancel-deny' }, 'Cancel');
  const denyForm = h('form', { class: 'deny-form', hidden: true, 'data-role': 'deny-form' },
    h('label', { for: reasonId }, 'Reason for denying (optional)'),
    h('div', { class: 'row' }, reasonInput, cancelBtn));
  li.append(h('div', { class: 'actions' }, approveBtn, denyBtn), denyForm);

  const setBusy = (busy) => { approveBtn.disabled = busy; denyBtn.disabled = busy; cancelBtn.disabled = busy; };
  const decide = async (action, body) => {
    setBusy(true);
    try {
      const res = await api('POST', `/api/approvals/${encodeURIComponent(id)}/${action}`, body);
      const msg = res.message || (action === 'approve' ? 'Approved.' : 'Denied.');
      showNotice(msg);
      if (res.approval && S.approvals) {
        const list = S.approvals.approvals.map((x) => (x.approval_id === id ? Object.assign({}, x, res.approval) : x));
        S.approvals = Object.assign({}, S.approvals, { approvals: list });
        updateTitleCount(list.filter((x) => x.state === 'pending').length);
      }
      syncApprovals();
      if (!document.activeElement || document.activeElement === document.body) {
        const t = $('#approvals-title');
        if (t) t.focus();
      }
      scheduleRefresh();
    } catch (e) {
      setBusy(false);
      fail(e);
    }
  };
  approveBtn.addEventListener('click', () => decide('approve', {}));
  const submitDeny = () => {
    const reason = reasonInput.value.trim();
    decide('deny', reason ? { reason } : {});
  };
  denyBtn.addEventListener('click', () => {
    if (denyForm.hidden) {
      denyForm.hidden = false;
      denyBtn.textContent = 'Confirm deny';
      reasonInput.focus();
    } else {
      submitDeny();
    }
  });
  denyForm.addEventListener('submit', (ev) => { ev.preventDefault(); submitDeny(); });
  cancelBtn.addEventListener('click', () => {
    denyForm.hidden = true;
    reasonInput.value = '';
    denyBtn.textContent = 'Deny';
    denyBtn.focus();
  });
  return li;
}

function renderUnknown(box, unk) {
  const list = unk.payments || [];
  $('#unknown-count').textContent = list.length ? `(${list.length}${unk.next_cursor ? '+' : ''})` : '';
  if (!list.length) {
    box.replaceChildren(empty('No payment has an unknown outcome.'));
    return;
  }
  box.replaceChildren(
    h('ul', { class: 'cards', 'aria-labelledby': 'unknown-title' }, list.map((p) =>
      h('li', { class: 'card unknown-card', 'data-payment-id': p.id },
        h('h3', { class: 'amount' },
          h('a', { href: `#/payments/${encodeURIComponent(p.id)}` }, `${fmtSats(p.amount_sats)} sats to `,
            p.domain || 'an unnamed payee')),
        h('div', { class: 'meta' },
          stateBadge('unknown'),
          h('span', {}, 'Created ', timeEl(p.created_at)),
          h('span', { class: 'mono', title: p.payment_hash || '' }, 'Hash ', shortHash(p.payment_hash)),
          p.client ? h('span', {}, 'Client: ', h('b', {}, p.client)) : null),
        h('p', { class: 'callout' },
          'satwarden keeps asking the wallet; the budget stays held until it knows. If it never learns, decide with ',
          h('code', {}, `satwarden payments resolve ${p.id} --paid|--failed`), '.')))),
    unk.next_cursor ? h('p', {}, h('a', { href: '#/payments?state=unknown' }, 'See all payments with an unknown outcome')) : null);
}

// ---- Spending chart (inline SVG built with DOM calls) ----
const MAX_SERIES = 9;   // the 10th color is "other"
function niceStep(x) {
  if (x <= 1) return 1;
  const e = 10 ** Math.floor(Math.log10(x));
  const f = x / e;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e;
}
function compact(n) {
  if (n >= 1e6) return `${NUM3.format(n / 1e6)}M`;
  if (n >= 1e4) return `${NUM3.format(n / 1e3)}k`;
  return NUM.format(n);
}
function renderChart(box, data, mode) {
  const buckets = data.buckets || [];
  const names = (data.domains || []).slice();
  for (const b of buckets) for (const d of Object.keys(b.by_domain || {})) if (!names.includes(d)) names.push(d);
  const shown = names.slice(0, MAX_SERIES);
  const rest = names.slice(MAX_SERIES);
  const series = shown.map((d, i) => ({ key: d, label: d || '(no domain)', cls: `c${i}` }));
  if (rest.length) series.push({ key: null, label: `other (${rest.length} domains)`, cls: 'c9' });
  const val = (b, sr) => (sr.key === null
    ? rest.reduce((acc, d) => acc + ((b.by_domain || {})[d] || 0), 0)
    : (b.by_domain || {})[sr.key] || 0);
  const bucketLabel = (b) => {
    const d = new Date(b.start * 1000);
    return mode === 'hour'
      ? d.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric' });
  };
  const totals = buckets.map((b) => Math.max(b.total_sats || 0, series.reduce((a, sr) => a + val(b, sr), 0)));
  const total = totals.reduce((a, x) => a + x, 0);
  const period = mode === 'hour' ? 'the last 48 hours, by hour' : 'the last 7 days, by day';

  if (!buckets.length || total === 0) {
    box.replaceChildren(empty(`Nothing was spent in ${period.replace(/, by .*/, '')}.`));
    return;
  }
  const W = Math.round(Math.min(720, Math.max(300, box.clientWidth || 720))); const H = 260;
  const m = { l: 56, r: 10, t: 12, b: 36 };
  const pw = W - m.l - m.r; const ph = H - m.t - m.b;
  const step = niceStep(Math.max(...totals) / 4);
  const yMax = step * 4;
  const y = (v) => m.t + ph - (v / yMax) * ph;
  const slot = pw / buckets.length;
  const bw = Math.max(2, slot * 0.72);

  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', focusable: 'false',
    'aria-label': `Bar chart of spending over ${period}: ${fmtSats(total)} sats in total. The same numbers are in the table that follows.`,
  });
  const axis = s('g', { class: 'axis' });
  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    axis.appendChild(s('line', { class: i === 0 ? 'baseline' : 'gridline', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    axis.appendChild(s('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, compact(v)));
  }
  buckets.forEach((b, i) => {
    const d = new Date(b.start * 1000);
    let label = null;
    if (mode === 'hour') {
      if (d.getHours() % 6 === 0) label = d.getHours() === 0 ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : `${String(d.getHours()).padStart(2, '0')}:00`;
    } else {
      label = d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric' });
    }
    if (label) axis.appendChild(s('text', { x: m.l + slot * i + slot / 2, y: H - m.b + 16, 'text-anchor': 'middle' }, label));
  });
  svg.appendChild(axis);
  const bars = s('g', {});
  buckets.forEach((b, i) => {
    const x = m.l + slot * i + (slot - bw) / 2;
    let acc = 0;
    const g = s('g', {}, s('title', {}, `${bucketLabel(b)}: ${fmtSats(totals[i])} sats`));
    for (const sr of series) {
      const v = val(b, sr);
      if (v <= 0) continue;
      const top = y(acc + v);
      g.appendChild(s('rect', { class: `bar ${sr.cls}`, x: x.toFixed(1), y: top.toFixed(1), width: bw.toFixed(1), height: Math.max(0.5, y(acc) - top).toFixed(1) },
        s('title', {}, `${bucketLabel(b)} — ${sr.label}: ${fmtSats(v)} sats`)));
      acc += v;
    }
    bars.appendChild(g);
  });
  svg.appendChild(bars);

  const legend = h('ul', { class: 'legend', 'aria-label': 'Domains' },
    series.map((sr) => h('li', {}, h('span', { class: `swatch ${sr.cls}`, 'aria-hidden': 'true' }), sr.label)));
  const top = series.map((sr) => ({ sr, v: buckets.reduce((a, b) => a + val(b, sr), 0) })).sort((a, b) => b.v - a.v)[0];
  const table = h('table', {},
    h('caption', {}, `Spending over ${period}, in sats`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, mode === 'hour' ? 'Hour' : 'Day'),
      h('th', { scope: 'col' }, 'Total'),
      series.map((sr) => h('th', { scope: 'col' }, sr.label)))),
    h('tbody', {}, buckets.map((b, i) => h('tr', {},
      h('th', { scope: 'row' }, bucketLabel(b)),
      h('td', {}, fmtSats(totals[i])),
      series.map((sr) => h('td', {}, fmtSats(val(b, sr))))))));
  box.replaceChildren(
    h('p', {}, `${fmtSats(total)} sats spent over ${period.replace(/, by .*/, '')}`,
      top && top.v > 0 ? `; most to ${top.sr.label} (${fmtSats(top.v)} sats).` : '.'),
    svg, legend, h('div', { class: 'sr-only' }, table));
}

// ---- Payments list ----
const STATES = ['reserved', 'in_flight', 'settled', 'failed', 'released', 'unknown'];
const PROTOCOLS = ['bolt11', 'keysend', 'l402', 'mpp'];
function dateToUnix(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v || '');
  return m ? Math.floor(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime() / 1000) : null;
}
async function viewPayments(r, ctx) {
  setTitle('Payments · satwarden');
  const q = r.q;
  const field = (id, lbl, control) => h('div', { class: 'field' }, h('label', { for: id }, lbl), control);
  const select = (id, name, anyLabel, values, labels) => {
    const el = h('select', { id, name },
      h('option', { value: '' }, anyLabel),
      values.map((v) => h('option', { value: v }, labels[v] || v)));
    el.value = values.includes(q.get(name)) ? q.get(name) : '';
    return el;
  };
  const input = (id, name, type) => h('input', { id, name, type, value: q.get(name) || '', autocomplete: 'off' });
  const form = h('form', { class: 'panel', id: 'payments-filter', 'aria-label': 'Filter payments', role: 'search' },
    h('div', { class: 'form-grid' },
      field('f-state', 'State', select('f-state', 'state', 'Any state', STATES, STATE_LABEL)),
      field('f-domain', 'Domain', input('f-domain', 'domain', 'text')),
      field('f-client', 'Client', input('f-client', 'client', 'text')),
      field('f-protocol', 'Protocol', select('f-protocol', 'protocol', 'Any protocol', PROTOCOLS, PROTOCOL_LABEL)),
      field('f-since', 'Since', input('f-since', 'since', 'date'))),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters'),
      h('a', { href: '#/payments', class: 'btn' }, 'Clear'),
      h('a', { href: '/api/export.csv', download: 'satwarden-payments.csv', class: 'btn' }, 'Export CSV')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const name of ['state', 'domain', 'client', 'protocol', 'since']) {
      const v = String(form.elements[name].value || '').trim();
      if (v) p.set(name, v);
    }
    const hash = `#/payments${p.toString() ? `?${p}` : ''}`;
    if (location.hash === hash) route(false);
    else location.hash = hash;
  });

  const tbody = h('tbody', { id: 'payments-body' });
  const summary = h('p', { class: 'small muted', id: 'payments-summary' }, 'Loading…');
  const more = h('button', { type: 'button', class: 'btn load-more', hidden: true }, 'Load more');
  const table = h('table', { id: 'payments-table' },
    h('caption', { class: 'sr-only' }, 'Payments, newest first'),
    h('thead', {}, h('tr', {},
      ['Time', 'Amount (sats)', 'Fee (sats)', 'State', 'Domain', 'Protocol', 'Client', 'Tool'].map((t, i) =>
        h('th', { scope: 'col', class: i === 1 || i === 2 ? 'num' : null }, t)))),
    tbody);
  mount(title('Payments'), form, summary,
    h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Payments table', tabindex: '0' }, table), more);

  const apiParams = new URLSearchParams();
  for (const name of ['state', 'domain', 'client', 'protocol']) if (q.get(name)) apiParams.set(name, q.get(name));
  const since = dateToUnix(q.get('since'));
  if (since != null) apiParams.set('since', String(since));
  apiParams.set('limit', '50');
  let cursor = null;
  let pages = 0;
  let shown = 0;

  const row = (p) => {
    const tr = h('tr', { class: `clickable${p.state === 'unknown' ? ' row-unknown' : ''}`, 'data-payment-id': p.id, 'data-state': p.state },
      h('td', { class: 'nowrap' }, h('a', { href: `#/payments/${encodeURIComponent(p.id)}`, 'data-focus-key': `p${p.id}` }, fmtTime(p.created_at))),
      h('td', { class: 'num' }, fmtSats(p.amount_sats)),
      h('td', { class: 'num' }, fmtMsat(p.fee_msat)),
      h('td', {}, stateBadge(p.state)),
      h('td', {}, orNone(p.domain)),
      h('td', {}, PROTOCOL_LABEL[p.protocol] || orNone(p.protocol)),
      h('td', {}, orNone(p.client)),
      h('td', {}, orNone(p.tool)));
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a')) return;
      location.hash = `#/payments/${encodeURIComponent(p.id)}`;
    });
    return tr;
  };
  const load = async (reset) => {
    const p = new URLSearchParams(apiParams);
    if (!reset && cursor) p.set('cursor', cursor);
    more.disabled = true;
    try {
      const res = await api('GET', `/api/payments?${p}`);
      if (!ctx.alive()) return;
      const rows = (res.payments || []).map(row);
      if (reset) {
        keepFocus(tbody, () => tbody.replaceChildren(...rows));
        shown = rows.length;
        pages = 1;
      } else {
        tbody.append(...rows);
        shown += rows.length;
        pages++;
      }
      if (!shown) tbody.replaceChildren(h('tr', {}, h('td', { colspan: '8', class: 'empty' }, 'No payments match these filters.')));
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      summary.textContent = `Showing ${plural(shown, 'payment', 'payments')}${cursor ? ' (more available)' : ''}.`;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => load(false).catch(fail));
  // Live refresh only while the first page is shown, so "Load more" results are never thrown away.
  ctx.refresh = () => (pages <= 1 ? load(true) : Promise.resolve());
  await load(true);
}

// ---- One payment ----
async function viewPayment(r, ctx) {
  setTitle(`Payment ${r.id} · satwarden`);
  const body = h('div', { class: 'stack' }, loading());
  mount(h('a', { class: 'back', href: '#/payments', 'data-focus-key': 'back' }, '← Back to payments'),
    title(`Payment #${r.id}`), body);

  const load = async () => {
    let d;
    try {
      d = await api('GET', `/api/payments/${encodeURIComponent(r.id)}`);
    } catch (e) {
      if (ctx.alive() && !e.loginRequired) body.replaceChildren(empty('This payment could not be loaded.'));
      throw e;
    }
    if (!ctx.alive()) return;
    const wasOpen = !!$('details[open]', body);   // keep the raw invoice open across live refreshes
    keepFocus($('#view'), () => body.replaceChildren(...paymentDetail(d)));
    if (wasOpen && $('details', body)) $('details', body).open = true;
  };
  ctx.refresh = load;
  await load();
}

function kv(pairs) {
  const dl = h('dl', { class: 'kv' });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.append(h('dt', {}, k), h('dd', {}, v == null || v === '' ? '—' : v));
  }
  return dl;
}
function panel(id, heading, ...content) {
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, heading), ...content);
}
function paymentDetail(d) {
  const p = d.payment || {};
  const out = [];
  out.push(panel('pay-summary', 'Summary',
    kv([
      ['State', stateBadge(p.state)],
      ['Amount', `${fmtSats(p.amount_sats)} sats`],
      ['Fee', p.fee_msat == null ? '—' : `${fmtMsat(p.fee_msat)} sats`],
      ['Domain', h('span', { class: 'wrap-any' }, orNone(p.domain))],
      ['Protocol', PROTOCOL_LABEL[p.protocol] || p.protocol],
      ['Tool', p.tool],
      ['Client', p.client],
      ['Envelope', p.envelope],
      ['Created', timeEl(p.created_at)],
      ['Settled', p.settled_at == null ? '—' : timeEl(p.settled_at)],
      ['Latency', p.latency_ms == null ? '—' : `${NUM.format(p.latency_ms)} ms`],
      ['Error code', p.error_code ? h('code', {}, p.error_code) : '—'],
      ['Wallet said', p.wallet_said],
      ['Resolved by', p.resolved_by],
      ['Next check', p.next_check_at == null ? undefined : h('span', {}, timeEl(p.next_check_at), ` (${fmtRel(p.next_check_at)})`)],
      ['Request id', p.request_id ? h('code', {}, p.request_id) : '—'],
      ['Payment hash', h('code', { class: 'mono' }, orNone(p.payment_hash))],
    ]),
    p.what_next ? h('p', { class: 'callout wrap-any' }, h('b', {}, 'What happens next: '), p.what_next) : null));

  const inv = d.invoice;
  if (inv) {
    out.push(panel('pay-invoice', 'Invoice',
      kv([
        ['Amount', inv.amount_sats == null ? 'any amount (the payer chooses)' : `${fmtSats(inv.amount_sats)} sats`],
        ['Description', inv.description == null ? (inv.description_hash ? h('span', {}, 'hash only: ', h('code', { class: 'mono' }, inv.description_hash)) : '—') : h('span', { class: 'wrap-any' }, inv.description)],
        ['Payee', h('code', { class: 'mono' }, orNone(inv.payee))],
        ['Created', timeEl(inv.created_at)],
        ['Expires', h('span', {}, timeEl(inv.expires_at), inv.expired ? ' ' : '', inv.expired ? h('span', { class: 'badge warn' }, 'expired') : null)],
        ['Network', inv.network],
        ['Payment hash', h('code', { class: 'mono' }, orNone(inv.payment_hash))],
      ]),
      p.invoice ? h('details', {}, h('summary', {}, 'Show the invoice'), h('p', { class: 'mono invoice-raw' }, p.invoice)) : null));
  } else {
    out.push(panel('pay-invoice', 'Invoice', h('p', { class: 'empty' },
      p.protocol === 'keysend' ? 'A keysend payment has no invoice.' : 'No invoice could be decoded for this payment.')));
  }

  const tl = d.timeline || [];
  out.push(panel('pay-timeline', 'Timeline', tl.length
    ? h('ol', { class: 'timeline' }, tl.map((e) => h('li', {},
      h('div', {}, timeEl(e.at), ' ', stateBadge(e.state)),
      e.note ? h('div', { class: 'small wrap-any' }, e.note) : null)))
    : empty('No recorded state changes.')));

  const a = d.approval;
  if (a) {
    out.push(panel('pay-approval', 'Approval',
      kv([
        ['State', stateBadge(a.state)],
        ['Purpose', a.purpose ? h('span', { class: 'wrap-any' }, a.purpose) : '—'],
        ['Why it was asked', a.reasons && a.reasons.length ? a.reasons.join('; ') : '—'],
        ['Asked', a.created_at == null ? '—' : timeEl(a.created_at)],
        ['Decided', a.decided_at == null ? '—' : timeEl(a.decided_at)],
        ['Decided by', a.decided_by],
        ['Reason', a.reason],
      ])));
  }

  const c = d.credential;
  let credText;
  if (!c || c.state === 'none') credText = h('p', {}, 'No credential is stored for this payment.');
  else if (c.state === 'active') {
    credText = h('p', {}, h('span', { class: 'badge ok' }, 'active'), ' for ', h('span', { class: 'wrap-any' }, orNone(c.origin)),
      c.expires_at == null ? ', no expiry.' : h('span', {}, ', expires ', timeEl(c.expires_at), '.'));
  } else {
    credText = h('p', {}, h('span', { class: 'badge' }, c.state), c.origin ? ` (${c.origin})` : '',
      c.state === 'forgotten' ? ' — satwarden no longer holds it.' : '');
  }
  out.push(panel('pay-credential', 'Credential', credText));
  return out;
}

// ---- Policy ----
const TIGHTEN = [
  ['per_call', 'max_sats', 'Per payment'],
  ['hour', 'hour_sats', 'Per hour'],
  ['day', 'day_sats', 'Per day'],
  ['week', 'week_sats', 'Per week'],
  ['month', 'month_sats', 'Per month'],
  ['lifetime', 'lifetime_sats', 'Lifetime'],
  ['approve_above', 'approve_above_sats', 'Ask me above'],
];
async function viewPolicy(r, ctx) {
  setTitle('Policy · satwarden');
  const limitsBox = h('div', {}, loading());
  const listsBox = h('div', {});
  const hints = {};
  const inputs = TIGHTEN.map(([field, param, label]) => {
    const id = `t-${param}`;
    hints[field] = h('div', { class: 'hint', id: `${id}-hint` }, '');
    return h('div', { class: 'field' },
      h('label', { for: id }, `${label} (sats)`),
      h('input', { id, name: param, type: 'number', min: '0', step: '1', inputmode: 'numeric', 'aria-describedby': `${id}-hint` }),
      hints[field]);
  });
  const form = h('form', { id: 'tighten-form', novalidate: true },
    h('p', { class: 'small muted' }, 'Limits can only be lowered here; satwarden refuses a higher value. Fill in only the limits you want to change.'),
    h('div', { class: 'form-grid' }, inputs),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Tighten limits')));
  const resetBtn = h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'reset-policy' }, 'Undo run-time tightenings');

  mount(title('Policy'),
    panel('limits-title', 'Limits', limitsBox),
    panel('tighten-title', 'Tighten', form),
    panel('reset-title', 'Undo run-time tightenings',
      h('p', { class: 'small' }, 'Go back to the limits from the configuration file, environment and flags.'),
      h('div', { class: 'actions' }, resetBtn)),
    panel('lists-title', 'Domains and protocols', listsBox),
    panel('export-title', 'Export', h('p', {}, h('a', { href: '/api/export.csv', download: 'satwarden-payments.csv' }, 'Export CSV'),
      ' — every payment in the ledger, as a spreadsheet file.')));

  const load = async () => {
    const pol = await api('GET', '/api/policy');
    if (!ctx.alive()) return;
    renderLimits(limitsBox, pol.limits || []);
    for (const [field] of TIGHTEN) {
      const l = (pol.limits || []).find((x) => x.field === field);
      hints[field].textContent = l ? `now: ${l.effective_sats == null ? 'no limit' : `${fmtSats(l.effective_sats)} sats`}` : '';
    }
    renderLists(listsBox, pol);
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [, param, label] of TIGHTEN) {
      const raw = String(form.elements[param].value || '').trim();
      if (!raw) continue;
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < 0) {
        showError(`${label}: enter a whole number of sats (0 or more).`);
        form.elements[param].focus();
        return;
      }
      body[param] = n;
    }
    if (!Object.keys(body).length) {
      showError('Fill in at least one limit to tighten.');
      return;
    }
    const btn = $('button[type="submit"]', form);
    btn.disabled = true;
    try {
      const res = await api('POST', '/api/policy/tighten', body);
      form.reset();
      showNotice(res.message || 'Limits tightened.');
      await load();
    } catch (e) {
      fail(e);
    } finally {
      btn.disabled = false;
    }
  });

  let armTimer = null;
  const disarm = () => {
    clearTimeout(armTimer);
    resetBtn.classList.remove('btn-armed');
    resetBtn.removeAttribute('data-armed');
    resetBtn.textContent = 'Undo run-time tightenings';
  };
  resetBtn.addEventListener('click', async () => {
    if (!resetBtn.hasAttribute('data-armed')) {
      resetBtn.setAttribute('data-armed', '');
      resetBtn.classList.add('btn-armed');
      resetBtn.textContent = 'Click again to confirm';
      armTimer = setTimeout(disarm, 8000);
      return;
    }
    disarm();
    resetBtn.disabled = true;
    try {
      const res = await api('POST', '/api/policy/reset', {});
      showNotice(res.message || 'Run-time tightenings undone.');
      await load();
    } catch (e) {
      fail(e);
    } finally {
      resetBtn.disabled = false;
    }
  });

  ctx.refresh = load;
  await load();
}

function renderLimits(box, limits) {
  if (!limits.length) {
    box.replaceChildren(empty('No limits reported.'));
    return;
  }
  const cell = (v) => (v == null ? 'no limit' : `${fmtSats(v)} sats`);
  box.replaceChildren(h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Limits table', tabindex: '0' },
    h('table', { id: 'limits-table' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Limit'),
        h('th', { scope: 'col', class: 'num' }, 'Effective'),
        h('th', { scope: 'col', class: 'num' }, 'Configured'),
        h('th', { scope: 'col' }, 'Source'),
        h('th', { scope: 'col' }, 'Run time'))),
      h('tbody', {}, limits.map((l) => h('tr', { 'data-field': l.field },
        h('th', { scope: 'row' }, l.label || l.field),
        h('td', { class: 'num' }, cell(l.effective_sats)),
        h('td', { class: 'num' }, cell(l.configured_sats)),
        h('td', {}, orNone(l.source)),
        h('td', {}, l.tightened ? h('span', { class: 'badge warn' }, 'tightened at run time') : '—')))))));
}

function renderLists(box, pol) {
  const lists = pol.lists || {};
  const eff = pol.effective || {};
  const chips = (arr, none) => (arr && arr.length
    ? h('ul', { class: 'legend' }, arr.map((x) => h('li', { class: 'mono' }, x)))
    : h('span', { class: 'muted' }, none));
  const nodes = [kv([
    ['Allowed domains', lists.allow_domains == null ? h('span', { class: 'muted' }, 'any domain (no allow list)') : chips(lists.allow_domains, 'none: no domain may be paid')],
    ['Denied domains', chips(lists.deny_domains, 'none')],
    ['Protocols', chips((lists.protocols || []).map((p) => PROTOCOL_LABEL[p] || p), 'none')],
    ['Fee allowance', eff.fee ? `max(${fmtMsat(eff.fee.base_msat)} sats, ${NUM.format(eff.fee.ppm)} ppm of the amount)` : undefined],
  ])];
  const env = pol.envelope_tightenings ? Object.entries(pol.envelope_tightenings) : [];
  nodes.push(h('h3', { class: 'block' }, 'Envelope tightenings'));
  if (!env.length) nodes.push(empty('No envelope was tightened at run time.'));
  else {
    nodes.push(kv(env.map(([name, t]) => [name,
      t && typeof t === 'object'
        ? Object.entries(t).map(([k, v]) => {
          if (typeof v === 'number' && k.endsWith('_msat')) return `${k.slice(0, -5).replace(/_/g, ' ')}: ${fmtMsat(v)} sats`;
          if (typeof v === 'number' && k.endsWith('_sats')) return `${k.slice(0, -5).replace(/_/g, ' ')}: ${fmtSats(v)} sats`;
          return `${k.replace(/_/g, ' ')}: ${typeof v === 'number' ? NUM.format(v) : JSON.stringify(v)}`;
        }).join('; ')
        : String(t)])));
  }
  box.replaceChildren(...nodes);
}

// ---- Start ----
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
