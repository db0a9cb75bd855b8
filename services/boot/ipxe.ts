// Per-machine iPXE scripts, generated from the host map when asked for, never written to
// disk: bootlab/<mac>.ipxe (the DHCP responder hands iPXE this name, services/boot/choose.ts),
// and the dispatcher any iPXE can chain, which asks for its own script by MAC:
// bootlab/boot.ipxe always, and boot.ipxe at the root only when the disk has none (many
// sites have their own boot.ipxe; bootlab never shadows it, issue 15 A1).
// Paths in the scripts start with "/", so iPXE resolves them against the script's own
// URL: the same script loads kernels over HTTP when it came over HTTP, TFTP otherwise.
import { SCRIPT_NAME } from '../core/bootnames.js';
import { ARCHES, type Arch } from '../core/firmware.js';
import { normalizeMac, type Host, type Image } from '../core/hostmap-parse.js';
import type { HostView } from '../core/hostmap-parse.js';
import { imageFor } from './choose.js';
import type { ChainLoopGuard } from './loop.js';
import { render, varsFor, type BootSite } from './vars.js';

const abs = (p: string) => (/^[a-z]+:\/\//i.test(p) ? p : `/${p.replace(/^\/+/, '')}`);
const base = (p: string) => p.split('/').pop() ?? p;

/** iPXE's own ${platform} and ${buildarch} for each architecture a files image names. */
const IPXE_ARCH: Record<Arch, string> = {
  bios: 'iseq ${platform} pcbios',
  uefi32: 'iseq ${platform} efi && iseq ${buildarch} i386',
  uefi64: 'iseq ${platform} efi && iseq ${buildarch} x86_64',
  arm32: 'iseq ${buildarch} arm32',
  arm64: 'iseq ${buildarch} arm64',
};

/** Who the script is for, and where bootlab is (template variables, the booted report). */
export interface ScriptContext {
  site: BootSite;
  clientIp: string | null;
}

function imageScript(img: Image, mac: string, host: Host | undefined, ctx: ScriptContext): string[] {
  const vars = varsFor(mac, host, img.name, ctx.clientIp, ctx.site);
  switch (img.kind) {
    case 'kernel': {
      const lines: string[] = [];
      // initrd=NAME on the command line lets EFI kernels find the initrd iPXE loaded.
      const cmdline = [img.initrd ? `initrd=${base(img.initrd)}` : '', render(img.cmdline, vars)].filter(Boolean).join(' ');
      lines.push(`kernel ${abs(img.kernel)} ${cmdline}`.trimEnd());
      if (img.initrd) lines.push(`initrd ${abs(img.initrd)}`);
      // The last step before the kernel runs: report "booted" (ends a boot-once). The path
      // is relative to this script's URL, so it goes back over HTTP or TFTP as the script came;
      // a failed report never stops the boot.
      lines.push(`imgfetch --name bootlab-booted /${ctx.site.bootedPath(mac)} && imgfree bootlab-booted || echo bootlab: could not report booted`);
      lines.push('boot');
      return lines;
    }
    case 'script': return [`chain ${abs(img.script)}`];
    case 'chain': return [`chain ${render(img.url, vars)}`];
    // Raw boot files: the one for the firmware this iPXE runs on.
    case 'files': return [
      ...ARCHES.filter((a) => img.files[a]).map((a) => `${IPXE_ARCH[a]} && chain ${abs(img.files[a]!)} ||`),
      `echo image ${img.name} has no boot file for \${platform} \${buildarch}`,
    ];
  }
}

/**
 * Boot from the local disk: BIOS boots drive 0x80 itself; UEFI (and a failed sanboot) returns
 * to the firmware's next boot option. The report first: the machine's row ends as "booted
 * from the local disk" instead of waiting in "boot script" forever.
 */
function local(mac: string, ctx: ScriptContext): string[] {
  return [
    'echo Booting from the local disk',
    `imgfetch --name bootlab-booted /${ctx.site.bootedPath(mac)}/local && imgfree bootlab-booted || echo bootlab: could not report the local boot`,
    'iseq ${platform} pcbios && sanboot --no-describe --drive 0x80 ||',
    'exit',
  ];
}

function menu(mac: string, host: Host | undefined, hosts: HostView, ctx: ScriptContext): string[] {
  const images = [...hosts.images.values()];
  const { menuDefault, menuTimeout } = hosts.defaults;
  const dflt = menuDefault === 'local' || !hosts.images.has(menuDefault) ? 'local' : `img-${menuDefault}`;
  const lines = [':menu', 'menu bootlab: choose what this machine boots'];
  for (const img of images) lines.push(`item img-${img.name} ${img.name}`);
  lines.push('item local Boot from the local disk');
  // iPXE's choose waits forever with --timeout 0: a timeout of 0 boots the default at once.
  lines.push(menuTimeout === 0
    ? `goto ${dflt}`
    : `choose --timeout ${menuTimeout * 1000} --default ${dflt} target && goto \${target} || goto ${dflt}`);
  for (const img of images) lines.push(`:img-${img.name}`, ...imageScript(img, mac, host, ctx), 'goto menu');
  lines.push(':local', ...local(mac, ctx));
  return lines;
}

/** The script for one machine, or null when it should not boot from the network. */
export function scriptFor(mac: string, hosts: HostView, ctx: ScriptContext): string | null {
  const target = imageFor(mac, hosts);
  if (target === 'none') return null;
  const host = hosts.lookup(mac);
  const body = target === 'menu' ? menu(mac, host, hosts, ctx) : target === 'local' ? local(mac, ctx) : imageScript(target, mac, host, ctx);
  return [...header(mac, host), ...body, ''].join('\n');
}

const header = (mac: string, host: Host | undefined) => ['#!ipxe', `# bootlab: ${mac}${host?.hostname ? ` (${host.hostname})` : ''}`];

/** What a machine whose chain loops gets instead of its script: the reason, then back to its firmware. */
export function stoppedScript(mac: string, host: Host | undefined, reason: string): string {
  return [
    ...header(mac, host),
    `echo bootlab: ${reason.replace(/[${}]/g, '')}`,
    'sleep 10 ||',
    'exit',
    '',
  ].join('\n');
}

/**
 * The dispatcher: for an iPXE that was pointed at bootlab by another DHCP server or a USB
 * stick. iPXE fills in ${mac:hexhyp} itself and asks for its own script (as pixiecore and
 * netboot.xyz do), so this one file serves every machine. The chain is relative to where the
 * dispatcher was fetched from, so it also works behind a URL prefix.
 */
function dispatcher(scriptDir: string): string {
  return [
    '#!ipxe',
    '# bootlab: chain to this machine\'s own script',
    `chain ${scriptDir}\${mac:hexhyp}.ipxe || goto failed`,
    'exit',
    ':failed',
    'echo bootlab: no boot script for ${mac} (is the machine set to boot nothing?)',
    'exit',
    '',
  ].join('\n');
}

/** boot.ipxe at the root: served only when the disk has no boot.ipxe (a fallback provider). */
export const BOOT_IPXE = dispatcher('bootlab/');
/** bootlab/boot.ipxe: the dispatcher in bootlab's own folder, always bootlab's. */
export const BOOTLAB_BOOT_IPXE = dispatcher('');

/**
 * A content provider (FileLayer.addProvider) serving bootlab/boot.ipxe and bootlab/<mac>.ipxe.
 * With a guard, a machine whose script keeps being fetched with no new DHCP in between gets
 * stoppedScript instead (loop.ts).
 */
export function ipxeProvider(
  hosts: HostView,
  site: BootSite,
  guard?: ChainLoopGuard,
): (name: string, client: { address: string }) => string | null {
  return (name, client) => {
    if (name === 'bootlab/boot.ipxe') return BOOTLAB_BOOT_IPXE;
    const m = SCRIPT_NAME.exec(name);
    if (!m) return null;
    const mac = normalizeMac(m[1]);
    if (!mac) return null;
    const script = scriptFor(mac, hosts, { site, clientIp: client.address });
    if (script === null || !guard) return script;
    const target = imageFor(mac, hosts);
    const stop = guard.served(mac, client.address, typeof target === 'object' ? target.name : null);
    return stop === null ? script : stoppedScript(mac, hosts.lookup(mac), stop);
  };
}

/** boot.ipxe for an iPXE pointed at the root, after the disk (a fallback provider). */
export function dispatcherProvider(): (name: string) => string | null {
  return (name) => (name === 'boot.ipxe' ? BOOT_IPXE : null);
}
