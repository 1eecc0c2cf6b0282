// satwarden — the owner's console: the payments table and one payment's page.
// Loaded after app.js (shared state, DOM helpers, API, router).
'use strict';

// ---- Payments list ----
const STATES = ['reserved', 'in_flight', 'settled', 'failed', 'released', 'unknown'];
const PROTOCOLS = ['bolt11', 'keysend', 'l402', 'mpp'];
// The start of a local calendar day (YYYY-MM-DD), or of the day after it (`after`: "until" includes its day).
function dateToUnix(v, after = false) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v || '');
  return m ? Math.floor(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (after ? 1 : 0)).getTime() / 1000) : null;
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
      field('f-since', 'Since', input('f-since', 'since', 'date')),
      field('f-until', 'Until', input('f-until', 'until', 'date'))),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters'),
      h('a', { href: '#/payments', class: 'btn' }, 'Clear'),
      h('a', { href: '/api/export.csv', download: 'satwarden-payments.csv', class: 'btn' }, 'Export CSV')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const name of ['state', 'domain', 'client', 'protocol', 'since', 'until']) {
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
  const until = dateToUnix(q.get('until'), true);   // through the end of that day
  if (until != null) apiParams.set('until', String(until));
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
    if (p.state !== 'unknown') return [tr];
    // An unknown outcome: highlighted, with what happens next in a row of its own.
    return [tr, h('tr', { class: 'row-unknown row-next', 'data-next-for': p.id },
      h('td', { colspan: '8' }, h('div', { class: 'next-step wrap-any' }, h('b', {}, 'What happens next: '), unknownNext(p.id))))];
  };
  const load = async (reset) => {
    const p = new URLSearchParams(apiParams);
    if (!reset && cursor) p.set('cursor', cursor);
    more.disabled = true;
    try {
      const res = await api('GET', `/api/payments?${p}`);
      if (!ctx.alive()) return;
      const list = res.payments || [];
      const rows = list.flatMap(row);
      if (reset) {
        keepFocus(tbody, () => tbody.replaceChildren(...rows));
        shown = list.length;
        pages = 1;
      } else {
        tbody.append(...rows);
        shown += list.length;
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
