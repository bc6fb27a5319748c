// Real-browser test of the WebSocket Origin policy (cross-site WebSocket hijacking): a page
// served from another origin must not be able to open the gows WebSocket, while a page
// from the same host name (on another port, like the chat page) can.
//
//   GOWS_BASE_URL=http://127.0.0.1:8080 GOWS_WS_URL=ws://127.0.0.1:8089/acc node origin.test.mjs
//
// The test serves its own probe page from a throwaway HTTP server on a free loopback port
// and loads it twice in Debian's Chromium: as http://127.0.0.1:<port>/ (same host name as
// the WebSocket endpoint: allowed) and as http://localhost:<port>/ (another site: the
// handshake must be refused with 403, which the page sees as an error and close 1006).
// Then the chat page itself, told with ?ws= to use the endpoint under another host name,
// must tell its user that it cannot connect and that the server may refuse its origin.
import http from 'node:http';
import { chromium } from 'playwright-core';

const baseURL = process.env.GOWS_BASE_URL;
const wsURL = process.env.GOWS_WS_URL;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const stepTimeout = Number(process.env.STEP_TIMEOUT_MS || 15000);
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The probe page opens the WebSocket and writes the outcome into #result.
const probe = `<!doctype html><meta charset="utf-8"><title>origin probe</title>
<p id="result">pending</p>
<script>
  const out = document.getElementById('result');
  const ws = new WebSocket(${JSON.stringify(wsURL)});
  ws.onopen = () => { out.textContent = 'open'; ws.close(); };
  ws.onclose = (e) => { if (out.textContent === 'pending') out.textContent = 'closed ' + e.code; };
</script>`;

function serveProbe() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(probe);
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

async function outcome(browser, url) {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    await page.goto(url, { timeout: stepTimeout });
    await page.waitForFunction(() => document.getElementById('result').textContent !== 'pending', null, { timeout: stepTimeout });
    return await page.textContent('#result');
  } finally {
    await ctx.close();
  }
}

// refusedChatPage opens the chat page from GOWS_BASE_URL with the endpoint under the host
// name localhost (?ws=), which the server refuses for a page from 127.0.0.1, and returns
// the error banner's text once it shows.
async function refusedChatPage(browser) {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const ws = new URL(wsURL);
    ws.hostname = 'localhost';
    const u = new URL('/', baseURL);
    u.search = new URLSearchParams({ user: 'olga', ws: ws.href }).toString();
    await page.goto(u.href, { timeout: stepTimeout });
    const banner = page.locator('#error');
    try {
      await banner.waitFor({ state: 'visible', timeout: stepTimeout });
    } catch (err) {
      return `no error banner (status: ${await page.textContent('#status')})`;
    }
    return await banner.textContent();
  } finally {
    await ctx.close();
  }
}

async function forbiddenCount() {
  const res = await fetch(`${baseURL}/metrics`);
  const text = await res.text();
  const m = text.match(/gows_handshake_failures_total\{reason="forbidden"\} (\d+)/);
  return m ? Number(m[1]) : 0;
}

async function main() {
  if (!baseURL || !wsURL) throw new Error('set GOWS_BASE_URL and GOWS_WS_URL');
  const srv = await serveProbe();
  const port = srv.address().port;
  const browser = await chromium.launch({ executablePath, headless: true, args: chromiumArgs, timeout: stepTimeout });
  let failed = 0;
  try {
    const before = await forbiddenCount();
    const same = await outcome(browser, `http://127.0.0.1:${port}/`);
    if (same === 'open') {
      console.log('ok   same host name, other port: connection opened');
    } else {
      console.log(`FAIL same host name, other port: got "${same}", want "open"`);
      failed++;
    }
    const cross = await outcome(browser, `http://localhost:${port}/`);
    if (cross === 'closed 1006') {
      console.log('ok   cross-site page: handshake refused (close 1006 in the page)');
    } else {
      console.log(`FAIL cross-site page: got "${cross}", want "closed 1006"`);
      failed++;
    }
    const after = await forbiddenCount();
    if (after === before + 1) {
      console.log('ok   the server counted one forbidden handshake');
    } else {
      console.log(`FAIL forbidden handshakes went from ${before} to ${after}, want +1`);
      failed++;
    }
    const said = await refusedChatPage(browser);
    if (/Cannot connect/.test(said) && /allowed_origins/.test(said)) {
      console.log('ok   the chat page says it cannot connect and names allowed_origins');
    } else {
      console.log(`FAIL refused chat page shows ${JSON.stringify(said)}, want "Cannot connect ... allowed_origins"`);
      failed++;
    }
  } finally {
    await browser.close();
    srv.close();
  }
  if (failed) process.exit(1);
}

main().catch((e) => { console.error(e); process.exit(1); });
