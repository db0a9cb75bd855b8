// What a downloaded file is to a boot (boot loader, script, kernel, initrd), for the
// progress model (tracker.ts). Pure: names and the host map's image in, a role out.
import { SCRIPT_NAME } from '../core/bootnames.js';
import { normalizeMac, type Image } from '../core/hostmap-parse.js';

export type FileRole = 'bootloader' | 'script' | 'kernel' | 'initrd';

/** A boot file name or TFTP URL as the path a TFTP request for it carries: "tftp://s/a/b" → "a/b". */
export function cleanPath(name: string): string {
  return name.replace(/^tftp:\/\/[^/]*/i, '').replace(/^(\.?\/)+/, '');
}

/** The MAC named by bootlab/<mac>.ipxe, or null for any other file. */
export function scriptMac(file: string): string | null {
  const m = SCRIPT_NAME.exec(cleanPath(file));
  return m ? normalizeMac(m[1]) : null;
}

/** The files of an image a boot cannot do without. */
export function imageFiles(img: Image | undefined): string[] {
  if (!img) return [];
  switch (img.kind) {
    case 'kernel': return img.initrd ? [img.kernel, img.initrd] : [img.kernel];
    case 'script': return [img.script];
    case 'files': return Object.values(img.files).filter((p): p is string => typeof p === 'string');
    case 'chain': return [];
  }
}

/**
 * The image's own kernel and initrd paths first; then scripts (iPXE's DHCP reply names
 * its script as the boot file, so this comes before the boot file); then the boot file of
 * the last DHCP reply; then by name, extensions first, since "pxelinux.0" and
 * "ldlinux.c32" contain "linux". Null: a file the boot's stage does not depend on.
 */
export function classifyFile(file: string, bootFile: string | null, image: Image | undefined): FileRole | null {
  const f = cleanPath(file);
  if (image?.kind === 'kernel') {
    if (f === cleanPath(image.kernel)) return 'kernel';
    if (image.initrd && f === cleanPath(image.initrd)) return 'initrd';
  }
  const lower = f.toLowerCase();
  const base = lower.split('/').pop() ?? lower;
  if (SCRIPT_NAME.test(f) || /\.(ipxe|cfg)$/.test(base) || lower.startsWith('pxelinux.cfg/')) return 'script';
  if (image?.kind === 'script' && f === cleanPath(image.script)) return 'script';
  if (bootFile && f === cleanPath(bootFile)) return 'bootloader';
  if (image?.kind === 'files' && imageFiles(image).some((p) => cleanPath(p) === f)) return 'bootloader';
  if (/\.(efi|kpxe|kkpxe|pxe|0|com|c32|lkrn)$/.test(base)) return 'bootloader';
  if (/vmlinuz|linux|kernel|bzimage/.test(base)) return 'kernel';
  if (/initrd|initramfs|\.img$|\.cpio/.test(base)) return 'initrd';
  return null;
}
