// Real-browser test of the gows web chat page: Debian's Chromium, driven by playwright-core,
// opens the page twice (alice and bob) against a running `gows serve` and checks that each
// sees the other online, that alice is told bob came and went, and that messages cross in
// both directions; a third page (carol, ?appID=102, the seed page's spelling) is in another
// app and sees none of it. A fourth page (a name with right-to-left text and a direction
// override, in a phone-sized window) sends a long message without spaces: the layout must
// stay inside the window and names must not reorder the text around them. Against a second
// server that requires login tokens and sends no presence notices, a page without a token
// must say how to log in, a page given one in its fragment (#token=) logs in as the token's
// user, and it sees a second such user come online (by polling the user list); that server's
// heartbeat timeout is short, and the page must stay logged in past it.
//
//   GOWS_BASE_URL=http://127.0.0.1:8080 node chat.test.mjs
//
// Environment: GOWS_BASE_URL (required) is the server's HTTP address; GOWS_AUTH_BASE_URL and
// GOWS_AUTH_TOKENS (tokens for users erin and gus in app 101, space-separated), when set, are
// the token-checking server's (presence_limit 0) and the tokens for its steps;
// GOWS_AUTH_HEARTBEAT_MS is that server's heartbeat_timeout in milliseconds; CHROMIUM (default
// /usr/bin/chromium) is the browser binary, never a browser downloaded by a test tool;
// STEP_TIMEOUT_MS (default 15000) bounds each wait. Exits 1 on the first failed step, with
// what each page showed. scripts/it/browser.sh builds and starts the server and runs this.
import { chromium } from 'playwright-core';

const baseURL = process.env.GOWS_BASE_URL;
const authBaseURL = process.env.GOWS_AUTH_BASE_URL;
const [erinToken, gusToken] = (process.env.GOWS_AUTH_TOKENS || '').trim().split(/\s+/);
const authHeartbeatMs = Number(process.env.GOWS_AUTH_HEARTBEAT_MS || 0);
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
  if (authBaseURL && !gusToken) throw new Error('GOWS_AUTH_BASE_URL needs two tokens in GOWS_AUTH_TOKENS');
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
    const carol = await openPage(browser, 'carol', pages, { query: { appID: '102' } });

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

    // A phone-sized window; the name is Hebrew, so it reorders text next to it unless
    // isolated. (Names with direction controls such as U+202E the server refuses.)
    const rtlName = '\u05d0\u05d1-dave';
    const dave = await openPage(browser, rtlName, pages, { viewport: { width: 360, height: 640 } });
    await step('a long message without spaces stays inside a narrow window', async () => {
      await online(dave);
      await say(dave, 'y'.repeat(3000));
      await receives(dave, rtlName, 'y'.repeat(3000), true);
      const layout = await dave.page.evaluate(() => {
        const r = (sel) => document.querySelector(sel).getBoundingClientRect();
        return {
          scrollWidth: document.documentElement.scrollWidth,
          scrollHeight: document.documentElement.scrollHeight,
          width: innerWidth,
          height: innerHeight,
          headerBottom: r('header').bottom,
          usersTop: r('aside').top,
          usersBottom: r('aside').bottom,
          logTop: r('#log').top,
          logBottom: r('#log').bottom,
          composerTop: r('#send-form').top,
        };
      });
      const bad = [];
      if (layout.scrollWidth > layout.width) bad.push('the page scrolls sideways');
      if (layout.scrollHeight > layout.height) bad.push('the page is taller than the window');
      if (layout.usersTop < layout.headerBottom - 1) bad.push('the user list overlaps the header');
      if (layout.logTop < layout.usersBottom - 1) bad.push('the log overlaps the user list');
      if (layout.logBottom > layout.composerTop + 1) bad.push('the log overlaps the message box');
      if (bad.length) throw new Error(`${bad.join('; ')}: ${JSON.stringify(layout)}`);
    });

    await step('names and messages are bidi-isolated from the text around them', async () => {
      await seesUser(alice, rtlName);
      await receives(alice, rtlName, 'y'.repeat(3000), false);
      for (const p of [alice, dave]) {
        const leaks = await p.page.evaluate((name) => {
          const found = [];
          const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = walk.nextNode(); n; n = walk.nextNode()) {
            const el = n.parentElement;
            // The name must be all of an isolating element's text: words next to it in the
            // same element (like " (you)") would be reordered with it.
            if (n.data.includes(name) && (el.textContent !== name || getComputedStyle(el).unicodeBidi !== 'isolate')) {
              found.push(`${el.tagName.toLowerCase()}.${el.className}: ${JSON.stringify(el.textContent)}`);
            }
          }
          return found;
        }, rtlName);
        if (leaks.length) throw new Error(`${p.name}'s page shows the name without isolation in:\n${leaks.join('\n')}`);
      }
      const self = await dave.page.locator('#users [data-testid="user"].self').textContent();
      if (!self.endsWith(' (you)')) throw new Error(`own entry in the user list is ${JSON.stringify(self)}`);
    });
    await dave.context.close();

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

    if (authBaseURL) {
      const guest = await openPage(browser, 'frank', pages, { server: authBaseURL });
      await step('a token-checking server: a page without a token says how to log in', async () => {
        const banner = guest.page.locator('#error');
        await banner.waitFor({ state: 'visible', timeout: stepTimeout });
        const said = await banner.textContent();
        if (!said.includes('code 1003') || !said.includes('#token=')) {
          throw new Error(`error banner says ${JSON.stringify(said)}, want code 1003 and how to pass #token=`);
        }
        const state = await guest.page.locator('#status').getAttribute('data-state');
        if (state !== 'offline') throw new Error(`status is ${state}, want offline`);
      });
      await guest.context.close();
      // No ?user=: the page takes the user (erin) from the token's sub.
      const erin = await openPage(browser, 'erin', pages, { server: authBaseURL, token: erinToken, withUser: false });
      await step('a page given #token= logs in as the token\'s user', async () => {
        await online(erin);
        await seesUser(erin, 'erin');
        if (await erin.page.locator('#error').isVisible()) {
          throw new Error(`error banner: ${await erin.page.locator('#error').textContent()}`);
        }
      });
      const gus = await openPage(browser, 'gus', pages, { server: authBaseURL, token: gusToken, withUser: false });
      await step('with no presence notices, erin still sees gus come online', async () => {
        await online(gus);
        await seesUser(erin, 'gus'); // within one poll of the user list
        const count = await erin.page.locator('#user-count').textContent();
        if (count !== '2') throw new Error(`erin's page counts ${count} users online, want 2`);
      });
      if (authHeartbeatMs > 0) {
        await step(`erin stays online past the server's ${authHeartbeatMs} ms heartbeat timeout`, async () => {
          // Nothing to await: the page must keep its session alive on its own, so watch it
          // for one and a half timeouts and check that it was never disconnected (4003).
          await erin.page.waitForTimeout(authHeartbeatMs * 1.5);
          const notices = await erin.page.locator('#log [data-testid="notice"]').allTextContents();
          const drops = notices.filter((n) => n.includes('Disconnected'));
          if (drops.length) throw new Error(`erin's page was disconnected: ${JSON.stringify(drops)}`);
          const state = await erin.page.locator('#status').getAttribute('data-state');
          if (state !== 'online') throw new Error(`status is ${state}, want online`);
        });
      }
    } else {
      console.log('skip - token steps: GOWS_AUTH_BASE_URL is not set');
    }
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
// storage, like a second browser) and records what the page logs. Options: query (more
// query parameters), viewport (default playwright's 1280x720), server (default
// GOWS_BASE_URL), token (put in the fragment as #token=), withUser (false leaves ?user= out).
async function openPage(browser, name, pages, { query = {}, viewport, server = baseURL, token = '', withUser = true } = {}) {
  const context = await browser.newContext(viewport ? { viewport } : {});
  context.setDefaultTimeout(stepTimeout);
  const page = await context.newPage();
  const p = { name, context, page, console: [], pageErrors: [] };
  pages.push(p);
  page.on('console', (m) => p.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => p.pageErrors.push(e.message));
  const u = new URL('/', server);
  u.search = new URLSearchParams({ ...(withUser ? { user: name } : {}), ...query }).toString();
  if (token) u.hash = new URLSearchParams({ token }).toString();
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
