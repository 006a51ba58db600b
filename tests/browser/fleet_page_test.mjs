// The page of one machine (charlie) driving a session of another (bravo) through the fleet, in
// real headless Chromium at phone size: the list shows bravo's sessions with their machine, the
// new-session form starts one on bravo in bravo's folder, its Bash call is approved with a tap
// and runs on bravo. Started by tests/fleet/fleet_e2e_test.cpp, which checks the effect on disk.
// Env: CCMUX_URL, CCMUX_TOKEN (charlie's page), REMOTE (bravo), REMOTE_PROJECT, ARTIFACTS.
import { openPhone, bash } from './phone.mjs';

const { CCMUX_URL: url, CCMUX_TOKEN: token, REMOTE: remote, REMOTE_PROJECT: remoteProject, ARTIFACTS: artifacts } = process.env;
const phone = await openPhone(artifacts);
const { browser, page, consoleErrors, step, shot } = phone;

try {
  await step('log in to charlie and see bravo\'s session with its machine', async () => {
    await page.goto(url);
    await page.fill('[data-testid=token]', token);
    await page.tap('[data-testid=login]');
    await page.waitForSelector('[data-testid=session-list]', { state: 'visible' });
    await page.waitForSelector(`[data-testid=session-machine]:has-text("${remote}")`, { timeout: 30000 });
    await shot('01-fleet-list');
  });

  let sessionId;
  await step('start a session on bravo from charlie\'s page, in bravo\'s folder', async () => {
    await page.tap('[data-testid=new-session]');
    await page.waitForSelector('[data-testid=new-host]', { state: 'visible' });
    await page.selectOption('[data-testid=new-host]', remote);
    await page.waitForSelector(`[data-testid=new-cwd] option[value="${remoteProject}"]`, { state: 'attached', timeout: 30000 });
    await page.selectOption('[data-testid=new-cwd]', remoteProject);
    await page.fill('[data-testid=new-prompt]', bash('echo approved-on-charlies-page > from-charlie.txt'));
    await page.tap('[data-testid=start]');
    await page.waitForSelector('#session [data-testid=approval]:not(.resolved) [data-testid=allow]', { timeout: 90000 });
    sessionId = await page.evaluate(() => window.ccmux.state.open.id);
    if (!sessionId.startsWith(`${remote}/s-`)) throw new Error(`the session is not bravo's: ${sessionId}`);
    await page.waitForSelector('[data-testid=approvals-badge]:has-text("1 waiting")');
    await shot('02-remote-approval');
  });

  await step('approve bravo\'s Bash call with a tap; the turn ends on the page', async () => {
    await page.tap('#session [data-testid=approval]:not(.resolved) [data-testid=allow]');
    await page.waitForSelector('#session [data-testid=approval-outcome]:has-text("Allowed")', { timeout: 30000 });
    await page.waitForSelector('#session [data-testid=turn-result]', { timeout: 90000 });
    await page.waitForSelector('[data-testid=approvals-badge]', { state: 'hidden', timeout: 30000 });
    await shot('03-done');
  });

  if (consoleErrors.length) throw new Error('console errors: ' + consoleErrors.join(' | '));
  console.log('FLEET PAGE TEST PASSED ' + sessionId);
} catch (err) {
  console.log(`FAIL ${phone.current}: ${err.message}`);
  await shot('failure').catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
