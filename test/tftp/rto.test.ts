// The retransmission timer (RFC 6298): SRTT/RTTVAR, RTO = SRTT + max(G, 4·RTTVAR),
// floor and ceiling, exponential backoff reset by a new sample.
import t from 'tap';
import { RetransmitTimer } from '../../services/tftp/rto.js';

t.test('before any sample: the initial wait', async (t) => {
  const r = new RetransmitTimer(20, 5000);
  t.equal(r.current(), 1000, 'min(1000, ceiling) by default');
  t.equal(r.smoothed, -1, 'no SRTT yet');
  t.equal(new RetransmitTimer(20, 300).current(), 300, 'a ceiling under 1 s is the initial wait');
  t.equal(new RetransmitTimer(20, 5000, 250).current(), 250, 'an explicit initial wait');
  t.equal(new RetransmitTimer(400, 5000, 100).current(), 400, 'the floor applies to the initial wait');
});

t.test('first sample: SRTT = R, RTTVAR = R/2 (RFC 6298 2.2)', async (t) => {
  const r = new RetransmitTimer(1, 60000);
  r.sample(100);
  t.equal(r.smoothed, 100);
  t.equal(r.current(), 100 + 4 * 50, 'RTO = SRTT + 4·RTTVAR = 300');
  const s = new RetransmitTimer(1, 60000);
  s.sample(8);
  t.equal(s.current(), 8 + 16, 'RTO = 24');
});

t.test('later samples (RFC 6298 2.3, alpha 1/8, beta 1/4)', async (t) => {
  const r = new RetransmitTimer(1, 60000);
  r.sample(100); // srtt 100, rttvar 50
  r.sample(200); // rttvar = 0.75*50 + 0.25*|100-200| = 62.5; srtt = 0.875*100 + 0.125*200 = 112.5
  t.equal(r.smoothed, 112.5);
  t.equal(r.current(), 112.5 + 4 * 62.5, 'RTO = 362.5');
  r.sample(112.5); // rttvar = 0.75*62.5 + 0 = 46.875; srtt = 112.5
  t.equal(r.smoothed, 112.5);
  t.equal(r.current(), 112.5 + 4 * 46.875, 'RTO = 300');
  // RTTVAR is updated with the old SRTT, not the new one.
  const s = new RetransmitTimer(1, 60000);
  s.sample(40); // srtt 40, rttvar 20
  s.sample(0); // rttvar = 15 + 10 = 25 (with the old srtt 40); srtt = 35
  t.equal(s.smoothed, 35);
  t.equal(s.current(), 35 + 100);
});

t.test('clock granularity G = 1 ms', async (t) => {
  const r = new RetransmitTimer(0, 5000);
  r.sample(0);
  t.equal(r.current(), 1, 'SRTT 0 + max(1, 0)');
  for (let i = 0; i < 50; i++) r.sample(10);
  // RTTVAR decays towards 0 and 4·RTTVAR drops under G: RTO = SRTT + G.
  t.ok(r.smoothed > 9.9 && r.smoothed < 10, `SRTT ${r.smoothed} converges to 10`);
  t.equal(r.current(), r.smoothed + 1, 'RTO = SRTT + 1');
});

t.test('floor', async (t) => {
  const r = new RetransmitTimer(20, 5000);
  r.sample(1); // 1 + max(1, 2) = 3 → floored to 20
  t.equal(r.current(), 20);
  r.backOff();
  t.equal(r.current(), 40, 'backoff doubles the floored value');
  r.backOff();
  t.equal(r.current(), 80);
});

t.test('backoff doubles and is capped at the ceiling, stretched by a tenth', async (t) => {
  const r = new RetransmitTimer(20, 5000);
  r.sample(100); // 300
  const seen = [r.current()];
  const atCeiling = [r.atCeiling];
  for (let i = 0; i < 7; i++) { r.backOff(); seen.push(r.current()); atCeiling.push(r.atCeiling); }
  // At the ceiling the wait is 10% longer, so a client that waits for one full timeout
  // of silence (Debian's atftp, 5 s) gets it.
  // After four doublings it goes straight to the ceiling (a peer silent that long is gone
  // or waits for a silence of its own timeout).
  t.same(seen, [300, 600, 1200, 2400, 5500, 5500, 5500, 5500]);
  t.same(atCeiling, [false, false, false, false, true, true, true, true]);
  for (let i = 0; i < 2000; i++) r.backOff();
  t.equal(r.current(), 5500, 'still the stretched ceiling after 2000 timeouts');
  t.ok(Number.isFinite(r.current()));
});

t.test('backoff before any sample', async (t) => {
  const r = new RetransmitTimer(20, 5000);
  const seen = [r.current()];
  for (let i = 0; i < 4; i++) { r.backOff(); seen.push(r.current()); }
  t.same(seen, [1000, 2000, 4000, 5500, 5500]);
});

t.test('the ceiling caps a large sample', async (t) => {
  const r = new RetransmitTimer(20, 2000);
  r.sample(1500); // 1500 + 3000
  t.equal(r.current(), 2000);
});

t.test('a sample resets the backoff', async (t) => {
  const r = new RetransmitTimer(20, 60000);
  r.sample(100);
  r.backOff();
  r.backOff();
  r.backOff();
  t.equal(r.current(), 2400);
  r.sample(100); // rttvar = 37.5, srtt 100 → 250
  t.equal(r.current(), 250, 'back to SRTT + 4·RTTVAR, no multiplier');
  r.backOff();
  t.equal(r.current(), 500, 'and the next timeout doubles from there');
});
