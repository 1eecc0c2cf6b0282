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
// What happens next to a payment whose outcome is unknown (overview cards and the payments table).
const unknownNext = (id) => ['satwarden keeps asking the wallet; the budget stays held until it knows. If it never ' +
  'learns, decide with ', h('code', {}, `satwarden payments resolve ${id} --paid|--failed`), '.'];
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

// ---- Start: after every view script has run (all are deferred, in order; DOMContentLoaded follows them) ----
document.addEventListener('DOMContentLoaded', boot);
