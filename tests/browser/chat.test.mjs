// Real-browser test of the gows web chat page: Debian's Chromium, driven by playwright-core,
// opens the page twice (alice and bob) against a running `gows serve` and checks that each
// sees the other online, that alice is told bob came and went, and that messages cross in
// both directions; a third page (carol, ?appID=102, the seed page's spelling) is in another
// app and sees none of it.
//
//   GOWS_BASE_URL=http://127.0.0.1:8080 node chat.test.mjs
//
// Environment: GOWS_BASE_URL (required) is the server's HTTP address; CHROMIUM (default
// /usr/bin/chromium) is the browser binary, never a browser downloaded by a test tool;
// STEP_TIMEOUT_MS (default 15000) bounds each wait. Exits 1 on the first failed step, with
// what each page showed. scripts/it/browser.sh builds and starts the server and runs this.
import { chromium } from 'playwright-core';

const baseURL = process.env.GOWS_BASE_URL;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const stepTimeout = Number(process.env.STEP_TIMEOUT_MS || 15000);
const overallTimeout = 20 * stepTimeout;

// No network beyond loopback, no first-run UI, no background downloads; as root Chromium
// needs --no-sandbox. Playwright's launch() gives each run a fresh temporary user-data-dir.
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let passed = 0;
let failed = 0;

async function main() {
  if (!baseURL) throw new Error('GOWS_BASE_URL is not set (e.g. http://127.0.0.1:8080)');
  const watchdog = setTimeout(() => {
    console.error(`browser test: still running after ${overallTimeout} ms, giving up`);
    process.exit(1);
  }, overallTimeout);
  watchdog.unref();

  const browser = await chromium.launch({ executablePath, headless: true, args: chromiumArgs, timeout: stepTimeout });
  const pages = [];
  try {
    console.log(`browser: ${browser.version()} at ${executablePath}, server ${baseURL}`);
    const alice = await openPage(browser, 'alice', pages);
    await online(alice); // before bob opens, so that she is told he came
    const bob = await openPage(browser, 'bob', pages);
    // carol uses the seed page's spelling, ?appID=: another app, which hears nothing of 101.
    const carol = await openPage(browser, 'carol', pages, { appID: '102' });

    await step('alice and bob log in', async () => {
      await online(alice);
      await online(bob);
    });

    await step('alice is told that bob joined', async () => {
      await alice.page.locator('#log [data-testid="notice"][data-kind="enter"]', { hasText: 'bob joined' }).waitFor({ timeout: stepTimeout });
    });

    await step('each sees the other online', async () => {
      await seesUser(alice, 'bob');
      await seesUser(alice, 'alice');
      await seesUser(bob, 'alice');
      await seesUser(bob, 'bob');
    });

    // Markup in a message must arrive as text: the page never parses message text as HTML.
    const fromAlice = 'hello bob <b>bold</b> & <img src=x onerror="window.__xss=1">';
    await step("alice's message reaches bob (and is echoed to alice as her own)", async () => {
      await say(alice, fromAlice);
      await receives(bob, 'alice', fromAlice, false);
      await receives(alice, 'alice', fromAlice, true);
    });

    const fromBob = 'hi alice, 你好 👋';
    await step("bob's message reaches alice", async () => {
      await say(bob, fromBob);
      await receives(alice, 'bob', fromBob, false);
      await receives(bob, 'bob', fromBob, true);
    });

    await step('message text is never rendered as HTML', async () => {
      for (const p of [alice, bob]) {
        const injected = await p.page.evaluate(() => ({
          elements: document.querySelectorAll('#log b, #log img').length,
          xss: window.__xss === 1,
        }));
        if (injected.elements || injected.xss) {
          throw new Error(`${p.name}'s page rendered markup from a message: ${JSON.stringify(injected)}`);
        }
      }
    });

    await step('carol in app 102 (?appID=102) sees only herself and none of app 101', async () => {
      await online(carol);
      const me = await carol.page.locator('#me').textContent();
      if (!me.includes('app 102')) throw new Error(`carol: #me says ${JSON.stringify(me)}, want app 102`);
      await seesUser(carol, 'carol');
      const shown = await carol.page.evaluate(() => ({
        users: [...document.querySelectorAll('#users [data-testid="user"]')].map((li) => li.dataset.user),
        messages: document.querySelectorAll('#log [data-testid="message"]').length,
      }));
      if (shown.users.join(',') !== 'carol' || shown.messages !== 0) {
        throw new Error(`carol sees ${JSON.stringify(shown)}, want only herself and no messages`);
      }
    });

    await step('alice sees bob leave', async () => {
      await bob.context.close();
      await alice.page.locator('#users [data-testid="user"][data-user="bob"]').waitFor({ state: 'detached', timeout: stepTimeout });
      await alice.page.locator('#log [data-testid="notice"][data-kind="exit"]', { hasText: 'bob left' }).waitFor({ timeout: stepTimeout });
    });

    await step('no script errors and no error banner', async () => {
      const problems = [];
      for (const p of pages) {
        problems.push(...p.pageErrors.map((e) => `${p.name}: page error: ${e}`));
        if (!p.page.isClosed() && (await p.page.locator('#error').isVisible())) {
          problems.push(`${p.name}: error banner: ${await p.page.locator('#error').textContent()}`);
        }
      }
      if (problems.length) throw new Error(problems.join('\n'));
    });
  } catch (err) {
    if (!(err instanceof StepFailed)) {
      failed++;
      console.error(`not ok - setup: ${err.message}`);
    }
    await dumpPages(pages);
  } finally {
    await browser.close();
  }
  console.log(`browser: ${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0;
}

class StepFailed extends Error {}

async function step(name, fn) {
  try {
    await fn();
  } catch (err) {
    failed++;
    console.error(`not ok - ${name}\n  ${String(err.message).split('\n').join('\n  ')}`);
    throw new StepFailed(name);
  }
  passed++;
  console.log(`ok - ${name}`);
}

// openPage opens the chat page as user in a context of its own (its own cookies and
// storage, like a second browser) and records what the page logs.
async function openPage(browser, name, pages, query = {}) {
  const context = await browser.newContext();
  context.setDefaultTimeout(stepTimeout);
  const page = await context.newPage();
  const p = { name, context, page, console: [], pageErrors: [] };
  pages.push(p);
  page.on('console', (m) => p.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => p.pageErrors.push(e.message));
  const u = new URL('/', baseURL);
  u.search = new URLSearchParams({ user: name, ...query }).toString();
  const url = u.href;
  const res = await page.goto(url, { timeout: stepTimeout });
  if (!res || !res.ok()) throw new Error(`GET ${url}: status ${res ? res.status() : 'none'}`);
  return p;
}

async function online(p) {
  await p.page.locator('#status[data-state="online"]').waitFor({ timeout: stepTimeout });
  const me = await p.page.locator('#me').textContent();
  if (!me.includes(p.name)) throw new Error(`${p.name}: #me says ${JSON.stringify(me)}`);
}

async function seesUser(p, user) {
  try {
    await p.page.locator(`#users [data-testid="user"][data-user="${user}"]`).waitFor({ timeout: stepTimeout });
  } catch (err) {
    throw new Error(`${p.name} does not see ${user} online: ${firstLine(err)}`);
  }
}

async function say(p, text) {
  const input = p.page.locator('#input');
  await input.fill(text);
  await input.press('Enter');
}

async function receives(p, from, text, own) {
  const msg = p.page.locator(`#log [data-testid="message"][data-from="${from}"]`).filter({ hasText: text.slice(0, 8) }).last();
  try {
    await msg.waitFor({ timeout: stepTimeout });
  } catch (err) {
    throw new Error(`${p.name} did not receive ${from}'s message: ${firstLine(err)}`);
  }
  const got = await msg.locator('.text').textContent();
  if (got !== text) throw new Error(`${p.name} shows ${from}'s message as ${JSON.stringify(got)}, want ${JSON.stringify(text)}`);
  const ownAttr = await msg.getAttribute('data-own');
  if (ownAttr !== String(own)) throw new Error(`${p.name}: message from ${from} has data-own=${ownAttr}, want ${own}`);
}

function firstLine(err) {
  return String(err.message).split('\n')[0];
}

async function dumpPages(pages) {
  for (const p of pages) {
    console.error(`--- ${p.name}'s page ---`);
    if (!p.page.isClosed()) {
      const shown = await p.page
        .evaluate(() => ({
          status: document.querySelector('#status')?.textContent,
          error: document.querySelector('#error')?.textContent,
          users: [...document.querySelectorAll('#users li')].map((li) => li.textContent),
          log: [...document.querySelectorAll('#log li')].map((li) => li.textContent),
        }))
        .catch((e) => ({ unreadable: e.message }));
      console.error(JSON.stringify(shown, null, 2));
    }
    for (const line of [...p.console, ...p.pageErrors.map((e) => `pageerror: ${e}`)]) console.error(`  ${line}`);
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err) => {
    console.error(`browser test: ${err.stack || err}`);
    process.exit(1);
  },
);
