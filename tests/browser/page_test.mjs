// Drives the transport-ws page in real headless Chromium (Debian's, through playwright-core)
// against a live ccmuxd + the real claude CLI + the fake Messages API, at phone size.
// Started by tests/e2e/web_page_e2e_test.cpp, which sets up the daemon and reads the verdict.
// Env: CCMUX_URL, CCMUX_TOKEN, CCMUX_PROJECT, CCMUX_SOCKET (local socket), ARTIFACTS (screenshots).
import net from 'net';
import { openPhone, bash } from './phone.mjs';

const { CCMUX_URL: url, CCMUX_TOKEN: token, CCMUX_PROJECT: project, CCMUX_SOCKET: socketPath } = process.env;
const artifacts = process.env.ARTIFACTS;

// A local-socket client (what `ccmux send` does) to act while the page is offline.
function localRequest(method, params) {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0;) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (m.type === 'response') { s.end(); m.error ? reject(new Error(m.error.message)) : resolve(m.result); }
      }
    });
    s.on('error', reject);
    s.write(JSON.stringify({ type: 'hello', protocol: 1, client: 'page-test' }) + '\n');
    s.write(JSON.stringify({ type: 'request', id: 1, method, params }) + '\n');
  });
}

const phone = await openPhone(artifacts);
const { browser, page, consoleErrors, step, shot } = phone;

try {
  await step('login with a token', async () => {
    await page.goto(url);
    await page.fill('[data-testid=token]', token);
    await page.tap('[data-testid=login]');
    await page.waitForSelector('[data-testid=session-list]', { state: 'visible' });
    await page.waitForSelector('#conn[data-state=online]');
    await shot('01-logged-in');
  });

  let sessionId;
  await step('start a session in a project folder and see streamed markdown', async () => {
    await page.tap('[data-testid=new-session]');
    await page.selectOption('[data-testid=new-cwd]', project);
    await page.fill('[data-testid=new-prompt]', 'echo: ## Plan\n\nStreaming **bold** words and `inline code` from the fake API, token by token.\n\n```js\nconst answer = 42;\n```');
    await page.tap('[data-testid=start]');
    await page.waitForSelector('[data-testid=transcript] .msg.assistant strong', { timeout: 60000 });
    await page.waitForSelector('[data-testid=turn-result]', { timeout: 60000 });
    const text = await page.textContent('[data-testid=transcript]');
    if (!text.includes('token by token')) throw new Error('streamed text missing: ' + text);
    if (!(await page.$('[data-testid=transcript] pre code.hljs'))) throw new Error('code block not highlighted');
    sessionId = await page.evaluate(() => window.ccmux.state.open.id);
    await shot('02-streamed');
  });

  await step('approve a pending Bash call with a tap and see its result', async () => {
    await page.fill('[data-testid=prompt]', bash('echo approved-from-phone > phone.txt && cat phone.txt'));
    await page.tap('[data-testid=send]');
    await page.waitForSelector('#session [data-testid=approval] [data-testid=allow]', { timeout: 60000 });
    await page.waitForSelector('[data-testid=approvals-badge]:has-text("1 waiting")');
    await shot('03-approval');
    await page.tap('#session [data-testid=approval] [data-testid=allow]');
    await page.waitForSelector('[data-testid=approval-outcome]:has-text("Allowed")');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=tool-result]')]
      .some((e) => e.textContent.includes('approved-from-phone')), null, { timeout: 60000 });
    await page.waitForSelector('[data-testid=approvals-badge]', { state: 'hidden' });
    await shot('04-approved');
  });

  await step('drop the connection; work goes on; the page catches up with nothing twice', async () => {
    const before = await page.evaluate(() => window.ccmux.state.open.lastSeq);
    await page.evaluate(() => window.ccmux.conn.drop(4000));
    await page.waitForSelector('#conn[data-state=offline]');
    // While the phone is away: a prompt with text and then a tool call that needs approval.
    await localRequest('session.send', { session: sessionId, prompt: 'echo: written while the phone was away' });
    await localRequest('session.send', { session: sessionId, prompt: bash('echo still-there-after-reconnect > later.txt && cat later.txt') });
    await page.waitForSelector('#conn[data-state=online]', { timeout: 30000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=transcript]').textContent.includes('written while the phone was away'), null, { timeout: 60000 });
    const approval = await page.waitForSelector('#session [data-testid=approval]:not(.resolved) [data-testid=allow]', { timeout: 60000 });
    await shot('05-caught-up');
    const count = await page.evaluate(() => ['.msg.user', '.msg.assistant'].map((sel) =>
      [...document.querySelectorAll(`[data-testid=transcript] ${sel}`)].filter((e) => e.textContent.includes('written while the phone was away')).length));
    if (count[0] !== 1 || count[1] !== 1) throw new Error(`prompt shown ${count[0]} times, answer ${count[1]} times`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 390) throw new Error(`page is ${width} px wide on a 390 px screen`);
    await approval.tap();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=tool-result]')]
      .some((e) => e.textContent.includes('still-there-after-reconnect')), null, { timeout: 60000 });
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=turn-result]')].length >= 4, null, { timeout: 60000 });
    const s = await localRequest('session.get', { session: sessionId });
    const seen = await page.evaluate(() => window.ccmux.state.open.lastSeq);
    if (seen <= before) throw new Error('no progress after the reconnect');
    // Every seq from 1 to the head was applied exactly once (lastSeq only moves forward by one).
    if (seen !== s.last_seq) throw new Error(`page at seq ${seen}, session at ${s.last_seq}`);
  });

  await step('answer a multiple-choice question', async () => {
    const q = { questions: [{ question: 'Which color?', header: 'Color', multiSelect: false,
      options: [{ label: 'Red', description: 'warm' }, { label: 'Blue', description: 'cool' }] }] };
    await page.fill('[data-testid=prompt]', `tool: AskUserQuestion ${JSON.stringify(q)}`);
    await page.tap('[data-testid=send]');
    const blue = await page.waitForSelector('#session [data-testid=approval]:not(.resolved) [data-testid=option]:has-text("Blue")', { timeout: 60000 });
    await shot('06-question');
    await blue.tap();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=turn-result]')].length >= 5, null, { timeout: 60000 });
    const text = await page.textContent('[data-testid=transcript]');
    if (!text.includes('Blue')) throw new Error('answer not in transcript');
  });

  await step('send a photo with a prompt', async () => {
    // A real 2x2 PNG, as a phone's file picker would hand it over.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
    await page.setInputFiles('[data-testid=attach]', { name: 'screenshot.png', mimeType: 'image/png', buffer: png });
    await page.waitForSelector('#attachments img');
    await page.fill('[data-testid=prompt]', 'echo: I see your screenshot');
    await page.tap('[data-testid=send]');
    await page.waitForSelector('[data-testid=transcript] .msg.user img', { timeout: 30000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=transcript]').textContent.includes('I see your screenshot'), null, { timeout: 60000 });
    await shot('07-photo');
  });

  await step('a Write call shows its content as a diff before it is allowed', async () => {
    const input = { file_path: `${project}/notes.md`, content: 'first line\nsecond line from the phone\n' };
    await page.fill('[data-testid=prompt]', `tool: Write ${JSON.stringify(input)}`);
    await page.tap('[data-testid=send]');
    await page.waitForSelector('#session [data-testid=tool]:has([data-testid=approval]:not(.resolved)) .diff .add:has-text("second line from the phone")', { timeout: 60000 });
    await shot('08-write-diff');
    await page.tap('#session [data-testid=approval]:not(.resolved) [data-testid=allow]');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=turn-result]')].length >= 7, null, { timeout: 60000 });
  });

  await step('teach a pattern with "Always allow this kind"; the next such call is not asked', async () => {
    await page.fill('[data-testid=prompt]', bash('touch taught-1.txt'));
    await page.tap('[data-testid=send]');
    await page.tap('#session [data-testid=approval]:not(.resolved) [data-testid=always]', { timeout: 60000 });
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=turn-result]')].length >= 8, null, { timeout: 60000 });
    await page.fill('[data-testid=prompt]', bash('touch taught-2.txt'));
    await page.tap('[data-testid=send]');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=turn-result]')].length >= 9, null, { timeout: 60000 });
    const open = await page.$$('#session [data-testid=approval]:not(.resolved)');
    if (open.length) throw new Error('the taught pattern was asked again');
  });

  await step('switch the permission mode, then stop the session', async () => {
    await page.selectOption('[data-testid=session-mode]', 'plan');
    const deadline = Date.now() + 20000;
    while ((await localRequest('session.get', { session: sessionId })).permission_mode !== 'plan') {
      if (Date.now() > deadline) throw new Error('mode did not change');
      await new Promise((r) => setTimeout(r, 200));
    }
    page.once('dialog', (d) => d.accept());  // "Stop this session's claude process?"
    await page.tap('[data-testid=stop]');
    await page.waitForSelector('[data-testid=session-state]:has-text("exited")', { timeout: 30000 });
  });

  await step('session card shows state, tokens and cost', async () => {
    await page.tap('#back');
    const card = await page.waitForSelector(`[data-testid=session-card][data-id="${sessionId}"]`);
    const text = await card.textContent();
    if (!/\$\d/.test(text) || !/ in \/ /.test(text) || !/turns/.test(text)) throw new Error('card lacks cost/tokens: ' + text);
    await shot('09-sessions');
  });

  await step('start a session in a new git worktree; its card shows the branch', async () => {
    await page.tap('[data-testid=new-session]');
    await page.selectOption('[data-testid=new-cwd]', project);
    await page.fill('[data-testid=new-worktree]', 'page-wt');
    await page.fill('[data-testid=new-prompt]', 'echo: working in a worktree');
    await page.tap('[data-testid=start]');
    await page.waitForSelector('[data-testid=turn-result]', { timeout: 60000 });
    const id = await page.evaluate(() => window.ccmux.state.open.id);
    const s = await localRequest('session.get', { session: id });
    if (s.branch !== 'ccmux/page-wt' || !s.worktree.endsWith('/.ccmux-worktrees/proj/page-wt') || s.cwd !== s.worktree)
      throw new Error('not in the worktree: ' + JSON.stringify(s));
    await page.tap('#back');
    const line = await page.waitForSelector(`[data-testid=session-card][data-id="${id}"] [data-testid=session-branch]`);
    const text = await line.textContent();
    if (!text.includes('ccmux/page-wt') || !text.includes('proj')) throw new Error('card lacks the branch and repo: ' + text);
    await shot('09b-worktree');
  });

  await step('desktop width renders too', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.tap(`[data-testid=session-card][data-id="${sessionId}"]`);
    await page.waitForSelector('[data-testid=transcript] .msg.assistant');
    await shot('10-desktop');
  });

  if (consoleErrors.length) throw new Error('console errors: ' + consoleErrors.join(' | '));
  console.log('PAGE TEST PASSED');
} catch (e) {
  console.log(`FAIL ${phone.current}: ${e.stack || e}`);
  await shot('failure').catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
