// Flash jobs over the admin API (issue 7): the "device" is bootlab's own TFTP server on
// loopback with uploads on (a write request into uploads/ is what a boot loader accepts;
// one outside it is refused with an ERROR, as a boot loader refuses a wrong name).
// POST /api/flash starts a job, GET /api/flash/:id follows it to done, and the device
// holds the firmware byte for byte; one job per target; no answer within the wait;
// the device's refusal; firmware upload into tftpboot/firmware/ (atomic, create-only
// unless replace), bad input named by field.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { adminFixture, type AdminFixture } from '../../helpers/admin.js';
import { waitFor } from '../../helpers/util.js';

const FIRMWARE = randomBytes(300_000);

async function fixture(t: Parameters<typeof adminFixture>[0]): Promise<AdminFixture> {
  return adminFixture(t, {
    tftp: ['write:', '  enabled: true', '  dirs: [uploads]', '  policy: overwrite'],
    files: { 'firmware/router.bin': FIRMWARE, 'uploads/.keep': '' },
  });
}

const tftpPort = (f: AdminFixture) => f.runtime.supervisor.list().find((s) => s.name === 'tftp')!.bound[0].port;

/** The job as the API shows it once `done` holds (or as it last was, when it never does). */
async function jobWhen(
  f: AdminFixture,
  id: string,
  done: (j: Record<string, unknown>) => boolean,
  ms = 20_000,
): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await waitFor(
    async () => done((last = (await f.get(`/api/flash/${id}`)).json() as Record<string, unknown>)),
    ms,
    100,
  );
  return last;
}

t.test('a flash job sends the firmware to the device byte for byte and reports its progress', async (t) => {
  const f = await fixture(t);
  const res = await f.send('POST', '/api/flash', { target: '127.0.0.1', port: tftpPort(f), file: 'router.bin', remoteName: 'uploads/router.bin', waitSeconds: 10 });
  t.equal(res.statusCode, 202, res.body);
  const job = res.json();
  t.match(job, { target: '127.0.0.1', file: 'router.bin', remoteName: 'uploads/router.bin', total: FIRMWARE.length, endedAt: null });
  t.ok(['waiting', 'sending'].includes(job.state), `starts waiting or sending: ${job.state}`);
  const end = await jobWhen(f, job.id, (j) => j.endedAt !== null);
  t.match(end, { state: 'done', bytes: FIRMWARE.length, percent: 100 });
  t.match(String(end.message), new RegExp(`^Sent ${FIRMWARE.length} bytes in \\d+\\.\\d seconds$`));
  t.ok(readFileSync(join(f.root, 'uploads', 'router.bin')).equals(FIRMWARE), 'the device holds the firmware byte for byte');
  const list = (await f.get('/api/flash')).json();
  t.equal(list.jobs[0].id, job.id, 'listed, newest first');
});

t.test('one job per target; no answer within the wait; the device\'s refusal; cancel', async (t) => {
  const f = await fixture(t);
  // A socket that never answers, held for the whole test (so no one else takes its port):
  // the boot window never opens.
  const mute = createSocket('udp4');
  await new Promise<void>((resolve) => mute.bind(0, '127.0.0.1', resolve));
  t.teardown(() => mute.close());
  const silent = mute.address().port;
  const waiting = (await f.send('POST', '/api/flash', { target: '127.0.0.1', port: silent, file: 'router.bin', retryEverySeconds: 0.2, waitSeconds: 1.5 })).json();
  const second = await f.send('POST', '/api/flash', { target: '127.0.0.1', port: silent, file: 'router.bin' });
  t.equal(second.statusCode, 409);
  t.same(second.json(), { error: 'conflict', message: `a flash job for 127.0.0.1 is running (${waiting.id}); wait for it or cancel it` });
  const none = await jobWhen(f, waiting.id, (j) => j.endedAt !== null);
  t.equal(none.state, 'no-answer');
  t.ok(Number(none.attempts) >= 3, `the request was repeated (${none.attempts} attempts)`);
  t.match(String(none.message), /^no device answered at 127\.0\.0\.1:\d+ within 2 s \(\d+ attempts\)$/);

  // A name the device does not accept: its ERROR, shown as it came.
  const refused = (await f.send('POST', '/api/flash', { target: '127.0.0.1', port: tftpPort(f), file: 'router.bin', remoteName: 'elsewhere/router.bin' })).json();
  const r = await jobWhen(f, refused.id, (j) => j.endedAt !== null);
  t.equal(r.state, 'refused');
  t.equal(r.message, 'the device refused: error 2: access violation: not a writable folder');

  const long = (await f.send('POST', '/api/flash', { target: '127.0.0.1', port: silent, file: 'router.bin', waitSeconds: 60 })).json();
  const c = await f.send('POST', `/api/flash/${long.id}/cancel`);
  t.equal(c.statusCode, 200);
  const cancelled = await jobWhen(f, long.id, (j) => j.endedAt !== null, 30_000);
  t.equal(cancelled.state, 'cancelled', 'cancel ends it at once, not after the wait');
  const again = await f.send('POST', `/api/flash/${long.id}/cancel`);
  t.equal(again.statusCode, 409);
});

t.test('bad requests name the field; missing firmware and jobs are 404; writes need the token', async (t) => {
  const f = await fixture(t);
  const bad = await f.send('POST', '/api/flash', { target: 'router.local', file: 'router.bin' });
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: 'target: must be an IPv4 address (the device\'s boot loader)', field: 'target' });
  const escape = await f.send('POST', '/api/flash', { target: '127.0.0.1', file: '../hosts.yaml' });
  t.equal(escape.statusCode, 400);
  t.equal(escape.json().field, 'file');
  const missing = await f.send('POST', '/api/flash', { target: '127.0.0.1', file: 'nope.bin' });
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { error: 'not_found', message: 'firmware nope.bin (in tftpboot/firmware/) not found' });
  t.equal((await f.get('/api/flash/0000')).statusCode, 404);
  const noToken = await f.app.inject({ method: 'POST', url: '/api/flash', payload: { target: '127.0.0.1', file: 'router.bin' } });
  t.equal(noToken.statusCode, 401);
});

t.test('firmware upload: into tftpboot/firmware/, above admin.bodyLimit, create-only unless replace, no torn file', async (t) => {
  const f = await fixture(t);
  const big = randomBytes(3 * 1024 * 1024); // admin.bodyLimit is 1 MiB: firmware is allowed more
  const up = await f.send('POST', '/api/flash/firmware?name=new-fw.bin', big as unknown as string, { 'content-type': 'application/octet-stream' });
  t.equal(up.statusCode, 201, up.body);
  t.same(up.json(), { name: 'new-fw.bin', size: big.length });
  t.ok(readFileSync(join(f.root, 'firmware', 'new-fw.bin')).equals(big));
  const list = (await f.get('/api/flash/firmware')).json();
  t.same(list.files, [{ name: 'new-fw.bin', size: big.length }, { name: 'router.bin', size: FIRMWARE.length }]);
  const dup = await f.send('POST', '/api/flash/firmware?name=new-fw.bin', Buffer.from('x') as unknown as string, { 'content-type': 'application/octet-stream' });
  t.equal(dup.statusCode, 409);
  t.ok(readFileSync(join(f.root, 'firmware', 'new-fw.bin')).equals(big), 'the existing file is untouched');
  const rep = await f.send('POST', '/api/flash/firmware?name=new-fw.bin&replace=true', Buffer.from('xyz') as unknown as string, { 'content-type': 'application/octet-stream' });
  t.equal(rep.statusCode, 201, rep.body);
  t.equal(readFileSync(join(f.root, 'firmware', 'new-fw.bin'), 'utf8'), 'xyz');
  const badName = await f.send('POST', '/api/flash/firmware?name=../x.bin', Buffer.from('x') as unknown as string, { 'content-type': 'application/octet-stream' });
  t.equal(badName.statusCode, 400);
  t.equal(badName.json().field, 'name');
  t.notOk(existsSync(join(f.root, 'x.bin')));
  t.same(readdirSync(join(f.root, 'firmware')).filter((n) => n.endsWith('.part')), [], 'no temporary file left');
});

t.test('a password goes in the write request\'s file-name field, never shown; not with remoteName', async (t) => {
  const f = await fixture(t);
  // bootlab's own TFTP as the device stores the upload under the name the WRQ carried:
  // with a password that is the password (as a Linksys-style boot loader reads it).
  const res = await f.send('POST', '/api/flash', { target: '127.0.0.1', port: tftpPort(f), file: 'router.bin', password: 'uploads/secret', waitSeconds: 10, timeoutSeconds: 0.5, retries: 3 });
  t.equal(res.statusCode, 202, res.body);
  t.equal(res.json().remoteName, '(password)', 'the password is not echoed');
  const end = await jobWhen(f, res.json().id, (j) => j.endedAt !== null);
  t.equal(end.state, 'done', String(end.message));
  t.ok(readFileSync(join(f.root, 'uploads', 'secret')).equals(FIRMWARE), 'the WRQ named the password');
  t.notOk(JSON.stringify((await f.get('/api/flash')).json()).includes('secret'), 'no listing shows it');
  const both = await f.send('POST', '/api/flash', { target: '127.0.0.1', file: 'router.bin', password: 'admin', remoteName: 'code.bin' });
  t.equal(both.statusCode, 400);
  t.same(both.json(), { error: 'bad_request', message: 'password: cannot come with remoteName: the password is sent in the write request\'s file-name field', field: 'password' });
  const badRetries = await f.send('POST', '/api/flash', { target: '127.0.0.1', file: 'router.bin', retries: -1 });
  t.equal(badRetries.statusCode, 400);
  t.match(badRetries.json().message, /retries/);
});
