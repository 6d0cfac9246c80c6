// The approvals dashboard: a client of the same /v1 API agents and bots use. Everything an
// agent sent is shown as text (never as HTML). Approve and deny are passkey signatures over a
// challenge that commits to the approval and its request (docs/operators.md).

const $ = (id) => document.getElementById(id);
let csrf = null;
let grants = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function toast(message, bad = false) {
  const t = $('toast');
  t.textContent = message;
  t.className = bad ? 'toast bad' : 'toast';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
}

class ApiFailure extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (!response.ok) throw new ApiFailure(response.status, parsed);
  return parsed;
}

// ---------------------------------------------------------------- passkeys

async function createPasskey(publicKey) {
  const options = PublicKeyCredential.parseCreationOptionsFromJSON(publicKey);
  const credential = await navigator.credentials.create({ publicKey: options });
  return credential.toJSON();
}

async function getAssertion(publicKey) {
  const options = PublicKeyCredential.parseRequestOptionsFromJSON(publicKey);
  const credential = await navigator.credentials.get({ publicKey: options });
  return credential.toJSON();
}

async function enroll(token) {
  const start = await api('POST', '/v1/operators/enroll/start', { token });
  $('enroll-name').textContent = start.operator.name;
  const credential = await createPasskey(start.publicKey);
  const done = await api('POST', '/v1/operators/enroll/finish', { token, ceremony: start.ceremony, credential });
  history.replaceState(null, '', '/dashboard');
  return done;
}

async function signIn(name) {
  const start = await api('POST', '/v1/operators/sign-in/start', { name });
  const credential = await getAssertion(start.publicKey);
  return api('POST', '/v1/operators/sign-in/finish', { ceremony: start.ceremony, credential });
}

/** Approve or deny: the server's challenge commits to this decision on this request. */
async function decide(id, decision, ttl) {
  const challenge = await api('POST', `/v1/approvals/${encodeURIComponent(id)}/challenge`,
    { decision, ttl: ttl || undefined });
  const credential = await getAssertion(challenge.publicKey);
  const body = { signature: { ceremony: challenge.ceremony, credential } };
  if (decision === 'approve' && ttl) body.ttl = ttl;
  return api('POST', `/v1/approvals/${encodeURIComponent(id)}/${decision}`, body);
}

// ---------------------------------------------------------------- views

function requestFacts(request, permission) {
  const row = (k, v) => [el('dt', {}, k), el('dd', {}, v ?? '—')];
  return el('dl', { class: 'req' },
    row('agent', request.agentId), row('action', request.action),
    row('vendor', request.vendor), row('resource', request.resource),
    row('permission', permission));
}

function paramsBlock(params) {
  return el('pre', { class: 'params', 'aria-label': 'params' }, JSON.stringify(params ?? {}, null, 2));
}

function approvalItem(a) {
  const ttl = el('select', { 'aria-label': `grant window for ${a.approvalId}` },
    el('option', { value: '' }, 'grant: policy default'),
    ...['15m', '30m', '1h', '2h', '8h'].map((t) => el('option', { value: t }, `grant: ${t}`)));
  const act = (decision) => async (event) => {
    const buttons = event.target.closest('.actions').querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await decide(a.approvalId, decision, ttl.value);
      toast(decision === 'approve' ? `approved ${a.approvalId}: the grant is open` : `denied ${a.approvalId}`);
      await refresh();
    } catch (e) {
      toast(`${decision} failed: ${e.message}`, true);
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const pending = a.status === 'pending';
  return el('li', { class: 'item approval', 'data-approval': a.approvalId },
    el('h3', {}, el('span', { class: `tag ${pending ? 'tag-approval' : 'tag-denied'}` }, a.status),
      el('a', { href: `/dashboard/approvals/${a.approvalId}` }, a.approvalId)),
    requestFacts(a.request || {}, a.permission),
    paramsBlock((a.request || {}).params),
    el('p', { class: 'muted small' }, `held ${when(a.createdAt)} · expires ${when(a.expiresAt)}`),
    pending ? el('div', { class: 'actions' }, ttl,
      el('button', { type: 'button', class: 'primary', onclick: act('approve') }, 'Approve with passkey'),
      el('button', { type: 'button', class: 'danger', onclick: act('deny') }, 'Deny')) : null);
}

function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

function left(expiresAt) {
  const ms = new Date(expiresAt).getTime() - Date.now();
  if (!(ms > 0)) return 'ended';
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function grantItem(g) {
  const request = g.request || {};
  return el('li', { class: 'item grant', 'data-grant': g.grantId },
    el('h3', {}, el('span', { class: 'tag tag-allowed' }, 'grant'), el('code', {}, g.grantId)),
    requestFacts(request, g.permission),
    el('p', { class: 'countdown' }, el('span', { class: 'left', 'data-expires': g.expiresAt }, left(g.expiresAt)),
      el('span', { class: 'muted small' }, ` left · until ${when(g.expiresAt)} · ${g.scope || 'request'} scope`)),
    el('div', { class: 'actions' }, el('button', {
      type: 'button', class: 'danger', onclick: async () => {
        try {
          await api('DELETE', `/v1/grants/${encodeURIComponent(g.grantId)}`);
          toast(`revoked ${g.grantId}`);
          await refresh();
        } catch (e) { toast(`revoke failed: ${e.message}`, true); }
      },
    }, 'Revoke')));
}

function replaceList(list, items, empty) {
  list.replaceChildren(...items);
  if (empty) empty.hidden = items.length > 0;
}

async function refresh() {
  const [pending, live] = await Promise.all([api('GET', '/v1/approvals'), api('GET', '/v1/grants')]);
  const approvals = pending.approvals || [];
  grants = live.grants || [];
  $('pending-count').textContent = approvals.length;
  $('grants-count').textContent = grants.length;
  replaceList($('pending-list'), approvals.map(approvalItem), $('pending-empty'));
  replaceList($('grants-list'), grants.map(grantItem), $('grants-empty'));
  const match = location.pathname.match(/^\/dashboard\/approvals\/([A-Za-z0-9_]+)$/);
  if (match) {
    try {
      const one = await api('GET', `/v1/approvals/${match[1]}`);
      replaceList($('approval-one'), [approvalItem(one.approval)]);
    } catch (e) {
      replaceList($('approval-one'), [el('li', { class: 'item' }, `${match[1]}: ${e.message}`)]);
    }
  }
}

function outcome(r) {
  if (r.event === 'decision') return el('span', { class: `tag tag-${r.decision === 'allowed' ? 'allowed' : r.decision === 'denied' ? 'denied' : 'approval'}` }, r.reason || r.decision);
  return el('span', { class: 'tag tag-approval' }, r.event);
}

function by(r) {
  const o = r.operator;
  if (!o) return '';
  if (o.via === 'passkey') return `${o.name} (passkey)`;
  if (o.via === 'token') return `${o.name} (token ${o.tokenId})`;
  return o.name;
}

function auditRow(r) {
  const what = [r.agentId, r.action, r.vendor, r.resource].filter(Boolean).join(' · ');
  return el('tr', { 'data-seq': r.seq },
    el('td', { class: 'num' }, r.seq), el('td', {}, when(r.time)), el('td', {}, r.event),
    el('td', { class: 'req' }, what), el('td', {}, outcome(r)), el('td', {}, by(r)));
}

async function loadAudit() {
  let after = 0;
  const rows = [];
  for (let page = 0; page < 20; page += 1) {
    const got = await api('GET', `/v1/audit?after=${after}&limit=500`);
    const records = got.records || [];
    rows.push(...records);
    if (records.length < 500) break;
    after = got.next;
  }
  $('audit-rows').replaceChildren(...rows.reverse().map(auditRow));
  const chain = $('chain');
  try {
    const check = await api('GET', '/v1/audit/verify');
    if (check.ok) {
      chain.className = 'chain ok';
      chain.textContent = `chain ok · ${check.records} records · ${check.signedByOperators} signed by operators`;
    } else {
      chain.className = 'chain bad';
      chain.textContent = `chain BROKEN at seq ${check.firstBrokenSeq}: ${check.problem}`;
    }
  } catch (e) {
    chain.className = 'chain unknown';
    chain.textContent = `chain not checked: ${e.message}`;
  }
}

async function loadAgents() {
  const got = await api('GET', '/v1/agents');
  $('agents-list').replaceChildren(...(got.agents || []).map((a) => el('li', { class: 'item' },
    el('h3', {}, el('code', {}, a.agentId), a.revoked ? el('span', { class: 'tag tag-denied' }, 'revoked') : null),
    el('p', { class: 'muted small' }, `passport ${a.passportId} · ${a.permissions.length} permissions${a.expiresAt ? ` · expires ${when(a.expiresAt)}` : ''}`),
    a.keys.length
      ? el('ul', { class: 'list' }, a.keys.map((k) => el('li', {}, el('code', {}, k.keyId),
        k.revokedAt ? ` revoked ${when(k.revokedAt)}` : ` active since ${when(k.createdAt)}`)))
      : el('p', { class: 'muted small' }, 'no key yet'))));
}

async function loadOperators() {
  const [operators, tokens] = await Promise.all([api('GET', '/v1/operators'), api('GET', '/v1/operators/tokens')]);
  $('operators-list').replaceChildren(...operators.map((o) => el('li', { class: 'item' },
    el('h3', {}, o.name, o.removedAt ? el('span', { class: 'tag tag-denied' }, 'removed') : null),
    el('p', { class: 'muted small' }, `${o.operatorId} · ${o.passkeys} passkey${o.passkeys === 1 ? '' : 's'} · added ${when(o.createdAt)}`))));
  $('tokens-list').replaceChildren(...tokens.map((t) => el('li', { class: 'item' },
    el('h3', {}, el('code', {}, t.tokenId), t.label, t.revokedAt ? el('span', { class: 'tag tag-denied' }, 'revoked') : null),
    t.revokedAt ? null : el('div', { class: 'actions' }, el('button', {
      type: 'button', class: 'danger small', onclick: async () => {
        try { await api('DELETE', `/v1/operators/tokens/${t.tokenId}`); await loadOperators(); } catch (e) { toast(e.message, true); }
      },
    }, 'Revoke')))));
}

// ---------------------------------------------------------------- navigation

function viewOf(path) {
  if (/^\/dashboard\/approvals\/[A-Za-z0-9_]+$/.test(path)) return 'approval';
  const m = path.match(/^\/dashboard\/(grants|audit|agents|operators)$/);
  return m ? m[1] : 'pending';
}

async function show(path) {
  const view = viewOf(path);
  for (const v of ['pending', 'approval', 'grants', 'audit', 'agents', 'operators']) $(`view-${v}`).hidden = v !== view;
  document.querySelectorAll('.tab').forEach((t) => {
    if (t.dataset.view === view) t.setAttribute('aria-current', 'page'); else t.removeAttribute('aria-current');
  });
  try {
    if (view === 'audit') await loadAudit();
    else if (view === 'agents') await loadAgents();
    else if (view === 'operators') await loadOperators();
    else await refresh();
  } catch (e) { toast(e.message, true); }
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[href^="/dashboard"]');
  if (!a || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  show(location.pathname);
});
window.addEventListener('popstate', () => show(location.pathname));

let events = null;
function listen() {
  if (events) return;
  events = new EventSource('/v1/events');
  let pendingRefresh = null;
  const onRecord = () => {
    clearTimeout(pendingRefresh);
    pendingRefresh = setTimeout(() => {
      refresh().catch(() => {});
      if (!$('view-audit').hidden) loadAudit().catch(() => {});
    }, 100);
  };
  for (const name of ['decision', 'approval.granted', 'approval.denied', 'grant.revoked']) events.addEventListener(name, onRecord);
  events.onopen = () => { $('live').className = 'live on'; };
  events.onerror = () => { $('live').className = 'live'; };
}

setInterval(() => {
  document.querySelectorAll('[data-expires]').forEach((n) => { n.textContent = left(n.dataset.expires); });
}, 1000);

async function enter(session) {
  csrf = session.csrfToken;
  $('who-name').textContent = session.operator.name;
  $('who').hidden = false;
  $('sign-in').hidden = true;
  $('enroll').hidden = true;
  $('app').hidden = false;
  listen();
  await show(location.pathname);
}

function gate(id) {
  $('app').hidden = true;
  $('sign-in').hidden = id !== 'sign-in';
  $('enroll').hidden = id !== 'enroll';
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try { await enter(await signIn($('sign-in-name').value.trim())); } catch (e) { toast(`sign-in failed: ${e.message}`, true); }
});

$('enroll-button').addEventListener('click', async () => {
  try { await enter(await enroll(location.hash.slice(1))); } catch (e) { toast(`enrollment failed: ${e.message}`, true); }
});

$('sign-out').addEventListener('click', async () => {
  try { await api('POST', '/v1/operators/sign-out'); } catch { /* the session is gone either way */ }
  location.assign('/dashboard');
});

$('token-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const made = await api('POST', '/v1/operators/tokens', { label: $('token-label').value.trim() });
    const shown = $('token-new');
    shown.hidden = false;
    shown.textContent = `${made.token} — shown once; give it to the bot as its bearer token`;
    $('token-label').value = '';
    await loadOperators();
  } catch (e) { toast(e.message, true); }
});

async function start() {
  if (location.pathname === '/dashboard/enroll') {
    gate('enroll');
    $('enroll-button').focus();
    return;
  }
  try {
    await enter(await api('GET', '/v1/operators/me'));
  } catch {
    gate('sign-in');
    $('sign-in-name').focus();
  }
}

start();
