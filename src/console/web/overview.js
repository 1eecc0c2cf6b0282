// satwarden — the owner's console: the overview (wallet, budget gauges, approvals, unknown payments) and the spending chart.
// Loaded after app.js (shared state, DOM helpers, API, router).
'use strict';

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
function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase(), maximumFractionDigits: 6 }).format(amount);
  } catch {
    return `${amount} ${currency.toUpperCase()}`;
  }
}
function fiatText(f) {
  if (f.price_unavailable) return `cap ${money(f.amount, f.currency)} — no fresh BTC price: payments under it are refused`;
  return `${money(f.spent ?? 0, f.currency)} of ${money(f.amount, f.currency)} (≈ ${fmtSats(f.limit_sats)} sats at ${money(f.price.btc_price, f.currency)}/BTC)`;
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
  // Caps in a currency on this window: the limit above is then the stricter of both at the current BTC price.
  for (const f of w.fiat || []) sub.push(fiatText(f));
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
  nodes.push(h('p', {}, 'Per payment: ', h('b', {}, g.per_call_sats == null ? 'no limit' : `up to ${fmtSats(g.per_call_sats)} sats`),
    ...(g.per_call_fiat || []).map((f) => ` · ${f.price_unavailable ? `cap ${money(f.amount, f.currency)} (no fresh price)` : `at most ${money(f.amount, f.currency)}`}`)));
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
  // replaceChildren would write a null as the text "null": the optional link goes through h(), which skips it.
  box.replaceChildren(h('div', {},
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
        h('p', { class: 'callout' }, h('b', {}, 'What happens next: '), unknownNext(p.id))))),
    unk.next_cursor ? h('p', {}, h('a', { href: '#/payments?state=unknown' }, 'See all payments with an unknown outcome')) : null));
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
