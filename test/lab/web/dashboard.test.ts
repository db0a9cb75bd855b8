// The dashboard in a real browser (issue 5, section H): Debian's Chromium driven by
// playwright-core against the real appliance (`bootlab serve` as a child process). It sets
// the token, registers a MAC through the form and sees it listed, then watches a real
// atftp download's progress bar move to the end, and saves a screenshot for CI.
//
// - Chromium comes from Debian (apt-get install -y chromium), never from
//   `npx playwright install`; the flags are the ones test-lab notes give: without the
//   background-networking ones it keeps trying to reach Google on a closed network.
// - A loopback download at full speed is over in half a second, faster than the
//   dashboard's 250 ms updates can show. So the test paces the client itself, stopping and
//   continuing the atftp process it started (SIGSTOP/SIGCONT by its PID): the server sees
//   a slow client, retransmits a little, and the bar moves for a few seconds.
// - TFTP from 127.0.0.1 has no MAC (no DHCP came first): it shows as a row by address
//   (ip:127.0.0.1) until the machine's own script names its MAC, then in that machine's row.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { atftpArgs, randomFile, sha256File } from '../../helpers/clients.js';
import { spawnBootlab } from '../../helpers/bootlab.js';
import { REPO } from '../../helpers/paths.js';
import { needsFile, tools } from '../../helpers/needs.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = 'test-token-0123456789'; // admin.token needs 16 characters or more
const BIG = 8 * 1024 * 1024;
const MAC = '52:54:00:12:34:56';

const project = REPO;
const artifacts = join(project, 'test-artifacts');

needsFile(tools('atftp', 'chromium'));

// Every client this file starts, stopped in teardown by PID (SIGCONT first: a stopped
// process does not act on SIGTERM until continued).
const children = new Set<ChildProcess>();
let browser: Browser | null = null;
t.teardown(async () => {
  await browser?.close().catch(() => undefined);
  const exits: Promise<unknown>[] = [];
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) continue;
    exits.push(new Promise((resolve) => c.once('exit', resolve)));
    try {
      process.kill(c.pid, 'SIGCONT');
      process.kill(c.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  // bootlab closes its sockets on SIGTERM; wait for that, but not forever.
  await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
});

/**
 * Runs atftp, stopping it most of the time: 15 ms running, 150 ms stopped. Resolves with
 * its exit code once it ends.
 */
function pacedDownload(
  port: number,
  remote: string,
  local: string,
): { done: Promise<number | null>; child: ChildProcess } {
  const child = spawn('atftp', atftpArgs('get', { port, remote, local }), { stdio: 'ignore' });
  children.add(child);
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    stopped = !stopped;
    process.kill(child.pid, stopped ? 'SIGSTOP' : 'SIGCONT');
    timer = setTimeout(tick, stopped ? 150 : 15);
  };
  timer = setTimeout(tick, 15);
  const done = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (timer) clearTimeout(timer);
      resolve(code);
    }),
  );
  return { done, child };
}

interface BarSample { state: string; value: number | null; at: number }

/** The transfers-table row of `file`, read in one go inside the page. */
async function sampleBar(page: Page, file: string): Promise<BarSample | null> {
  const js = `(() => {
    const row = [...document.querySelectorAll('#transfers-body tr')].find((r) => r.dataset.file === ${JSON.stringify(file)});
    if (!row) return null;
    const bar = row.querySelector('progress');
    return { state: row.dataset.state, value: bar && bar.hasAttribute('value') ? bar.value : null };
  })()`;
  const s = (await page.evaluate(js)) as Omit<BarSample, 'at'> | null;
  return s ? { ...s, at: Date.now() } : null;
}

t.test('the dashboard registers a MAC and shows a real transfer moving', async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'boot', 'images'), { recursive: true });
  const sum = randomFile(join(dir, 'boot', 'images'), 'big.img', BIG);
  mkdirSync(join(dir, 'boot', 'firmware'));
  writeFileSync(join(dir, 'boot', 'firmware', 'router.bin'), 'firmware bytes\n');
  const b = await spawnBootlab({
    home: dir, t, cwd: project,
    config: {
      log: { level: 'info' },
      tftp: { address: '127.0.0.1', port: 0, root: './boot' },
      dhcp: { mode: 'off' },
      mtftp: { enabled: false },
      http: { enabled: false },
      admin: { address: '127.0.0.1', port: 0, token: TOKEN, web: join(project, 'web') },
    },
    hosts: {
      defaults: { action: 'menu' },
      images: { big: { files: { bios: 'images/big.img' } }, gone: { kernel: 'nothere/linux' } },
      hosts: {},
    },
  });
  if (typeof b.ready.admin !== 'string') throw new Error(`bootlab runs without the admin server:\n${b.tail()}`);
  const url = b.ready.admin;
  const log = () => `${b.proc.stdout()}${b.proc.stderr()}`;
  t.same(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' }, 'healthz');
  // tftp.port 0: the port it bound is in its service row.
  const rows = (await (await fetch(`${url}/api/services`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { services: { name: string; bound: { port: number }[] }[] };
  const tftpPort = rows.services.find((s) => s.name === 'tftp')!.bound[0].port;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  await page.goto(`${url}/`);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
  t.pass('the page opened the live event stream');
  await page.waitForSelector('#services-body tr[data-name="tftp"][data-state="running"]', { timeout: 5000 });
  t.match(await page.textContent('#services-body tr[data-name="tftp"] .bound'), `udp 127.0.0.1:${tftpPort}`, 'services table: tftp running, its port');

  // A write with a wrong token: the 401 opens the token dialog again, and the request is
  // retried with the new token, so the teacher's click is not lost. Then the API's 400
  // body (a bad hostname) is shown next to the form, the input marked.
  await page.click('#token-button');
  await page.waitForSelector('#token-dialog[open]');
  await page.fill('#token-input', 'not-the-token-at-all');
  await page.click('#token-ok');
  await page.fill('#host-mac', '52-54-00-12-34-56');
  await page.fill('#host-hostname', 'pc 01');
  await page.selectOption('#host-image', 'big');
  await page.click('#host-save');
  await page.waitForSelector('#token-dialog[open]', { timeout: 5000 });
  t.match(await page.textContent('#token-reason'), /refused/, 'a 401 asks for the token again');
  await page.fill('#token-input', TOKEN);
  await page.click('#token-ok');
  await page.waitForSelector('#host-form-error:not([hidden])', { timeout: 5000 });
  t.equal(await page.evaluate('sessionStorage.getItem("bootlab.adminToken")'), TOKEN, 'the token is kept in sessionStorage');
  t.equal(await page.textContent('#token-state'), 'token set', 'the header says a token is set');
  t.match(await page.textContent('#host-form-error'), /hostname/, 'the error names the field');
  t.equal(await page.getAttribute('#host-hostname', 'aria-invalid'), 'true', 'the hostname input is marked invalid');

  // Fixed: saved, listed in the host table, and really in the host map.
  await page.fill('#host-hostname', 'pc01');
  await page.click('#host-save');
  const row = page.locator(`#hosts-body tr[data-mac="${MAC}"]`);
  await row.waitFor({ timeout: 5000 });
  t.match(await row.textContent(), /pc01.*big/, 'the new host is listed with its hostname and image');
  t.ok(await page.isHidden('#host-form-error'), 'the error is gone');
  const stored = (await (await fetch(`${url}/api/hosts/${MAC}`)).json()) as { hostname: string; image: string };
  t.match(stored, { mac: MAC, hostname: 'pc01', image: 'big' }, 'GET /api/hosts/:mac has it');

  // An image whose files are missing is flagged in the select.
  await page.selectOption('#host-image', 'gone');
  t.match(await page.textContent('#image-warning'), 'nothere/linux', 'missing image files warned about');

  // A pasted class list (text/csv) adds every row.
  await page.fill('#bulk-csv', 'mac,hostname,image\n52:54:00:00:00:0a,pc10,big\n52:54:00:00:00:0b,pc11,big\n');
  await page.click('#bulk-save');
  await page.waitForSelector('#hosts-body tr[data-mac="52:54:00:00:00:0b"]', { timeout: 5000 });
  t.match(await page.textContent('#bulk-result'), /2 registered/, 'the class list was registered');

  // Boot once, then the machine reports it booted: a green machine row, and the API ends
  // the boot-once (the page learns it from the `hosts` event and refetches).
  await row.locator('button[data-action="boot-once"]').click();
  await page.waitForSelector('#bootonce-dialog[open]');
  t.match(await page.textContent('#bootonce-after'), /once it reports that it booted, it goes back to the default for unlisted machines \(the boot menu\)/, 'the dialog says when and to what the machine goes back');
  await page.selectOption('#bootonce-image', 'big');
  await page.click('#bootonce-ok');
  await row.locator('.badge-once').waitFor({ timeout: 5000 });
  t.equal(await row.locator('.badge-once').textContent(), 'next boot only (until it reports booted)');
  t.pass('the host is marked for one boot');
  const booted = await fetch(`${url}/api/clients/${MAC}/booted`, {
    method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{}',
  });
  t.equal(booted.status, 200, 'POST /api/clients/:mac/booted');
  const machine = page.locator(`#clients-body tr[data-mac="${MAC}"][data-stage="booted"]`);
  await machine.waitFor({ timeout: 5000 });
  t.match(await machine.getAttribute('class'), /stage-booted/, 'the machine row is there, styled as booted');
  await row.locator('.badge-once').waitFor({ state: 'detached', timeout: 5000 });
  t.pass('boot-once ended, seen through the hosts event');
  await page.click('#clear-finished');
  await machine.waitFor({ state: 'detached', timeout: 5000 });
  t.pass('clear finished removed the booted machine');

  // A download from an address bootlab knows no MAC of: a row by address, kept after the end.
  const loose = spawn('atftp', atftpArgs('get', { port: tftpPort, remote: 'firmware/router.bin', local: join(dir, 'router.bin') }), { stdio: 'ignore' });
  t.equal(await new Promise((r) => loose.on('close', r)), 0, 'a download from 127.0.0.1 with no DHCP first');
  const byAddress = page.locator('#clients-body tr[data-key="ip:127.0.0.1"][data-stage="seen"]');
  await byAddress.waitFor({ timeout: 5000 });
  t.match(await byAddress.textContent(), /127\.0\.0\.1.*no MAC known.*seen \(no DHCP\)/, 'listed by its address, with no MAC, at stage seen');
  await page.waitForFunction('document.querySelector(\'#machines-summary\').textContent.includes(\'1 device known by its address\')', undefined, { timeout: 5000 });
  t.pass('the summary counts it apart from the machines');

  // The machine asks for its iPXE script first: its name carries the MAC, so bootlab ties
  // this client address to the machine and its row follows the download too.
  const script = spawn('atftp', atftpArgs('get', { port: tftpPort, remote: `bootlab/${MAC.replace(/:/g, '-')}.ipxe`, local: join(dir, 'boot.ipxe') }), { stdio: 'ignore' });
  t.equal(await new Promise((r) => script.on('close', r)), 0, 'the machine fetched its script');
  await page.locator(`#clients-body tr[data-mac="${MAC}"][data-stage="script"]`).waitFor({ timeout: 5000 });
  t.pass('the machine row is back, at the script stage');
  await byAddress.waitFor({ state: 'detached', timeout: 5000 });
  t.pass('the address row merged into it');

  // A machine that chose its local disk (its script's local-disk step reports it): the
  // page's own code renders such a row as booted from the local disk, and counts it booted.
  const localRow = (await page.evaluate(`(async () => {
    const m = await import('/machines.js');
    const row = { key: '52:54:00:00:00:0c', mac: '52:54:00:00:00:0c', ip: '127.0.0.9', hostname: 'pc12', arch: 0, firmware: 'bios', image: null,
      stage: 'booted', reason: null, file: 'bootlab/52-54-00-00-00-0c.ipxe', bytes: 300, total: 300, percent: 100, rate: 0,
      firstSeen: Date.now(), lastSeen: Date.now(), bootedAt: Date.now(), bootedFrom: 'local' };
    const rows = new Map([[row.key, row]]);
    const tbody = document.createElement('tbody');
    m.renderClients(tbody, rows);
    return { stage: tbody.querySelector('[data-testid="client-stage"]').textContent, download: tbody.querySelector('td.progress').textContent, summary: m.summary(rows) };
  })()`)) as { stage: string; download: string; summary: string };
  t.same(localRow, { stage: 'booted from local disk', download: 'local disk', summary: '1 machine: 1 booted (1 from the local disk), 0 failed, 0 booting' });

  // A real download, paced, watched in the transfers table.
  const local = join(dir, 'got.img');
  const dl = pacedDownload(tftpPort, 'images/big.img', local);
  const samples: BarSample[] = [];
  let shot = false;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await sampleBar(page, 'images/big.img');
    if (
      s
      && (samples.length === 0
        || samples[samples.length - 1].value !== s.value
        || samples[samples.length - 1].state !== s.state)
    )
      samples.push(s);
    if (s && !shot && s.state === 'active' && s.value !== null && s.value >= 30) {
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
      shot = true;
    }
    if (s && s.state !== 'active') break;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(100);
  }
  const code = await dl.done;
  t.equal(code, 0, 'atftp succeeded');
  t.equal(await sha256File(local), sum, 'the file arrived intact');

  const moving = samples.filter((s) => s.state === 'active' && s.value !== null && s.value > 0 && s.value < 100);
  t.ok(moving.length >= 2, `the bar was seen at two or more values on its way (${samples.map((s) => `${s.state}:${s.value}`).join(' ')})`);
  const values = moving.map((s) => s.value as number);
  t.ok(values.every((v, i) => i === 0 || v > values[i - 1]), 'and only ever went forward');
  const last = samples[samples.length - 1];
  t.equal(`${last?.state}:${last?.value}`, 'done:100', 'the row ends as done, its bar at 100 % (the API sends each transfer\'s outcome)');
  const machineBar = page.locator(`#clients-body tr[data-mac="${MAC}"] progress`);
  await page.waitForFunction(`document.querySelector('#clients-body tr[data-mac="${MAC}"] progress')?.value === 100`, undefined, { timeout: 5000 });
  t.equal(await machineBar.evaluate((b) => (b as unknown as { value: number }).value), 100, 'the machine\'s own bar reached 100 % too');
  t.ok(shot, 'a screenshot was taken mid-transfer');
  if (shot) t.comment(`screenshot: ${join(artifacts, 'dashboard.png')}`);

  // Flash a device: bootlab's own TFTP (read-only here) plays the boot loader and refuses
  // the write request: the job row ends refused, with the device's own message.
  await page.locator('#flash-file option[value="router.bin"]').waitFor({ state: 'attached', timeout: 5000 });
  await page.fill('#flash-target', '127.0.0.1');
  await page.fill('#flash-port', String(tftpPort));
  await page.fill('#flash-wait', '5');
  await page.fill('#flash-password', 'admin');
  await page.click('#flash-start');
  const job = page.locator('#flash-body tr[data-state="refused"]');
  await job.waitFor({ timeout: 10_000 });
  t.equal(await job.locator('.flash-message').textContent(), 'the device refused: error 2: writes are disabled on this server', 'a flash job ends refused, with the device\'s message');
  const jobs = (await (await fetch(`${url}/api/flash`)).json()) as { jobs: { remoteName: string }[] };
  t.equal(jobs.jobs[0]?.remoteName, '(password)', 'the password field went with the job, and is not shown back');
  t.same(pageErrors, [], 'no script error in the page');
  if (t.passing() === false) t.comment(log());
});
