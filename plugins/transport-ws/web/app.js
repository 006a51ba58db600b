// The page: login, session list, one session's transcript, approvals. State survives
// reconnects: each session remembers the last seq it rendered and resubscribes after it.
// Fleet mode (docs/fleet.md): with the fleet plugin the list is every machine's sessions
// (fleet.sessions), a remote session's id is "MACHINE/s-…" and the page simply uses that id
// (the daemon routes it); without it, fleet.* answer unknown_method and the page is as before.
import { Connection } from './protocol.js';
import { Transcript, money, tokens } from './render.js';

const $ = (id) => document.getElementById(id);
const MODES = ['default', 'acceptEdits', 'plan', 'dontAsk', 'auto', 'bypassPermissions'];
const TOKEN_KEY = 'ccmux.token';

const state = {
  conn: null,
  sessions: new Map(),   // id -> session object (session.list)
  pending: new Map(),    // approval id -> approval (every session)
  open: null,            // {id, transcript, lastSeq, subscribed}
  views: new Map(),      // id -> {transcript root, Transcript, lastSeq}: kept across navigation
  attachments: [],       // [{media_type, data, url}]
  fleet: null,           // null: not asked yet on this connection; then true/false (fleet plugin loaded)
  machines: [],          // fleet.machines / fleet.sessions' machines (fleet mode only)
  here: '',              // this machine's fleet name: its sessions are keyed without the prefix
};

// One key per session whatever form an answer uses: "HERE/s-…" (this machine's prefix, which
// fleet answers may carry) is "s-…"; another machine's "B/s-…" stays as it is.
function canon(id) {
  return state.here && typeof id === 'string' && id.startsWith(`${state.here}/`) ? id.slice(state.here.length + 1) : id;
}
// The machine of a session or approval id: its prefix, else this one.
function machineOf(id) {
  const slash = typeof id === 'string' ? id.indexOf('/') : -1;
  return slash > 0 ? id.slice(0, slash) : state.here;
}
const multiMachine = () => state.machines.length > 1;

function show(view) {
  for (const v of ['login', 'sessions', 'session']) $(v).hidden = v !== view;
  $('back').hidden = view !== 'session';
  if (view !== 'session') $('title').textContent = 'ccmux';
}

function setConn(s) {
  $('conn').dataset.state = s;
  $('conn').textContent = s;
}

// ---- login ----
function login(token) {
  if (state.conn) state.conn.stop();
  localStorage.setItem(TOKEN_KEY, token);
  state.conn = new Connection({
    token,
    onState: setConn,
    onMessage: onMessage,
    onAuthFailed: (m) => {
      $('login-error').textContent = m.message;
      if (m.code !== 'rate_limited') localStorage.removeItem(TOKEN_KEY);
      show('login');
    },
  });
  state.conn.onReady = onReady;
  window.ccmux = { conn: state.conn, state };  // for the browser tests and the curious
  state.conn.open();
}

$('login-form').onsubmit = (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  login($('token').value.trim());
};

// ---- after each (re)connect ----
async function onReady() {
  if (!$('login').hidden) show('sessions');
  state.fleet = null;  // ask again on every connection: the daemon may have restarted with another config
  await refreshSessions();
  if (state.open) subscribe(state.open);
  openFromHash();
  await renderMachineChoice();  // before the folders: they are the chosen machine's
  loadProjects();
}

// A link to one session, `<page>/#s=<id>` (the GitLab plugin's notes), opens it once the list
// is in; the hash is then dropped so Back and later reconnects stay on the list.
function openFromHash() {
  let hash = location.hash;
  try { hash = decodeURIComponent(hash); } catch (_) { return; }
  const m = /^#s=((?:[A-Za-z0-9_-]{1,64}\/)?s-[0-9a-f]{8})$/.exec(hash);
  if (!m || !state.conn || !state.sessions.has(canon(m[1]))) return;
  history.replaceState(null, '', location.pathname + location.search);
  openSession(canon(m[1]));
}
window.addEventListener('hashchange', openFromHash);

// Fleet mode when the fleet plugin answers; unknown_method (no plugin) is remembered for the
// connection, so the list costs one request either way. Any other failure of fleet.sessions
// still shows this machine's sessions (session.list) and tries the fleet again next time.
async function listSessions() {
  if (state.fleet !== false) {
    try {
      const r = await state.conn.request('fleet.sessions');
      state.fleet = true;
      setMachines(r.machines);
      return Array.isArray(r.sessions) ? r.sessions : [];
    } catch (err) {
      if (err.code === 'unknown_method') {
        state.fleet = false;
        setMachines([]);
      }
    }
  }
  return (await state.conn.request('session.list')).sessions;
}

function setMachines(machines) {
  state.machines = Array.isArray(machines) ? machines.filter((m) => m && typeof m.name === 'string') : [];
  const here = state.machines.find((m) => m.local === true);
  state.here = here ? here.name : '';
}

async function refreshSessions() {
  try {
    const sessions = await listSessions();
    state.sessions = new Map(sessions.map((s) => [canon(s.id), { ...s, id: canon(s.id) }]));
    renderSessions();
    if (state.open) renderSessionHead();
  } catch (_) { /* offline: the next reconnect refreshes */ }
}

// The machine the new-session form starts on: "" = the daemon this page talks to.
const chosenMachine = () => ($('new-host-field').hidden ? '' : $('new-host').value);

// Fleet mode: a machine selector in the new-session form, from fleet.machines (fresh: the
// list's copy may be seconds old), plus "auto" (the machine with that folder and the most room).
async function renderMachineChoice() {
  if (!state.fleet) { $('new-host-field').hidden = true; return; }
  try { setMachines((await state.conn.request('fleet.machines')).machines); } catch (_) { /* keep the list's copy */ }
  const sel = $('new-host');
  const keep = sel.value;
  sel.replaceChildren(new Option(state.here ? `${state.here} (this machine)` : 'this machine', ''),
    new Option('auto: where there is room', 'auto'));
  for (const m of state.machines) {
    if (m.local === true) continue;
    const o = new Option(m.state === 'up' ? `${m.name} (${m.live}/${m.max_live} live)` : `${m.name} (${m.state})`, m.name);
    o.disabled = m.state !== 'up';
    sel.append(o);
  }
  if ([...sel.options].some((o) => o.value === keep && !o.disabled)) sel.value = keep;
  $('new-host-field').hidden = false;
}

async function loadProjects() {
  const sel = $('new-cwd');
  // Another machine's folders, through its daemon (a request with `host` is routed there);
  // "auto" offers this machine's: the session goes where that folder exists.
  const host = chosenMachine();
  const params = host && host !== 'auto' ? { host } : {};
  try {
    const { roots } = await state.conn.request('projects.list', params);
    const keep = sel.value;
    sel.replaceChildren();
    for (const r of roots) {
      const group = document.createElement('optgroup');
      group.label = r.root;
      for (const f of [r.root, ...r.folders]) group.append(new Option(f === r.root ? `${f} (root)` : f.slice(r.root.length + 1), f));
      sel.append(group);
    }
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;  // another machine's list may lack it
  } catch (err) {
    if (host) { sel.replaceChildren(); $('new-error').textContent = `${host}: ${err.message}`; }
  }
}
$('new-host').onchange = () => { $('new-error').textContent = ''; loadProjects(); };

function renderSessions() {
  const list = $('session-list');
  list.replaceChildren();
  const sorted = [...state.sessions.values()].sort((a, b) => b.updated_ms - a.updated_ms);
  if (!sorted.length) list.append(Object.assign(document.createElement('p'), { className: 'hint', textContent: 'No sessions yet.' }));
  for (const s of sorted) {
    const li = document.createElement('li');
    li.dataset.testid = 'session-card';
    li.dataset.id = s.id;
    // A session of a machine that is down: listed from its last answer, greyed, still openable.
    const unreachable = s.reachable === false;
    if (unreachable) li.classList.add('unreachable');
    const top = document.createElement('div');
    top.className = 'top';
    const cwd = Object.assign(document.createElement('span'), { className: 'cwd', textContent: (s.cwd || '').split('/').slice(-2).join('/') });
    const pill = Object.assign(document.createElement('span'), {
      className: `pill ${unreachable ? 'unreachable' : s.state}`,
      textContent: unreachable ? 'unreachable' : stateLabel(s),
    });
    top.append(cwd, pill);
    if (multiMachine()) {
      const machine = Object.assign(document.createElement('span'), { className: 'machine', textContent: s.host || machineOf(s.id) });
      machine.dataset.testid = 'session-machine';
      top.insertBefore(machine, pill);
    }
    // A session in a git worktree: which repository and branch it works on.
    const where = s.branch ? Object.assign(document.createElement('div'), {
      className: 'branch',
      textContent: `⎇ ${s.branch} · ${(s.repo || '').split('/').pop()}`,  // the title (cwd) already ends in the worktree's NAME
    }) : null;
    if (where) where.dataset.testid = 'session-branch';
    const meta = document.createElement('div');
    meta.className = 'meta';
    const waiting = [...state.pending.values()].filter((a) => canon(a.session) === s.id).length;
    meta.append(...[
      s.id,
      `${money(s.cost_usd)}`,
      `${tokens(s.input_tokens)} in / ${tokens(s.output_tokens)} out`,
      `${s.turns} turns`,
      waiting ? `${waiting} waiting` : '',
    ].filter(Boolean).map((t) => Object.assign(document.createElement('span'), { textContent: t })));
    li.append(...[top, where, meta].filter(Boolean));
    li.onclick = () => openSession(s.id);
    list.append(li);
  }
}

// ---- new session ----
for (const m of MODES) { $('new-mode').append(new Option(m, m)); $('s-mode').append(new Option(m, m)); }
$('new-toggle').onclick = () => {
  $('new-form').hidden = !$('new-form').hidden;
  if (!$('new-form').hidden && state.fleet) renderMachineChoice();
};
$('new-form').onsubmit = async (e) => {
  e.preventDefault();
  $('new-error').textContent = '';
  const params = { cwd: $('new-cwd').value, permission_mode: $('new-mode').value };
  if (chosenMachine()) params.host = chosenMachine();  // fleet mode: that machine, or "auto"
  const prompt = $('new-prompt').value.trim();
  if (prompt) params.prompt = prompt;
  if ($('new-model').value.trim()) params.model = $('new-model').value.trim();
  // A worktree NAME: the session runs in its own git worktree of the chosen folder's repository.
  if ($('new-worktree').value.trim()) params.worktree = $('new-worktree').value.trim();
  if (params.worktree && $('new-branch').value.trim()) params.branch = $('new-branch').value.trim();
  try {
    const s = await state.conn.request('session.new', params);
    s.id = canon(s.id);
    state.sessions.set(s.id, s);
    $('new-form').hidden = true;
    $('new-prompt').value = '';
    $('new-worktree').value = '';
    $('new-branch').value = '';
    openSession(s.id);
  } catch (err) {
    $('new-error').textContent = err.message;
  }
};

// ---- one session ----
function viewFor(id) {
  if (!state.views.has(id)) {
    const root = document.createElement('div');
    const transcript = new Transcript(root, { answer });
    state.views.set(id, { id, root, transcript, lastSeq: 0, subscribed: false });
  }
  return state.views.get(id);
}

function openSession(id) {
  if (state.open && state.open.id !== id) unsubscribe(state.open);
  const v = viewFor(id);
  state.open = v;
  $('transcript').replaceChildren(v.root);
  $('title').textContent = id;
  show('session');
  renderSessionHead();
  subscribe(v);
  scrollTo(0, document.body.scrollHeight);
}

function subscribe(v) {
  if (!state.conn) return;
  // From the next event we have not seen: nothing twice, nothing missing.
  state.conn.request('subscribe', { session: v.id, from_seq: v.lastSeq + 1 })
    .then(() => { v.subscribed = true; })
    .catch(() => {});
}

function unsubscribe(v) {
  v.subscribed = false;
  state.conn.request('unsubscribe', { session: v.id }).catch(() => {});
}

// "waiting approval", "queued #2" (its place in the wait for a free claude slot), "parked".
function stateLabel(s) {
  const label = s.state.replace('_', ' ');
  return s.slot_queue_position > 0 ? `${label} #${s.slot_queue_position}` : label;
}

function renderSessionHead() {
  const s = state.sessions.get(state.open.id);
  if (!s) return;
  const unreachable = s.reachable === false;  // fleet mode: its machine is down
  $('s-state').className = `pill ${unreachable ? 'unreachable' : s.state}`;
  $('s-state').textContent = unreachable ? `unreachable (${machineOf(s.id)} is down)` : stateLabel(s);
  $('s-cost').textContent = `${money(s.cost_usd)} · ${tokens(s.input_tokens)} in / ${tokens(s.output_tokens)} out`;
  $('s-mode').value = s.permission_mode || 'default';
}

$('back').onclick = () => {
  if (state.open) unsubscribe(state.open);
  state.open = null;
  show('sessions');
  refreshSessions();
};

$('s-mode').onchange = async () => {
  try { await state.conn.request('session.mode', { session: state.open.id, mode: $('s-mode').value }); }
  catch (err) { alert(err.message); }
  refreshSessions();
};
$('s-interrupt').onclick = () => state.conn.request('session.interrupt', { session: state.open.id }).catch((e) => alert(e.message));
$('s-stop').onclick = () => {
  if (confirm('Stop this session\'s claude process?')) state.conn.request('session.stop', { session: state.open.id }).catch((e) => alert(e.message));
};

// Photos from a phone are large: scale to at most 1568 px (what the model uses) as JPEG.
async function toImageBlock(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 1568 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const url = canvas.toDataURL(file.type === 'image/png' && scale === 1 ? 'image/png' : 'image/jpeg', 0.85);
  const [head, data] = url.split(',');
  return { media_type: head.slice(5, head.indexOf(';')), data, url };
}

$('attach').onchange = async (e) => {
  for (const f of e.target.files) {
    try { state.attachments.push(await toImageBlock(f)); } catch (err) { alert(`cannot read ${f.name}: ${err.message}`); }
  }
  e.target.value = '';
  const box = $('attachments');
  box.replaceChildren(...state.attachments.map((a) => Object.assign(document.createElement('img'), { src: a.url, alt: 'attachment' })));
};

$('composer').onsubmit = async (e) => {
  e.preventDefault();
  const text = $('prompt').value.trim();
  if (!text && !state.attachments.length) return;
  const prompt = state.attachments.length
    ? [...state.attachments.map((a) => ({ type: 'image', source: { type: 'base64', media_type: a.media_type, data: a.data } })),
       ...(text ? [{ type: 'text', text }] : [])]
    : text;
  try {
    await state.conn.request('session.send', { session: state.open.id, prompt });
    $('prompt').value = '';
    state.attachments = [];
    $('attachments').replaceChildren();
  } catch (err) { alert(err.message); }
};
$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) $('composer').requestSubmit();
});

// ---- approvals (every screen shows how many wait) ----
async function answer(a, decision, extra = {}) {
  try {
    if (decision === 'always') {  // served by the approval plugin (approval.always)
      await state.conn.request('approval.always', { id: a.id });
      return;
    }
    const r = await state.conn.request('approval.answer', { id: a.id, decision, by: 'web', ...extra });
    if (r.status === 'already_resolved') alert(r.message);
  } catch (err) {
    alert(err.code === 'unknown_method' ? 'Enable the approval plugin to teach patterns' : err.message);
  }
}

function renderApprovals() {
  const n = state.pending.size;
  $('approvals-badge').hidden = n === 0;
  $('approvals-badge').textContent = `${n} waiting`;
  const list = $('approval-list');
  list.replaceChildren();
  for (const a of state.pending.values()) {
    const t = new Transcript(list, { answer });
    t.approval(a);
    const card = list.lastChild;
    const where = document.createElement('div');
    where.className = 'muted';
    // Fleet mode: approvals of every machine arrive here; say whose it is.
    const sid = canon(String(a.session || ''));
    where.textContent = multiMachine() || sid.includes('/') ? `${machineOf(sid) || 'this machine'} · session ${sid}` : `session ${sid}`;
    where.dataset.testid = 'approval-session';
    where.onclick = () => { $('approvals').hidden = true; openSession(sid); };
    card.prepend(where);
  }
  if (!n) list.append(Object.assign(document.createElement('p'), { className: 'hint', textContent: 'Nothing is waiting.' }));
  if (!$('sessions').hidden) renderSessions();
}
$('approvals-badge').onclick = () => { $('approvals').hidden = false; renderApprovals(); };
$('approvals-close').onclick = () => { $('approvals').hidden = true; };

// ---- messages from ccmuxd ----
function onMessage(m) {
  if (m.type === 'approvals') {
    state.pending = new Map(m.pending.map((a) => [a.id, a]));
    return renderApprovals();
  }
  if (m.type === 'approval_requested') {
    state.pending.set(m.approval.id, m.approval);
    return renderApprovals();
  }
  if (m.type === 'approval_resolved') {
    state.pending.delete(m.approval.id);
    return renderApprovals();
  }
  if (m.type === 'event') {
    const v = state.views.get(canon(m.session));
    if (!v || m.seq <= v.lastSeq) return;  // already shown (replays overlap live events)
    v.lastSeq = m.seq;
    v.transcript.event(m);
    if (['session_state', 'result', 'mode_changed', 'session_failed', 'session_parked', 'session_queued'].includes(m.kind)) refreshSessions();
    if (m.kind === 'session_state' && state.open && state.open.id === canon(m.session)) {
      const s = state.sessions.get(canon(m.session));
      if (s) { s.state = m.payload.state; renderSessionHead(); }
    }
  }
}

// The list refreshes itself while it is on screen (other clients start sessions too).
setInterval(() => { if (!$('sessions').hidden && state.conn && !document.hidden) refreshSessions(); }, 5000);

const saved = localStorage.getItem(TOKEN_KEY);
if (saved) login(saved); else show('login');
