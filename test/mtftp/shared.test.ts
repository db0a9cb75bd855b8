// A group and port that several mtftp.files name (docs/decisions/0008-mtftp-shared-group.md):
// which channels are shared, and what the server does with an RRQ for a file on one, as
// plain values: open a unicast round (ending the ones it replaces), ignore a duplicate,
// or ignore it while the limits are reached.
import t from 'tap';
import { sharedChannels } from '../../services/core/multicast.js';
import { clientKey, decideUnicast, type RoundView } from '../../services/mtftp/shared.js';

const limits = { maxRounds: 4, maxPerClient: 2 };

function view(address: string, port: number, file: string, unicast = true): RoundView {
  return { key: clientKey(address, port), address, file, unicast };
}

t.test('sharedChannels: the group:port keys named by more than one file, with their files in order', async (t) => {
  const shared = sharedChannels([
    { file: 'vmlinuz', group: '239.255.1.1', clientPort: 3001 },
    { file: 'undionly.kpxe', group: '239.255.1.2', clientPort: 3001 },
    { file: 'initrd.gz', group: '239.255.1.1', clientPort: 3001 },
    { file: 'other.bin', group: '239.255.1.1', clientPort: 3002 },
    { file: 'modules.img', group: '239.255.1.1', clientPort: 3001 },
  ]);
  t.same([...shared], [['239.255.1.1:3001', ['vmlinuz', 'initrd.gz', 'modules.img']]],
    'one shared channel; the same group on another port, and another group on the same port, are not shared');
  t.same([...sharedChannels([])], [], 'no files, nothing shared');
});

t.test('decideUnicast: a first request opens a round, replacing nothing', async (t) => {
  t.same(decideUnicast([], { address: '192.0.2.11', port: 40000, file: 'vmlinuz' }, limits), { kind: 'open', replace: [] });
  t.same(decideUnicast([view('192.0.2.12', 40000, 'vmlinuz')], { address: '192.0.2.11', port: 40000, file: 'vmlinuz' }, limits),
    { kind: 'open', replace: [] }, 'another machine fetching the same file gets its own round');
});

t.test('decideUnicast: the same request again (a retransmitted RRQ) is a duplicate: the running round answers it', async (t) => {
  const running = [view('192.0.2.11', 40000, 'vmlinuz')];
  t.same(decideUnicast(running, { address: '192.0.2.11', port: 40000, file: 'vmlinuz' }, limits), { kind: 'duplicate' });
});

t.test('decideUnicast: the same machine from a new port restarts its fetch (iPXE re-opens from a new socket)', async (t) => {
  const running = [view('192.0.2.11', 40000, 'vmlinuz'), view('192.0.2.11', 40002, 'initrd.gz'), view('192.0.2.12', 40000, 'vmlinuz')];
  t.same(decideUnicast(running, { address: '192.0.2.11', port: 40001, file: 'vmlinuz' }, limits),
    { kind: 'open', replace: [clientKey('192.0.2.11', 40000)] }, 'only its own round of that file is ended');
});

t.test('decideUnicast: a socket asking for another file has left its round, unicast or multicast (one transfer per TID)', async (t) => {
  const running = [view('192.0.2.11', 40000, 'vmlinuz'), view('192.0.2.13', 41000, 'undionly.kpxe', false)];
  t.same(decideUnicast(running, { address: '192.0.2.11', port: 40000, file: 'initrd.gz' }, limits),
    { kind: 'open', replace: [clientKey('192.0.2.11', 40000)] });
  t.same(decideUnicast(running, { address: '192.0.2.13', port: 41000, file: 'initrd.gz' }, limits),
    { kind: 'open', replace: [clientKey('192.0.2.13', 41000)] }, 'the multicast round it mastered is ended too');
});

t.test('decideUnicast: at the limits the request is ignored (the client asks again, or falls back to TFTP)', async (t) => {
  const full = [view('192.0.2.11', 1, 'a'), view('192.0.2.12', 2, 'a'), view('192.0.2.13', 3, 'a'), view('192.0.2.14', 4, 'a')];
  const d = decideUnicast(full, { address: '192.0.2.15', port: 5, file: 'a' }, limits);
  t.match(d, { kind: 'busy', reason: /4 unicast rounds .*tftp\.maxTransfers/ });
  t.same(decideUnicast(full, { address: '192.0.2.11', port: 6, file: 'a' }, limits), { kind: 'open', replace: [clientKey('192.0.2.11', 1)] },
    'a replacement is not held back by the limit it frees');
  const multicast = [...full.slice(0, 3), view('192.0.2.14', 4, 'x', false)];
  t.same(decideUnicast(multicast, { address: '192.0.2.15', port: 5, file: 'a' }, limits), { kind: 'open', replace: [] },
    'multicast rounds do not count against the unicast limits');
  const two = [view('192.0.2.11', 1, 'a'), view('192.0.2.11', 2, 'b')];
  t.match(decideUnicast(two, { address: '192.0.2.11', port: 3, file: 'c' }, limits), { kind: 'busy', reason: /192\.0\.2\.11 .*2 .*tftp\.maxPerClient/ });
});
