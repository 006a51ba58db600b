// Turns a session's events into the transcript: streamed markdown, tool calls with diffs,
// tool results, approvals and questions with their buttons, turn results.
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

// Claude's text is untrusted: markdown -> HTML -> DOMPurify, then code highlighting.
export function markdown(target, text) {
  target.innerHTML = window.DOMPurify.sanitize(window.marked.parse(text, { gfm: true, breaks: false }));
  target.querySelectorAll('pre code').forEach((c) => window.hljs.highlightElement(c));
}

function diffView(oldText, newText) {
  const box = el('div', 'diff');
  const parts = window.Diff.diffLines(oldText || '', newText || '');
  let lines = 0;
  for (const part of parts) {
    const cls = part.added ? 'add' : part.removed ? 'del' : 'ctx';
    const sign = part.added ? '+' : part.removed ? '-' : ' ';
    let rows = part.value.replace(/\n$/, '').split('\n');
    if (cls === 'ctx' && rows.length > 6) rows = [...rows.slice(0, 3), '…', ...rows.slice(-3)];
    for (const r of rows) {
      if (++lines > 600) { box.append(el('div', 'ctx', '… (diff cut at 600 lines)')); return box; }
      box.append(el('div', cls, sign + ' ' + r));
    }
  }
  return box;
}

function toolBody(name, input) {
  const body = el('div');
  if (!input || typeof input !== 'object') return body;
  if (input.file_path) body.append(el('div', 'muted', input.file_path));
  if (name === 'Edit') body.append(diffView(input.old_string, input.new_string));
  else if (name === 'MultiEdit' && Array.isArray(input.edits)) input.edits.forEach((e) => body.append(diffView(e.old_string, e.new_string)));
  else if (name === 'Write') body.append(diffView('', input.content));
  else if (name === 'Bash') body.append(el('pre', '', '$ ' + input.command));
  else if (name === 'AskUserQuestion') (input.questions || []).forEach((q) => body.append(el('div', '', q.question)));
  else if (!input.file_path) body.append(el('pre', '', JSON.stringify(input, null, 2)));
  return body;
}

const money = (usd) => (usd || 0) < 0.01 ? `$${(usd || 0).toFixed(4)}` : `$${usd.toFixed(2)}`;
const tokens = (n) => (n >= 1000 ? (n / 1000).toFixed(1) + 'k' : String(n || 0));
export { money, tokens };

export class Transcript {
  constructor(root, { answer }) {
    this.root = root;
    this.answer = answer;      // (approval, decision, extra) -> Promise
    this.live = null;          // the assistant block being streamed: {el, text}
    this.tools = new Map();    // tool_use_id -> tool card
    this.approvals = new Map(); // approval id -> card
    this.pendingRender = false;
  }

  add(node) {
    const stick = innerHeight + scrollY >= document.body.scrollHeight - 80;
    this.root.append(node);
    if (stick) scrollTo(0, document.body.scrollHeight);
    return node;
  }

  event(ev) {
    const p = ev.payload || {};
    if (p.ccmux_truncated) {  // over claude.max_event_bytes: long strings cut (docs/protocol.md)
      this.add(el('div', 'msg note', `${ev.kind} of ${p.ccmux_truncated.bytes} bytes, shown cut (whole: ccmux payload ${ev.session} ${ev.seq})`));
    }
    switch (ev.kind) {
      case 'prompt_queued': return this.prompt(p.content);
      case 'stream_event': return this.stream(p.event || {});
      case 'assistant': return this.assistant(p.message || {});
      case 'user': return this.toolResults(p.message || {});
      case 'approval_requested': return this.approval(p);
      case 'approval_resolved': return this.resolved(p);
      case 'result': return this.result(p);
      case 'session_failed': return this.add(el('div', 'msg note bad', `claude failed: ${p.reason || ''}`));
      case 'session_exited': return this.add(el('div', 'msg note', 'claude exited'));
      case 'session_parked': return this.add(el('div', 'msg note', `parked (claude stopped to save memory): the next prompt resumes it`));
      case 'session_queued': return this.add(el('div', 'msg note', `waiting for a free claude slot (#${p.position}, ${p.live}/${p.max_live} live)`));
      case 'session_crashed': return this.add(el('div', 'msg note bad', `claude crashed: ${p.reason || ''} — restarting in ${p.restart_in_s} s`));
      case 'mode_changed': return this.add(el('div', 'msg note', `mode: ${p.mode}`));
      case 'parse_error': return this.add(el('div', 'msg note bad', `unreadable line from claude: ${p.error}`));
      default: return null;
    }
  }

  prompt(content) {
    const box = el('div', 'msg user');
    const blocks = typeof content === 'string' ? [{ type: 'text', text: content }] : content || [];
    for (const b of blocks) {
      if (b.type === 'text') box.append(document.createTextNode(b.text));
      else if (b.type === 'image' && b.source && b.source.type === 'base64') {
        const img = el('img');
        img.src = `data:${b.source.media_type};base64,${b.source.data}`;
        img.alt = 'attached image';
        box.append(img);
      }
    }
    this.add(box);
  }

  stream(e) {
    if (e.type === 'content_block_start' && e.content_block && e.content_block.type === 'text') {
      this.live = { el: this.add(el('div', 'msg assistant')), text: '' };
      this.live.el.dataset.streaming = '1';
    } else if (e.type === 'content_block_delta' && e.delta && e.delta.type === 'text_delta') {
      if (!this.live) this.live = { el: this.add(el('div', 'msg assistant')), text: '' };
      this.live.text += e.delta.text;
      this.scheduleRender();
    }
  }

  // Markdown is re-rendered at most once per frame while tokens stream in.
  scheduleRender() {
    if (this.pendingRender) return;
    this.pendingRender = true;
    requestAnimationFrame(() => {
      this.pendingRender = false;
      if (this.live) markdown(this.live.el, this.live.text);
    });
  }

  assistant(message) {
    for (const block of message.content || []) {
      if (block.type === 'text') {
        // The complete block replaces what was streamed for it (or shows it, on replay).
        const target = this.live ? this.live.el : this.add(el('div', 'msg assistant'));
        delete target.dataset.streaming;
        markdown(target, block.text);
        this.live = null;
      } else if (block.type === 'tool_use') {
        this.live = null;
        const card = el('div', 'tool');
        card.dataset.testid = 'tool';
        card.append(el('div', 'name', block.name), toolBody(block.name, block.input));
        this.tools.set(block.id, card);
        this.add(card);
      }
    }
  }

  toolResults(message) {
    if (!Array.isArray(message.content)) return;
    for (const block of message.content) {
      if (block.type !== 'tool_result') continue;
      const card = this.tools.get(block.tool_use_id);
      let text = typeof block.content === 'string' ? block.content
        : (block.content || []).map((c) => c.text || '').join('\n');
      const details = el('details');
      if (block.is_error) details.open = true;
      details.append(el('summary', '', block.is_error ? 'error' : 'result'), el('pre', 'result', text));
      details.dataset.testid = 'tool-result';
      if (text.length < 400 && !block.is_error) details.open = true;
      (card || this.add(el('div', 'tool'))).append(details);
    }
  }

  approval(a) {
    const card = el('div', 'approval');
    card.dataset.testid = 'approval';
    card.dataset.id = a.id;
    // Inside the tool call it is about when that call is on screen (its input is shown there).
    const tool = this.tools.get(a.tool_use_id);
    if (a.kind === 'question') card.append(...this.questionBody(a));
    else {
      if (tool) card.append(el('div', 'name', 'Allow this?'));
      else card.append(el('div', 'name', `${a.tool} wants to run`), toolBody(a.tool, a.input));
      if (a.description) card.append(el('div', 'muted', a.description));
      // Advice from plugins that did not decide (e.g. autonomy 1: "would allow: learned …").
      for (const h of a.hints || []) card.append(el('div', 'hint', '💡 ' + h.reason));
      const actions = el('div', 'actions');
      const allow = el('button', 'allow', 'Allow');
      const deny = el('button', 'deny', 'Deny');
      allow.dataset.testid = 'allow';
      deny.dataset.testid = 'deny';
      allow.onclick = () => this.answer(a, 'allow');
      deny.onclick = () => this.answer(a, 'deny');
      actions.append(allow, deny);
      const always = el('button', 'always', 'Always allow this kind');
      always.dataset.testid = 'always';
      always.title = 'The approval plugin learns this pattern and allows it from now on';
      always.onclick = () => this.answer(a, 'always');
      card.append(actions, always);
    }
    this.approvals.set(a.id, card);
    if (tool) {
      tool.append(card);
      if (innerHeight + scrollY >= document.body.scrollHeight - 400) scrollTo(0, document.body.scrollHeight);
    } else {
      this.add(card);
    }
  }

  questionBody(a) {
    const parts = [];
    const answers = {};
    const questions = a.questions || (a.input && a.input.questions) || [];
    const submit = el('button', 'allow', 'Send answers');
    const ready = () => { submit.disabled = questions.some((q) => !answers[q.question]); };
    for (const q of questions) {
      const box = el('div', 'question');
      box.append(el('div', 'name', q.question));
      const opts = el('div', 'options');
      for (const o of q.options || []) {
        const b = el('button', '', o.label);
        b.dataset.testid = 'option';
        if (o.description) b.title = o.description;
        b.onclick = () => {
          if (q.multiSelect) {
            b.classList.toggle('chosen');
            answers[q.question] = [...opts.querySelectorAll('.chosen')].map((x) => x.textContent).join(', ');
          } else {
            opts.querySelectorAll('button').forEach((x) => x.classList.remove('chosen'));
            b.classList.add('chosen');
            answers[q.question] = o.label;
          }
          ready();
          if (questions.length === 1 && !q.multiSelect) this.answer(a, 'allow', { answers });
        };
        opts.append(b);
      }
      box.append(opts);
      parts.push(box);
    }
    const actions = el('div', 'actions');
    submit.onclick = () => this.answer(a, 'allow', { answers });
    const skip = el('button', 'deny', 'Dismiss');
    skip.onclick = () => this.answer(a, 'deny');
    if (questions.length > 1 || questions.some((q) => q.multiSelect)) actions.append(submit);
    actions.append(skip);
    ready();
    parts.push(actions);
    return parts;
  }

  resolved(r) {
    const card = this.approvals.get(r.id);
    const line = el('div', 'muted', `${r.decision === 'allow' ? 'Allowed' : r.decision === 'deny' ? 'Denied' : 'Cancelled'} by ${r.decided_by}${r.reason ? ' — ' + r.reason : ''}`);
    line.dataset.testid = 'approval-outcome';
    if (!card) {
      if (r.request) this.add(el('div', 'msg note', `${r.tool}: ${r.decision} by ${r.decided_by}`));
      return;
    }
    card.classList.add('resolved');
    card.querySelectorAll('.actions, .options, .always').forEach((x) => x.remove());
    card.append(line);
  }

  result(p) {
    this.live = null;
    const usage = p.usage || {};
    const text = p.is_error ? `turn failed: ${p.result || p.subtype}` :
      `done · ${money(p.total_cost_usd)} · ${tokens((usage.input_tokens || 0) + (usage.output_tokens || 0))} tokens`;
    const n = this.add(el('div', `msg note${p.is_error ? ' bad' : ''}`, text));
    n.dataset.testid = 'turn-result';
  }
}
