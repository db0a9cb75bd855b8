// Per-machine iPXE scripts, generated from the host map when asked for, never written to
// disk: bootlab/<mac>.ipxe (the DHCP responder hands iPXE this name, services/dhcp/boot.ts).
// Paths in the scripts start with "/", so iPXE resolves them against the script's own
// URL: the same script works over TFTP and, later, HTTP.
import { ARCHES, normalizeMac, type Arch, type Image } from '../core/hostmap-parse.js';
import { imageFor, type HostView } from '../dhcp/boot.js';

const SCRIPT_NAME = /^bootlab\/([0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.ipxe$/i;
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

function imageScript(img: Image): string[] {
  switch (img.kind) {
    case 'kernel': {
      const lines: string[] = [];
      // initrd=NAME on the command line lets EFI kernels find the initrd iPXE loaded.
      const cmdline = [img.initrd ? `initrd=${base(img.initrd)}` : '', img.cmdline].filter(Boolean).join(' ');
      lines.push(`kernel ${abs(img.kernel)} ${cmdline}`.trimEnd());
      if (img.initrd) lines.push(`initrd ${abs(img.initrd)}`);
      lines.push('boot');
      return lines;
    }
    case 'script': return [`chain ${abs(img.script)}`];
    case 'chain': return [`chain ${img.url}`];
    // Raw boot files: the one for the firmware this iPXE runs on.
    case 'files': return [
      ...ARCHES.filter((a) => img.files[a]).map((a) => `${IPXE_ARCH[a]} && chain ${abs(img.files[a]!)} ||`),
      `echo image ${img.name} has no boot file for \${platform} \${buildarch}`,
    ];
  }
}

const LOCAL = ['echo Booting from the local disk', 'exit'];

function menu(hosts: HostView): string[] {
  const images = [...hosts.images.values()];
  const lines = [':menu', 'menu bootlab'];
  for (const img of images) lines.push(`item img-${img.name} ${img.name}`);
  lines.push('item local Boot from the local disk');
  lines.push('choose --timeout 10000 --default local target && goto ${target} || goto local');
  for (const img of images) lines.push(`:img-${img.name}`, ...imageScript(img), 'goto menu');
  lines.push(':local', ...LOCAL);
  return lines;
}

/** The script for one machine, or null when it should not boot from the network. */
export function scriptFor(mac: string, hosts: HostView): string | null {
  const target = imageFor(mac, hosts);
  if (target === 'none') return null;
  const body = target === 'menu' ? menu(hosts) : target === 'local' ? LOCAL : imageScript(target);
  return ['#!ipxe', `# bootlab: ${mac}`, ...body, ''].join('\n');
}

/** A TFTP content provider (FileLayer.addProvider) serving bootlab/<mac>.ipxe. */
export function ipxeProvider(hosts: HostView): (name: string) => string | null {
  return (name) => {
    const m = SCRIPT_NAME.exec(name);
    if (!m) return null;
    const mac = normalizeMac(m[1]);
    return mac ? scriptFor(mac, hosts) : null;
  };
}
