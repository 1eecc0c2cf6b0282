// Shared by satwarden's MCP Apps (apps/*.html): inlined by the server where an app says /*@sw-app-common*/, inside
// the app's own function scope (each app stays one self-contained document). Expects `root` (<html>) and `P`
// (window.parent). Provides the theme, JSON-RPC 2.0 over postMessage with the host (request, notify, onRequest,
// onNote), size reporting (size, ready), and DOM/text helpers (el, fmt, parse, firstText).
// Theme: the host's, else the system's.
const mq = window.matchMedia ? matchMedia('(prefers-color-scheme: dark)') : null;
let hostTheme = null;
const applyTheme = () => root.setAttribute('data-theme',
  hostTheme === 'dark' || hostTheme === 'light' ? hostTheme : (mq && mq.matches ? 'dark' : 'light'));
applyTheme();
if (mq && mq.addEventListener) mq.addEventListener('change', applyTheme);
const setContext = (c) => { if (c && 'theme' in Object(c)) { hostTheme = c.theme; applyTheme(); } };

// JSON-RPC 2.0 over postMessage with the host.
let nextId = 0;
const waiting = {}, onRequest = {}, onNote = {};
const send = (m) => P.postMessage(Object.assign({ jsonrpc: '2.0' }, m), '*');
const request = (method, params) => new Promise((resolve, reject) => {
  const id = ++nextId;
  waiting[id] = { resolve, reject };
  send({ id, method, params: params || {} });
});
const notify = (method, params) => send({ method, params: params || {} });
addEventListener('message', (ev) => {
  const m = ev.data;
  if (ev.source !== P || !m || typeof m !== 'object' || m.jsonrpc !== '2.0') return;
  if (typeof m.method === 'string') {
    if (m.id == null) return onNote[m.method] && onNote[m.method](m.params || {});
    const h = onRequest[m.method];
    if (!h) return send({ id: m.id, error: { code: -32601, message: 'Method not found: ' + m.method } });
    Promise.resolve(m.params || {}).then(h).then((r) => send({ id: m.id, result: r || {} }),
      (e) => send({ id: m.id, error: { code: -32603, message: String(e && e.message) } }));
    return;
  }
  const w = m.id != null && waiting[m.id];
  if (!w) return;
  delete waiting[m.id];
  if (m.error) w.reject(new Error(m.error.message || 'request failed')); else w.resolve(m.result);
});

// Size: the content's height (at max-content, so it can shrink).
let ready = false, lastH = -1;
const size = (force) => {
  if (!ready) return;
  const old = root.style.height;
  root.style.height = 'max-content';
  const h = Math.ceil(root.getBoundingClientRect().height) || root.scrollHeight;
  root.style.height = old;
  if (!force && h === lastH) return;
  lastH = h;
  notify('ui/notifications/size-changed', { height: h });
};
if (window.ResizeObserver) { const ro = new ResizeObserver(() => size(false)); ro.observe(root); ro.observe(document.body); }

// Text goes in through textContent only.
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
};
const fmt = (n) => (typeof n === 'number' && isFinite(n) ? n.toLocaleString('en-US') : '?');
const parse = (t) => { try { return JSON.parse(t); } catch (e) { return null; } };
const firstText = (r) => ((r && Array.isArray(r.content) ? r.content : [])
  .find((c) => c && c.type === 'text' && typeof c.text === 'string') || { text: '' }).text;
