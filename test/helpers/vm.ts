// QEMU VMs that network-boot inside a NetLab (docs/test-lab.md), and the payload they boot.
//
// - prepareMarkerPayload(): a Debian cloud kernel (downloaded at test time with
//   `apt-get download` + `dpkg -x`, never committed) and an initrd whose /init prints
//   "BOOTLAB-MARKER <nonce>" (nonce from bootlab.marker=<nonce> on the kernel command line)
//   and powers off. Both are cached in /var/cache/bootlab-test (scripts/fetch-test-kernel.sh).
// - startVm(): QEMU in the lab's lan namespace on a tap, BIOS (SeaBIOS + QEMU's iPXE NIC
//   ROM) or UEFI (OVMF via pflash: CODE read-only + a private copy of VARS), the latter
//   either with QEMU's iPXE EFI ROM or with `romfile=` so EDK2's own PXE client runs.
//   Serial console goes to a log file; waitFor() resolves when the log has a string.
//   QEMU is started with NetLab.spawn, so it is tracked and killed by PID in lab.destroy().
// - startRaResponder(): dnsmasq sending IPv6 router advertisements only, so iPXE does not
//   wait ~13 s for IPv6 autoconfiguration on a router-less link.
//
// Facts checked here (Debian 12, QEMU 7.2, ipxe-qemu 1.0.0+git-20190125, ovmf 2022.11,
// linux-image-6.1.0-*-cloud-amd64): the cloud kernel has the 8250 serial console built in
// (virtio-net is a module, which the marker initrd never needs); `-no-reboot` makes QEMU
// exit when the guest powers off, and after a failed PXE boot SeaBIOS's reboot attempt.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetLab, type LabProcess } from './netlab.js';
import { spawnBootlab, type BootlabConfig } from './bootlab.js';

export const TEST_CACHE_DIR = process.env.BOOTLAB_TEST_CACHE ?? '/var/cache/bootlab-test';
/** Under TCG a BIOS boot takes ~10 s idle, several times that on 2 busy cores. */
export const DEFAULT_BOOT_TIMEOUT_MS = 180_000;

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const IPXE_DIR = '/usr/lib/ipxe';

/** The repository root (this file runs from dist/test/helpers/ or test/helpers/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('vm.ts: cannot find the repository root');
    dir = up;
  }
}

export interface MarkerPayload {
  kernel: string;
  initrd: string;
}

/**
 * Downloads (first time only) the kernel and builds the marker initrd into the cache dir.
 * Synchronous: call it once per test file, before starting VMs.
 */
export function prepareMarkerPayload(cacheDir = TEST_CACHE_DIR): MarkerPayload {
  const script = join(repoRoot(), 'scripts', 'fetch-test-kernel.sh');
  let out: string;
  try {
    out = execFileSync(script, [cacheDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`fetch-test-kernel.sh: ${err.stderr?.trim() || err.message}`);
  }
  const kv = Object.fromEntries(out.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
  if (!kv.kernel || !kv.initrd) throw new Error(`fetch-test-kernel.sh printed no paths: ${out}`);
  return { kernel: kv.kernel, initrd: kv.initrd };
}

/** A fresh random nonce for bootlab.marker=... (hex, safe on a kernel command line). */
export function newNonce(): string {
  return Array.from({ length: 12 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

export function markerLine(nonce: string): string {
  return `BOOTLAB-MARKER ${nonce}`;
}

/**
 * - bios: SeaBIOS + QEMU's iPXE ROM for virtio-net (identifies as iPXE: options 77/175).
 * - uefi-ipxe: OVMF with QEMU's default NIC ROM, whose EFI driver is iPXE.
 * - uefi: OVMF with `romfile=` (no ROM): EDK2's own PXE client (arch 7, no iPXE options).
 */
export type Firmware = 'bios' | 'uefi' | 'uefi-ipxe';

export interface VmOptions {
  lab: NetLab;
  /** A tap already made with lab.tap(name). */
  tap: string;
  mac: string;
  firmware: Firmware;
  /** Directory for the serial log and the OVMF VARS copy (a per-test temp dir). */
  workDir: string;
  /** Name used for the log and VARS files (default: the tap name). */
  name?: string;
  memoryMb?: number;
  /** Namespace (lab member) that runs QEMU; default the lan namespace that holds the taps. */
  member?: string;
  /** NIC model (default virtio-net-pci). */
  nic?: string;
  /** SMBIOS UUID (QEMU's default is all zeros; firmware sends it as DHCP option 97). */
  uuid?: string;
  /** A raw disk image (e.g. writeLocalDisk()) on IDE, booted after the NIC (bootindex 2). */
  disk?: string;
  extraArgs?: string[];
}

export interface Vm {
  proc: LabProcess;
  pid: number;
  logFile: string;
  args: string[];
  /** The serial log so far. */
  log(): string;
  /** The last `lines` lines of the log, for error messages. */
  tail(lines?: number): string;
  /**
   * Resolves with the elapsed milliseconds (since QEMU started) once the log contains
   * `what`; rejects after `timeoutMs`, or when QEMU exits without it, with the log tail.
   */
  waitFor(what: string | RegExp, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/** The QEMU argument list for a VM (exported so captures and tests can log it). */
export function qemuArgs(o: {
  tap: string;
  mac: string;
  firmware: Firmware;
  logFile: string;
  varsFile?: string;
  memoryMb?: number;
  nic?: string;
  uuid?: string;
  disk?: string;
  extraArgs?: string[];
}): string[] {
  const nic = o.nic ?? 'virtio-net-pci';
  const args = [
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-m',
    String(o.memoryMb ?? 256),
    '-nographic',
    '-monitor',
    'none',
    '-serial',
    `file:${o.logFile}`,
    '-no-reboot',
    '-netdev',
    `tap,id=n0,ifname=${o.tap},script=no,downscript=no`,
  ];
  let dev = `${nic},netdev=n0,mac=${o.mac}`;
  if (o.firmware === 'uefi') dev += ',romfile=';
  // bootindex on the NIC: network boot first (SeaBIOS and OVMF both honour it).
  args.push('-device', `${dev},bootindex=1`);
  // The local disk after the NIC: what SeaBIOS boots when the network boot gives up (or
  // iPXE exits), and drive 0x80 for iPXE's `sanboot --drive 0x80`.
  if (o.disk)
    args.push('-drive', `file=${o.disk},format=raw,if=none,id=d0`, '-device', 'ide-hd,drive=d0,bus=ide.0,bootindex=2');
  if (o.firmware !== 'bios') {
    if (!o.varsFile) throw new Error('qemuArgs: UEFI needs a VARS file copy');
    args.push(
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${o.varsFile}`,
    );
  }
  if (o.uuid) args.push('-uuid', o.uuid);
  args.push(...(o.extraArgs ?? []));
  return args;
}

export function startVm(o: VmOptions): Vm {
  const name = o.name ?? o.tap;
  const logFile = join(o.workDir, `${name}.serial.log`);
  let varsFile: string | undefined;
  if (o.firmware !== 'bios') {
    varsFile = join(o.workDir, `${name}.OVMF_VARS.fd`);
    copyFileSync(OVMF_VARS, varsFile);
  }
  const args = qemuArgs({ ...o, logFile, varsFile });
  const started = Date.now();
  const proc = o.lab.spawn(o.member ?? o.lab.lan, 'qemu-system-x86_64', args);
  let exitedAt: number | undefined;
  void proc.exited.then(() => { exitedAt = Date.now(); });

  const log = (): string => {
    try {
      return readFileSync(logFile, 'latin1');
    } catch {
      return '';
    }
  };
  const tail = (lines = 40): string => {
    // Firmware output is full of ANSI escapes and carriage returns: keep it readable.
    const text = log().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1bc/g, '').replace(/\r/g, '\n');
    return text.split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
  };
  const has = (what: string | RegExp): boolean => {
    const text = log();
    return typeof what === 'string' ? text.includes(what) : what.test(text);
  };

  const waitFor = (what: string | RegExp, timeoutMs = DEFAULT_BOOT_TIMEOUT_MS): Promise<number> =>
    new Promise((resolveP, reject) => {
      const deadline = Date.now() + timeoutMs;
      const tick = (): void => {
        if (has(what)) return resolveP(Date.now() - started);
        if (exitedAt !== undefined) {
          return reject(new Error(`QEMU (pid ${proc.pid}) exited after ${((exitedAt - started) / 1000).toFixed(1)} s without ${String(what)} in ${logFile}; stderr: ${proc.stderr().trim() || '(none)'}\n--- serial log tail ---\n${tail()}`));
        }
        if (Date.now() > deadline) {
          return reject(new Error(`no ${String(what)} in ${logFile} after ${timeoutMs / 1000} s\n--- serial log tail ---\n${tail()}`));
        }
        setTimeout(tick, 250);
      };
      tick();
    });

  return { proc, pid: proc.pid, logFile, args, log, tail, waitFor, stop: () => proc.stop(2000) };
}

/** Starts a VM and waits for `until` in its log (the lab stops QEMU on destroy()). */
export async function bootVm(
  o: VmOptions & { until: string | RegExp; timeoutMs?: number },
): Promise<{ vm: Vm; ms: number }> {
  const vm = startVm(o);
  const ms = await vm.waitFor(o.until, o.timeoutMs);
  return { vm, ms };
}

/**
 * A router-advertisement-only responder on the lab's bridge, in its own lab member
 * namespace (default "ra"): dnsmasq with no DNS, no DHCP, advertising 2001:db8:b007::/64
 * (documentation prefix). iPXE then finishes IPv6 configuration at once instead of
 * waiting ~13 s for a router. Returns the dnsmasq process (tracked by the lab).
 */
export function startRaResponder(lab: NetLab, opts: { member?: string; bridge?: string; workDir: string }): LabProcess {
  const member = opts.member ?? 'ra';
  const ns = lab.attach(member, { ifname: 'eth0', bridge: opts.bridge ?? 'br0' });
  lab.exec(member, 'ip', ['-6', 'addr', 'add', '2001:db8:b007::1/64', 'dev', 'eth0', 'nodad']);
  return lab.spawn(ns, 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces',
    `--pid-file=${join(opts.workDir, `dnsmasq-${member}.pid`)}`,
    '--enable-ra', '--dhcp-range=2001:db8:b007::,ra-only,64', '--ra-param=eth0,3,1800',
    '--log-facility=-',
  ]);
}

/**
 * `work`/tftpboot with what every VM case serves: the marker kernel and initrd (as
 * vmlinuz and initrd.gz), the iPXE binaries for firmware that is not iPXE, and
 * pxelinux.0 + ldlinux.c32.
 */
export function markerTftpRoot(work: string, p: MarkerPayload): string {
  const root = join(work, 'tftpboot');
  mkdirSync(root, { recursive: true });
  copyFileSync(p.kernel, join(root, 'vmlinuz'));
  copyFileSync(p.initrd, join(root, 'initrd.gz'));
  for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) copyFileSync(join(IPXE_DIR, f), join(root, f));
  addPxelinux(root);
  return root;
}

/** The last `n` lines of a process's output, for diagnostics. */
export function tailLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n');
}

/** Resolves when `get()` matches; rejects on timeout or when `proc` exits first. */
export function waitForText(
  get: () => string,
  re: RegExp,
  timeoutMs: number,
  proc: LabProcess,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let gone = false;
    void proc.exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + timeoutMs;
    const tick = (): void => {
      if (re.test(get())) return resolve();
      if (gone)
        return reject(
          new Error(
            `${what} exited before printing ${re}: stdout ${tailLines(proc.stdout(), 20)} stderr ${tailLines(proc.stderr(), 20)}`,
          ),
        );
      if (Date.now() > deadline)
        return reject(
          new Error(
            `${what} printed no ${re} within ${timeoutMs / 1000} s: stdout ${tailLines(proc.stdout(), 20)} stderr ${tailLines(proc.stderr(), 20)}`,
          ),
        );
      setTimeout(tick, 100);
    };
    tick();
  });
}

// --- local disk -----------------------------------------------------------------------

/** What the local disk's boot sector prints on COM1. */
export function localLine(nonce: string): string {
  return `BOOTLAB-LOCAL ${nonce}`;
}

/**
 * A 512-byte MBR: hand-assembled 16-bit real-mode code that writes `message` + CRLF to
 * COM1 (0x3F8, waiting for the transmit register to empty, LSR 0x3FD bit 5) and halts
 * (cli; hlt forever), then the 0x55AA signature. The BIOS loads it at 0000:7C00.
 *   00 FA          cli
 *   01 FC          cld
 *   02 31 C0       xor ax, ax
 *   04 8E D8       mov ds, ax
 *   06 BE 23 7C    mov si, 0x7C23        ; the message, right after the code
 *   09 AC    next: lodsb
 *   0A 84 C0       test al, al
 *   0C 74 12       jz halt               ; -> 0x20
 *   0E 88 C4       mov ah, al
 *   10 BA FD 03    mov dx, 0x3FD
 *   13 EC    wait: in al, dx
 *   14 A8 20       test al, 0x20
 *   16 74 FB       jz wait               ; -> 0x13
 *   18 BA F8 03    mov dx, 0x3F8
 *   1B 88 E0       mov al, ah
 *   1D EE          out dx, al
 *   1E EB E9       jmp next              ; -> 0x09
 *   20 F4    halt: hlt
 *   21 EB FD       jmp halt              ; -> 0x20
 *   23 message, NUL
 * (Checked with `objdump -D -b binary -mi8086`.)
 */
export function mbrBootSector(message: string): Buffer {
  const code = Buffer.from([
    0xfa, 0xfc, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x23, 0x7c, 0xac, 0x84, 0xc0, 0x74, 0x12, 0x88, 0xc4,
    0xba, 0xfd, 0x03, 0xec, 0xa8, 0x20, 0x74, 0xfb, 0xba, 0xf8, 0x03, 0x88, 0xe0, 0xee, 0xeb, 0xe9,
    0xf4, 0xeb, 0xfd,
  ]);
  if (code.length !== 0x23) throw new Error('mbrBootSector: the message offset is baked into the code');
  const text = Buffer.from(`\r\n${message}\r\n\0`, 'latin1');
  // The partition table starts at 446: code and message must end before it.
  if (code.length + text.length > 446) throw new Error('mbrBootSector: message too long');
  const sector = Buffer.alloc(512);
  code.copy(sector, 0);
  text.copy(sector, code.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** A 1 MiB raw disk image whose MBR prints `BOOTLAB-LOCAL <nonce>` (localLine). */
export function writeLocalDisk(file: string, nonce: string): string {
  const img = Buffer.alloc(1 << 20);
  mbrBootSector(localLine(nonce)).copy(img, 0);
  writeFileSync(file, img);
  return file;
}

// --- pxelinux -----------------------------------------------------------------------

/** Debian's pxelinux (package pxelinux) and its core module (package syslinux-common). */
export const PXELINUX = '/usr/lib/PXELINUX/pxelinux.0';
export const LDLINUX_C32 = '/usr/lib/syslinux/modules/bios/ldlinux.c32';

/** pxelinux.0 and ldlinux.c32 into a tftpboot folder (pxelinux loads the latter at once). */
export function addPxelinux(root: string): void {
  copyFileSync(PXELINUX, join(root, 'pxelinux.0'));
  copyFileSync(LDLINUX_C32, join(root, 'ldlinux.c32'));
}

// --- bootlab in a lab, for the boot-flow VM tests -------------------------------------

export const LAB_SERVER_IP = '192.0.2.1';
export const LAB_ADMIN_TOKEN = 'vm-test-admin-token-0123456789';

export interface BootlabLabOptions {
  /** NetLab tag (short: namespace and interface names are limited). */
  tag: string;
  /** config/hosts.yaml text. */
  hosts: string;
  /** http.enabled (port 80 in the server namespace). */
  http: boolean;
  /** boot.bootOnceEnds; bootlab's default when absent. */
  bootOnceEnds?: 'booted' | 'kernel';
  /** Taps to make on the bridge, one per VM (tap0, tap1 ...). */
  taps: number;
  payload: MarkerPayload;
  /**
   * full (default): bootlab hands out the addresses. proxy: a "site" namespace (192.0.2.2)
   * runs dnsmasq as the site's plain DHCP server (no PXE options), bootlab adds the boot part.
   */
  mode?: 'full' | 'proxy';
}

export interface ApiReply<T = unknown> { status: number; body: T; text: string }

export interface BootlabLab {
  lab: NetLab;
  work: string;
  root: string;
  hostsFile: string;
  bootlab: LabProcess;
  /** The admin API (port 8080 on the server's loopback, with the token), through curl in the server namespace. */
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<ApiReply<T>>;
  /** bootlab's JSON log lines so far (unparseable lines dropped). */
  logLines(): Array<Record<string, unknown>>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
  passing(): boolean;
  comment(...args: unknown[]): void;
}

/**
 * A bridge, bootlab (full DHCP, pool 192.0.2.100-150, TFTP on 69, HTTP on 80 when asked,
 * admin on 8080) in a "srv" namespace at 192.0.2.1, the RA responder, and `taps` taps.
 * Resolves once bootlab is ready (spawnBootlab). Torn down by t's teardown: every
 * process by PID, every namespace; the work folder is kept when the test failed.
 */
export async function startBootlabLab(t: Teardownable, o: BootlabLabOptions): Promise<BootlabLab> {
  const work = mkdtempSync(join(tmpdir(), `bl-${o.tag}-`));
  const lab = new NetLab(o.tag);
  let bootlab: LabProcess | undefined;
  t.teardown(async () => {
    if (!t.passing() && bootlab) t.comment(`bootlab stdout (tail):\n${tailLines(bootlab.stdout(), 60)}\nbootlab stderr (tail):\n${tailLines(bootlab.stderr(), 20)}`);
    await lab.destroy();
    if (t.passing()) rmSync(work, { recursive: true, force: true });
    else t.comment(`kept ${work} (serial logs, config, state)`);
  });
  const root = markerTftpRoot(work, o.payload);
  const hostsFile = join(work, 'hosts.yaml');
  const config: BootlabConfig = {
    tftp: { root, address: '0.0.0.0', port: 69 },
    dhcp: {
      mode: o.mode ?? 'full',
      interfaces: ['eth0'],
      ...(o.mode === 'proxy' ? {} : { pool: { start: '192.0.2.100', end: '192.0.2.150' }, leaseTime: 600 }),
    },
    http: { enabled: o.http, address: '0.0.0.0', port: 80 },
    ...(o.bootOnceEnds ? { boot: { bootOnceEnds: o.bootOnceEnds } } : {}),
    admin: { enabled: true, address: '0.0.0.0', port: 8080, token: LAB_ADMIN_TOKEN },
  };

  lab.bridge('br0');
  const srv = lab.attach('srv', { cidr: `${LAB_SERVER_IP}/24` });
  for (let i = 0; i < o.taps; i++) lab.tap(`tap${i}`);
  startRaResponder(lab, { workDir: work });
  if (o.mode === 'proxy') {
    const siteNs = lab.attach('site', { cidr: '192.0.2.2/24' });
    const site = lab.spawn(siteNs, 'dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces',
      `--pid-file=${join(work, 'site.pid')}`, `--dhcp-leasefile=${join(work, 'site.leases')}`,
      '--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m', '--log-dhcp', '--log-facility=-',
    ]);
    await waitForText(() => site.stderr(), /started, version/, 10_000, site, 'site dnsmasq');
  }
  const started = await spawnBootlab({ home: work, config, hosts: o.hosts, lab, member: srv });
  bootlab = started.proc;
  const proc = bootlab;

  const api = async <T>(method: string, path: string, body?: unknown): Promise<ApiReply<T>> => {
    const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '--max-time', '10', '-X', method,
      '-H', `authorization: Bearer ${LAB_ADMIN_TOKEN}`, `http://127.0.0.1:8080${path}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
    const p = lab.spawn(srv, 'curl', args);
    await p.exited;
    const out = p.stdout();
    const nl = out.lastIndexOf('\n');
    const text = out.slice(0, nl);
    let parsed: unknown = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
    return { status: Number(out.slice(nl + 1)), body: parsed as T, text };
  };
  const logLines = (): Array<Record<string, unknown>> => proc.stdout().split('\n').flatMap((l) => {
    try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; }
  });
  return { lab, work, root, hostsFile, bootlab: proc, api, logLines };
}

/** One line of GET /api/clients/:mac/events. */
export interface HistoryEvent { at: number; kind: string; text: string; file?: string; [k: string]: unknown }

/** A row of GET /api/clients. */
export interface ClientRowLite {
  mac: string;
  stage: string;
  bootedAt: number | null;
  ip: string | null;
  firmware: string | null;
  arch: number | null;
  file: string | null;
}
