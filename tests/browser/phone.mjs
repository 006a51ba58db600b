// What every page test starts with: Debian's chromium through playwright-core (PLAYWRIGHT_CORE),
// a phone-sized touch context, console errors collected, named steps that print "ok   NAME
// (N ms)", and full-page screenshots into `artifacts`.
import { createRequire } from 'module';
import { mkdirSync } from 'fs';

const require = createRequire(import.meta.url);

export async function openPhone(artifacts) {
  mkdirSync(artifacts, { recursive: true });
  const { chromium } = require(process.env.PLAYWRIGHT_CORE);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await context.newPage();
  const phone = { browser, page, consoleErrors: [], current: '' };
  page.on('console', (m) => { if (m.type() === 'error') phone.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => phone.consoleErrors.push(String(e)));
  phone.shot = (name) => page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
  phone.step = async (name, fn) => {
    phone.current = name;
    const t0 = Date.now();
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  };
  return phone;
}

// A prompt that makes the fake Messages API call Bash with `command`.
export const bash = (command) => `tool: Bash ${JSON.stringify({ command, description: 'test' })}`;
