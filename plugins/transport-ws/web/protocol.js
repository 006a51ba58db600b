// The WebSocket side of the page: authenticate, hello, requests with ids, and reconnects
// with backoff. docs/protocol.md describes every message.
export class Connection {
  constructor({ token, onMessage, onState, onAuthFailed }) {
    this.token = token;
    this.onMessage = onMessage;   // every non-response message (events, approvals, errors)
    this.onState = onState;       // "connecting" | "online" | "offline"
    this.onAuthFailed = onAuthFailed;
    this.nextId = 1;
    this.waiting = new Map();     // request id -> {resolve, reject}
    this.backoff = 500;
    this.stopped = false;
    this.ws = null;
    this.onReady = null;          // called after each successful (re)connect
    addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.reconnectNow(); });
  }

  open() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    this.onState('connecting');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: this.token }));
    ws.onmessage = (m) => this.receive(ws, JSON.parse(m.data));
    ws.onclose = (e) => this.closed(ws, e);
  }

  receive(ws, msg) {
    if (ws !== this.ws) return;
    if (msg.type === 'auth' && msg.ok) {
      ws.send(JSON.stringify({ type: 'hello', protocol: 1, client: 'ccmux-web/0.1', watch_approvals: true }));
      return;
    }
    if (msg.type === 'hello') {
      this.backoff = 500;
      this.onState('online');
      if (this.onReady) this.onReady();
      return;
    }
    if (msg.type === 'response') {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.error) w.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
      else w.resolve(msg.result);
      return;
    }
    if (msg.type === 'error' && ['auth_failed', 'token_revoked', 'rate_limited'].includes(msg.code)) {
      this.stopped = msg.code !== 'rate_limited';
      this.onAuthFailed(msg);
      return;
    }
    this.onMessage(msg);
  }

  closed(ws, e) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const w of this.waiting.values()) w.reject(new Error('connection lost'));
    this.waiting.clear();
    this.onState('offline');
    if (this.stopped) return;
    // 4003: bad or revoked token — retrying cannot help. Anything else: come back.
    if (e.code === 4003) { this.stopped = true; return; }
    const held = Math.max(0, (this.holdUntil || 0) - Date.now());
    const wait = Math.max(e.code === 4029 ? 30000 : this.backoff, held);
    this.backoff = Math.min(this.backoff * 2, 10000);
    this.timer = setTimeout(() => this.open(), wait);
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1) || Date.now() < (this.holdUntil || 0)) return;
    this.backoff = 500;
    this.open();
  }

  // Drops the socket as a network loss would and stays away for holdMs (used by tests).
  drop(holdMs = 0) {
    this.holdUntil = Date.now() + holdMs;
    if (this.ws) this.ws.close(4000, 'client dropped');
  }

  stop() { this.stopped = true; if (this.ws) this.ws.close(1000); }

  request(method, params = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== 1) return reject(new Error('not connected'));
      const id = this.nextId++;
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ type: 'request', id, method, params }));
    });
  }
}
