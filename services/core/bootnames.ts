// The names of generated files that carry a machine's MAC: how bootlab writes them and
// how it recognises them when a loader asks. One place, so the iPXE script, the booted
// report, the loaders' per-host configs and the progress model agree. Pure.

/** Six hex pairs joined by dashes, the form every generated name uses. */
const DASHED_MAC = '[0-9a-f]{2}(?:-[0-9a-f]{2}){5}';

/** aa:bb:cc:dd:ee:ff → aa-bb-cc-dd-ee-ff (colons do not belong in file names or URLs). */
export const hyphenMac = (mac: string): string => mac.replace(/:/g, '-');

/** The per-machine iPXE script's path under the file root (generated, services/boot/ipxe.ts). */
export function scriptPath(mac: string): string {
  return `bootlab/${hyphenMac(mac)}.ipxe`;
}

/** bootlab/<aa-bb-…>.ipxe: group 1 is the dashed MAC. */
export const SCRIPT_NAME = new RegExp(`^bootlab/(${DASHED_MAC})\\.ipxe$`, 'i');

/** The booted report a machine fetches (services/boot/booted.ts): bootlab/booted/<mac>/<key>. */
export function reportPath(mac: string, key: string): string {
  return `bootlab/booted/${hyphenMac(mac)}/${key}`;
}

/** bootlab/booted/<aa-bb-…>/<key>[/local]: groups are the dashed MAC, the key, and "/local". */
export const REPORT_NAME = new RegExp(`^bootlab/booted/(${DASHED_MAC})/([0-9a-f]{1,64})(/local)?$`, 'i');

/** pxelinux's per-host config, pxelinux.cfg/01-<aa-bb-…> (01: the ARP hardware type of Ethernet). */
export const PXELINUX_HOST_CFG = new RegExp(`^pxelinux\\.cfg/01-(${DASHED_MAC})$`, 'i');

/** GRUB's per-host config, grub/grub.cfg-01-<aa-bb-…>. */
export const GRUB_HOST_CFG = new RegExp(`^grub/grub\\.cfg-01-(${DASHED_MAC})$`, 'i');

/** A MAC as a URL segment: with dashes, colons or nothing between the pairs; groups 1-6 are the pairs. */
export const URL_MAC = /^([0-9a-f]{2})[-:]?([0-9a-f]{2})[-:]?([0-9a-f]{2})[-:]?([0-9a-f]{2})[-:]?([0-9a-f]{2})[-:]?([0-9a-f]{2})$/i;
