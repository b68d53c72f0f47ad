// The dashboard in a real browser (issue 14): Debian's Chromium, driven by
// playwright-core, against the real `stagewise serve` with a simulated
// cohort. What a program manager sees must be what the API says; a reviewer
// on a blind stage sees no identity; applicants' text never runs as code.
//   node tests/browser/dashboard.test.mjs BIN WORKFLOWS SCRATCH [SCREENSHOTS]
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.resolve(process.argv[1], '../../../tools/js/package.json'));
const { chromium } = require('playwright-core');

const [bin, workflows, scratch, shots] = process.argv.slice(2);
const program = 'summer-research-internship';
const applicants = 120;
let serve, url, browser, pm;

function stagewise(...args) {
  return execFileSync(bin, args, { encoding: 'utf8', timeout: 120000 }).trim();
}
async function api(path, token, init = {}) {
  const r = await fetch(url + path, { ...init, headers: { Authorization: 'Bearer ' + token, ...(init.headers || {}) } });
  if (!r.ok) throw new Error(path + ' answered ' + r.status + ': ' + await r.text());
  return r.json();
}
async function until(what, check, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise(r => setTimeout(r, 250));
  }
}
function event(id, type, subject, role, data, extra = {}) {
  return { specversion: '1.0', id, source: 'browser-test', type, subject, time: new Date().toISOString(),
    actorrole: role, program, data, ...extra };
}

before(async () => {
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const data = path.join(scratch, 'data');
  serve = spawn(bin, ['serve', '--data-dir', data, '--workflows', workflows, '--http-port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise((resolve, reject) => {
    let out = '';
    serve.stdout.on('data', d => {
      out += d;
      const m = out.match(/ready http=(\S+)/);
      if (m) resolve(m[1]);
    });
    serve.on('exit', code => reject(new Error('serve exited with ' + code)));
  });
  pm = stagewise('token', '--data-dir', data, '--role', 'program_manager', '--sub', 'pm-1', '--program', program);
  stagewise('simulate', '--program', program, '--applicants', String(applicants), '--data-dir', data,
    '--workflows', workflows, '--days', '60');
  // An applicant whose name is markup: it must show as text, never run.
  await api('/v1/events?wait=10', pm, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(event('xss-1', 'application.submitted', 'xss-app', 'program_manager',
      { name: '<img src=x onerror="window.__pwned=1">', applicant: 'stu-x' })) });
  await until('the cohort to be applied', async () =>
    (await api(`/v1/programs/${program}/reports/funnel`, pm)).total === applicants + 1);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox',
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'] });
});

after(async () => {
  if (browser) await browser.close();
  if (serve) serve.kill('SIGTERM');
});

async function page(token, viewport = { width: 1280, height: 800 }) {
  const p = await browser.newPage({ viewport });
  p.dialogs = [];
  p.on('dialog', d => { p.dialogs.push(d.message()); d.dismiss(); });
  p.errors = [];
  p.on('pageerror', e => p.errors.push(String(e)));
  await p.goto(url + '/#token=' + token);
  await p.waitForSelector('#who:not(:empty)');
  return p;
}

test('the programs overview and the funnel on screen are the API\'s', async () => {
  const p = await page(pm);
  const funnel = await api(`/v1/programs/${program}/reports/funnel`, pm);
  const card = p.locator(`[data-program="${program}"]`);
  assert.equal(await card.locator('[data-figure="total"]').textContent(), String(funnel.total));
  assert.equal(await card.locator('[data-figure="active"]').textContent(), String(funnel.active));
  if (shots) await p.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true });
  await card.getByRole('link').click();
  await p.waitForSelector('#funnel');
  for (const s of funnel.stages) {
    const row = p.locator(`#funnel tr[data-stage="${s.stage}"]`);
    assert.equal(await row.locator('[data-col="now"]').textContent(), String(s.now), s.stage + ' now');
    assert.equal(await row.locator('[data-col="reached"]').textContent(), String(s.reached), s.stage + ' reached');
  }
  // The fairness table: its flags and suppressed cells are the API's.
  const fair = await api(`/v1/programs/${program}/fairness?attribute=gender`, pm);
  await p.waitForSelector('#fairness');
  const flags = fair.stages.flatMap(s => s.groups).filter(g => g.flag).length;
  const hidden = fair.stages.flatMap(s => s.groups).filter(g => g.suppressed).length;
  assert.equal(await p.locator('#fairness td.flag').count(), flags);
  assert.equal(await p.locator('#fairness td.suppressed').count(), hidden);
  await p.waitForSelector('.graph img');
  assert.ok(await p.locator('.graph img').evaluate(img => img.complete && img.naturalWidth > 0),
    'the workflow graph is drawn');
  if (shots) await p.screenshot({ path: path.join(shots, 'program.png'), fullPage: true });
  // Live: a new application shows up without a reload.
  const before = Number(await p.locator('#funnel tr[data-stage="submitted"] [data-col="reached"]').textContent());
  await api('/v1/events?wait=10', pm, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(event('live-1', 'application.submitted', 'live-app', 'program_manager',
      { name: 'Late Comer', applicant: 'stu-live' })) });
  await until('the funnel to update', async () =>
    Number(await p.locator('#funnel tr[data-stage="submitted"] [data-col="reached"]').textContent()) === before + 1, 20);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('search finds an application and its timeline is its history', async () => {
  const p = await page(pm);
  const list = await api(`/v1/programs/${program}/applications?limit=500`, pm);
  const id = list.applications.find(a => a.stage !== 'submitted').id;
  const hist = await api(`/v1/applications/${encodeURIComponent(id)}/history`, pm);
  const app = await api(`/v1/applications/${encodeURIComponent(id)}`, pm);
  await p.goto(url + `/#/p/${program}`);
  await p.getByLabel('Find an application (id)').fill(id.slice(0, -1));  // a part of the id
  await p.getByLabel('Find an application (id)').press('Enter');
  await p.locator('#results a', { hasText: id }).click();
  await p.waitForSelector('#timeline');
  assert.equal(await p.locator('#app-stage').textContent(), app.stage);
  assert.equal(await p.locator('#timeline li').count(), hist.events.length);
  const last = hist.events[hist.events.length - 1];
  assert.match(await p.locator('#timeline li').last().textContent(), new RegExp(last.type.replace('.', '\\.')));
  if (shots) await p.screenshot({ path: path.join(shots, 'application.png'), fullPage: true });
  await p.close();
});

test('text an applicant sent is shown as text, never run', async () => {
  const p = await page(pm);
  await p.goto(url + '/#/a/xss-app');
  await p.waitForSelector('#profile');
  assert.match(await p.locator('#profile').textContent(), /<img src=x onerror=/);
  assert.equal(await p.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(p.dialogs, []);
  await p.close();
});

test('a reviewer on a blind stage sees no identity', async () => {
  const list = await api(`/v1/programs/${program}/applications?stage=review&limit=500`, pm);
  let target = null;
  for (const a of list.applications) {
    const full = await api(`/v1/applications/${encodeURIComponent(a.id)}`, pm);
    if ((full.reviewers || []).length) { target = full; break; }
  }
  assert.ok(target, 'the cohort has an application in review with a reviewer');
  const secrets = [target.profile.name, target.profile.email, target.profile.university].filter(Boolean);
  assert.ok(secrets.length > 0, 'the application has a name to hide');
  // The office sees them on the same page: the check below can fail.
  const office = await page(pm);
  await office.goto(url + '/#/a/' + encodeURIComponent(target.id));
  await office.waitForSelector('#profile');
  assert.ok((await office.locator('main').textContent()).includes(secrets[0]));
  await office.close();
  const data = path.join(scratch, 'data');
  const token = stagewise('token', '--data-dir', data, '--role', 'reviewer', '--sub', target.reviewers[0]);
  const p = await page(token);
  await p.goto(url + '/#/a/' + encodeURIComponent(target.id));
  await p.waitForSelector('#timeline');
  const text = await p.locator('main').textContent();
  for (const secret of secrets)
    assert.ok(!text.includes(secret), 'the reviewer sees ' + secret);
  assert.equal(await p.locator('#app-stage').textContent(), 'review');
  await p.close();
});

test('usable on a phone, every field labelled', async () => {
  const p = await page(pm, { width: 390, height: 844 });
  await p.goto(url + `/#/p/${program}`);
  await p.waitForSelector('#funnel');
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'the page scrolls sideways by ' + overflow + ' px');
  const unlabelled = await p.evaluate(() => [...document.querySelectorAll('input, select')]
    .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label') && e.type !== 'hidden').map(e => e.id));
  assert.deepEqual(unlabelled, []);
  if (shots) await p.screenshot({ path: path.join(shots, 'phone.png'), fullPage: false });
  await p.close();
});

test('the link tools/run prints opens the program, signed in', async () => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await p.goto(url + `/#token=${pm}&program=${program}`);
  await p.waitForSelector('#funnel');
  await p.waitForSelector('#fairness');
  assert.equal(new URL(p.url()).hash, `#/p/${program}`, 'the token left the address bar');
  await p.close();
});

test('an erased application says so and shows none of its personal data', async () => {
  const list = await api(`/v1/programs/${program}/applications?limit=500`, pm);
  const target = list.applications.find(a => ['rejected', 'withdrawn', 'declined'].includes(a.stage))
    || list.applications[list.applications.length - 1];
  const before = await api(`/v1/applications/${encodeURIComponent(target.id)}`, pm);
  const name = before.profile.name;
  assert.ok(name, 'the application had a name to erase');
  await api('/v1/events?wait=10', pm, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(event('erase-' + target.id, 'application.erased', target.id, 'program_manager')) });
  const p = await page(pm);
  await p.goto(url + `/#/a/${encodeURIComponent(target.id)}`);
  await p.waitForSelector('#erased');
  assert.match(await p.locator('#erased').textContent(), /^Erased on /);
  assert.equal(await p.locator('#app-stage').textContent(), before.stage, 'the stages stay');
  assert.ok(!(await p.content()).includes(name), 'the name is still on the page');
  assert.deepEqual(p.errors, []);
  await p.close();
});
