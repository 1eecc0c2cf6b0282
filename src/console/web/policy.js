// satwarden — the owner's console: the policy page (limits and where they came from, tighten, undo, lists, export).
// Loaded after app.js (shared state, DOM helpers, API, router).
'use strict';

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
