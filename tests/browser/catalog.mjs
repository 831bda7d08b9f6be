// Browser tests of `dpctl catalog`: Playwright (playwright-core) driving the system's Chromium.
//
//   cd tests/browser && npm ci && node catalog.mjs
//
// Environment: DPCTL (default ../../target/debug/dpctl), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOTS (default: a fresh temp dir; the path is printed). Exits non-zero on any failure.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dpctl = process.env.DPCTL ? resolve(process.env.DPCTL) : resolve(root, 'target/debug/dpctl');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const shots = process.env.SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'catalog-shots-'));

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitFor(url, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(
  dpctl,
  ['catalog', '-f', 'examples', '-t', 'templates', '--listen', `127.0.0.1:${port}`],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
);
let serverExit = null;
server.on('exit', (code, signal) => {
  serverExit = { code, signal };
});

const userDataDir = mkdtempSync(join(tmpdir(), 'catalog-chromium-'));
let context;
const failures = [];
const passed = [];

async function check(name, fn) {
  try {
    await fn();
    passed.push(name);
    console.log(`ok   ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}\n     ${String(e?.stack ?? e).split('\n').join('\n     ')}`);
  }
}

try {
  await waitFor(`${base}/api/v1/products`);
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 900 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });

  // Every request the pages make must stay on the catalogue's host.
  const offsite = [];
  context.on('request', (r) => {
    const u = new URL(r.url());
    if (!['http:', 'https:'].includes(u.protocol)) return; // data:, about:
    if (u.hostname !== '127.0.0.1') offsite.push(r.url());
  });

  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await check('search "conversation" finds messaging/conversations', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('searchbox', { name: 'Search' }).fill('conversation');
    await Promise.all([page.waitForURL(/\?q=conversation/), page.getByRole('button', { name: 'Search' }).click()]);
    const link = page.getByRole('link', { name: 'messaging/conversations', exact: true });
    await link.waitFor();
    assert.match(await page.getByRole('status').innerText(), /\d+ products? found/);
  });

  await check('opening the product shows its page', async () => {
    await page.getByRole('link', { name: 'messaging/conversations', exact: true }).click();
    await page.waitForURL(`${base}/products/messaging/conversations`);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'messaging/conversations');
    assert.match(await page.title(), /messaging\/conversations/);
  });

  await check('the copy button copies a query to the clipboard', async () => {
    const button = page.locator('button.copy').first();
    assert.equal(await button.isVisible(), true, 'the copy button is shown once the script runs');
    const target = await button.getAttribute('data-target');
    const text = await page.locator(`[id="${target}"]`).innerText();
    assert.match(text, /SELECT/i);
    await button.click();
    await page.waitForFunction((b) => b.textContent === 'Copied', await button.elementHandle());
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, text);
  });

  await check('without the clipboard API the query stays selectable', async () => {
    const target = await page.locator('button.copy').first().getAttribute('data-target');
    const selected = await page.evaluate((id) => {
      const el = document.getElementById(id);
      const r = document.createRange();
      r.selectNodeContents(el);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      return { sel: sel.toString(), text: el.innerText, userSelect: getComputedStyle(el.parentElement).userSelect };
    }, target);
    assert.notEqual(selected.userSelect, 'none');
    assert.equal(selected.sel.trim(), selected.text.trim());
  });

  await check('the request-access YAML snippet is present', async () => {
    const yaml = await page.locator('#access-yaml').innerText();
    assert.match(yaml, /kind: DataProductAccess/);
    assert.match(yaml, /messaging\/conversations|name: conversations/);
    assert.equal(await page.locator('button[data-target="access-yaml"]').isVisible(), true);
  });

  await check('lineage leads to the upstream product messaging/events', async () => {
    const svgLink = page.locator('.lineage svg a[href="/products/messaging/events"]');
    assert.ok((await svgLink.count()) > 0, 'the lineage picture links to messaging/events');
    await Promise.all([page.waitForURL(`${base}/products/messaging/events`), svgLink.first().click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'messaging/events');
    // and downstream back to where we came from
    assert.ok((await page.locator('.lineage svg a[href="/products/messaging/conversations"]').count()) > 0);
  });

  const pages = {
    list: '/',
    product: '/products/messaging/conversations',
    lineage: '/lineage',
  };

  for (const [name, path] of Object.entries(pages)) {
    await check(`no serious or critical axe-core violations on ${path}`, async () => {
      await page.goto(`${base}${path}`);
      await page.addScriptTag({ path: axePath });
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      const bad = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
      for (const v of result.violations) {
        console.log(`     axe ${v.impact}: ${v.id} (${v.nodes.length}) ${v.help}`);
      }
      assert.deepEqual(
        bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        [],
      );
    });
  }

  for (const width of [1280, 375]) {
    for (const [name, path] of Object.entries(pages)) {
      await check(`${width} px: ${path} has no horizontal overflow; screenshot`, async () => {
        await page.setViewportSize({ width, height: 900 });
        await page.goto(`${base}${path}`);
        await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
        // The lineage picture scrolls inside its own box; nothing else may widen the page.
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= width, `the page scrolls sideways: ${wide} px wide at ${width} px`);
        const overflowing = await page.evaluate((w) => {
          const out = [];
          for (const el of document.querySelectorAll('main *')) {
            if (el.closest('.lineage, .scroll, pre')) continue;
            const r = el.getBoundingClientRect();
            if (r.width > 0 && r.right > w + 1) out.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
          }
          return out.slice(0, 5);
        }, width);
        assert.deepEqual(overflowing, [], 'elements stick out of the viewport');
      });
    }
  }

  await check('the API answers JSON in the browser too', async () => {
    const r = await page.goto(`${base}/api/v1/products?q=conversation`);
    const body = await r.json();
    assert.ok(body.items.some((p) => p.namespace === 'messaging' && p.name === 'conversations'));
  });

  await check('no request left 127.0.0.1', async () => {
    assert.deepEqual(offsite, []);
  });

  await check('no script errors', async () => {
    assert.deepEqual(consoleErrors, []);
  });

  await check('the server is still running', async () => {
    assert.equal(serverExit, null);
  });
} finally {
  await context?.close().catch(() => {});
  server.kill('SIGTERM');
  rmSync(userDataDir, { recursive: true, force: true });
}

console.log(`\nscreenshots in ${shots}`);
console.log(`${passed.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
