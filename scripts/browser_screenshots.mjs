#!/usr/bin/env node
// Screenshots of Neo4j Browser exploring a graphnet graph, for docs/exploring.md.
//
// Drives a real headless Chromium through Neo4j Browser: opens the Browser of a running Neo4j,
// logs in through the connect form, applies graphnet/cypher/style.grass with `:style`, runs three
// queries about one host and one window, and saves
//   browser-neighbourhood.png        the host's conversations in the window (graph view)
//   browser-centrality-history.png   the host's centrality per snapshot window (table view)
//   browser-findings.png             the window's findings and their hosts (graph view)
//
// Needs (none of it is a project dependency; keep node_modules out of the repository):
//   apt-get install -y chromium                 # /usr/bin/chromium
//   mkdir -p /tmp/shots-node && cd /tmp/shots-node && npm init -y && npm install playwright-core
//
// A Neo4j with a demo graph, e.g. an instance of its own on free ports:
//   .venv/bin/python -c "from graphnet import neo4j_local; from graphnet.config import graphnet_home; \
//     print(neo4j_local.start(graphnet_home(), instance='shots', bolt_port=BOLT, http_port=HTTP))"
//   GRAPHNET_HOME=/tmp/shots-home NEO4J_URI=bolt://127.0.0.1:BOLT \
//     NEO4J_PASSWORD_FILE=~/.local/share/graphnet/neo4j/instances/shots/password \
//     .venv/bin/graphnet demo --weeks 4 --hosts 60 --seed 7 --json > /tmp/shots-demo.json
//
// Run it from the folder where playwright-core is installed (it is resolved from there):
//   cd /tmp/shots-node && node /work/main/scripts/browser_screenshots.mjs \
//     --http-port HTTP --bolt-port BOLT \
//     --password-file ~/.local/share/graphnet/neo4j/instances/shots/password \
//     --demo-json /tmp/shots-demo.json            # or: --host 10.0.0.5 --window 2024-W11
//     [--out-dir docs/img] [--style graphnet/cypher/style.grass] [--chromium /usr/bin/chromium]
//
// --demo-json takes the host and window from the demo's `attack_server` detection (hosts[0],
// window). The password is read from the file here and typed into the form: it never appears
// on a command line. Every option can also be given as an environment variable
// SHOTS_<OPTION> (e.g. SHOTS_HTTP_PORT, SHOTS_PASSWORD_FILE).

import { createRequire } from 'node:module';
import { readFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function options() {
  const opts = {
    'http-port': process.env.SHOTS_HTTP_PORT,
    'bolt-port': process.env.SHOTS_BOLT_PORT,
    'password-file': process.env.SHOTS_PASSWORD_FILE,
    'demo-json': process.env.SHOTS_DEMO_JSON,
    host: process.env.SHOTS_HOST,
    window: process.env.SHOTS_WINDOW,
    'out-dir': process.env.SHOTS_OUT_DIR || join(repo, 'docs', 'img'),
    style: process.env.SHOTS_STYLE || join(repo, 'cypher', 'style.grass'),
    chromium: process.env.SHOTS_CHROMIUM || '/usr/bin/chromium',
    width: process.env.SHOTS_WIDTH || '1280',
    height: process.env.SHOTS_HEIGHT || '800',
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let [k, v] = a.slice(2).split(/=(.*)/s);
    if (v === undefined) v = argv[++i];
    if (!(k in opts)) throw new Error(`unknown option --${k}`);
    opts[k] = v;
  }
  for (const k of ['http-port', 'bolt-port', 'password-file']) {
    if (!opts[k]) throw new Error(`--${k} is required`);
  }
  if (opts['demo-json'] && (!opts.host || !opts.window)) {
    const demo = JSON.parse(readFileSync(opts['demo-json'], 'utf-8'));
    const det = findDetection(demo, 'attack_server');
    if (!det) throw new Error(`no attack_server detection in ${opts['demo-json']}`);
    opts.host ||= det.hosts[0];
    opts.window ||= det.window;
  }
  if (!opts.host || !opts.window) throw new Error('give --host and --window, or --demo-json');
  opts['password-file'] = opts['password-file'].replace(/^~(?=\/)/, os.homedir());
  return opts;
}

// The first object anywhere in the demo's JSON that looks like the named detection.
function findDetection(node, name) {
  if (Array.isArray(node)) {
    for (const x of node) {
      const d = findDetection(x, name);
      if (d) return d;
    }
  } else if (node && typeof node === 'object') {
    const tags = [node.type, node.name, node.attack, node.scenario];
    if (tags.includes(name) && Array.isArray(node.hosts) && node.window) return node;
    for (const [k, v] of Object.entries(node)) {
      if (k === name && v && Array.isArray(v.hosts) && v.window) return v;
      const d = findDetection(v, name);
      if (d) return d;
    }
  }
  return null;
}

const quote = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const opts = options();
const require = createRequire(join(process.cwd(), 'noop.js'));
const { chromium } = require('playwright-core');

const password = readFileSync(opts['password-file'], 'utf-8').trim();
const grass = readFileSync(opts.style, 'utf-8');
const host = quote(opts.host);
const win = quote(opts.window);
mkdirSync(opts['out-dir'], { recursive: true });

const shots = [
  {
    file: 'browser-neighbourhood.png',
    view: 'graph',
    query: `MATCH (h:Host {id: ${host}})-[r:TALKED {window: ${win}}]-(p) RETURN h, r, p LIMIT 150`,
  },
  {
    file: 'browser-centrality-history.png',
    view: 'table',
    query:
      `MATCH (s:Snapshot)-[m:MEASURED]->(h:Host {id: ${host}}) ` +
      'RETURN s.window, m.out_degree, m.peers, m.dports_out, m.pagerank ORDER BY s.window',
  },
  {
    file: 'browser-findings.png',
    view: 'graph',
    query:
      `MATCH (f:Finding {window: ${win}})-[:ABOUT]->(h:Host) ` +
      'RETURN f, h ORDER BY f.score DESC LIMIT 25',
  },
];

const browser = await chromium.launch({
  executablePath: opts.chromium,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const width = Number(opts.width);
const height = Number(opts.height);
const page = await browser.newPage({ viewport: { width, height } });
page.setDefaultTimeout(60_000);
// No usage-statistics banner or wheel-zoom hint over the results.
await page.addInitScript(() => {
  if (!localStorage.getItem('neo4j.settings')) {
    localStorage.setItem('neo4j.settings', JSON.stringify({
      allowUserStats: false, allowCrashReports: false, showWheelZoomInfo: false,
    }));
  }
});

// The editor takes the text as typed input; `insertText` sends no Enter (which would run it).
async function run(text, { expectFrame = true } = {}) {
  const before = await page.locator('[data-testid="frame"]').count();
  const editor = page.locator('[data-testid="activeEditor"]');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  await page.locator('[data-testid="editor-Run"]').click();
  if (expectFrame) {
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="frame"]').length > n, before);
  }
  await page.waitForTimeout(500);
}

async function clearStream() {
  await run(':clear', { expectFrame: false });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="frame"]').length === 0);
}

try {
  await page.goto(`http://127.0.0.1:${opts['http-port']}/browser/`);

  // Log in through the connect form.
  await page.locator('[data-testid="boltaddress"]').waitFor();
  await page.locator('[data-testid="bolt-scheme-select"]').selectOption('bolt://');
  await page.locator('[data-testid="boltaddress"]').fill(`127.0.0.1:${opts['bolt-port']}`);
  await page.locator('[data-testid="username"]').fill('neo4j');
  await page.locator('[data-testid="password"]').fill(password);
  await page.locator('[data-testid="connect"]').click();
  await page.locator('[data-testid="disconnectedBanner"]').waitFor({ state: 'detached' });
  await page.getByText('You are connected as user', { exact: false }).first().waitFor();

  const banner = page.getByText('To help make Neo4j Browser better', { exact: false });
  if (await banner.count()) {
    await banner.first().locator('xpath=following-sibling::span').click().catch(() => {});
  }

  // The shipped style: `:style` followed by the GraSS text sets it.
  await run(`:style\n${grass}`);
  const stored = await page.evaluate(() => localStorage.getItem('neo4j.grass') || '');
  if (!stored.includes('PageRankTop1')) console.warn('warning: the style did not take');
  await clearStream();

  for (const shot of shots) {
    await run(shot.query);
    const frame = page.locator('[data-testid="frame"]').first();
    if (shot.view === 'graph') {
      await frame.locator('svg.neod3viz, [data-testid="graphCanvas"], svg g.node').first().waitFor();
      await page.waitForTimeout(4000); // let the force layout settle
    } else {
      // Results arrive in the graph view when there are nodes; switch to the table.
      const tableButton = frame.locator('[data-testid="cypherFrameSidebarTable"]');
      if (await tableButton.count()) await tableButton.click();
      await frame.locator('table, [role="table"], [role="grid"]').first().waitFor();
      await page.waitForTimeout(1000);
    }
    const path = join(opts['out-dir'], shot.file);
    await page.screenshot({ path });
    console.log(`${path} (${Math.round(statSync(path).size / 1024)} KB)`);
    await clearStream();
  }
} catch (err) {
  const path = join(opts['out-dir'], 'browser-error.png');
  await page.screenshot({ path }).catch(() => {});
  console.error(`failed (page saved as ${path}): ${err.stack || err}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
