// What bootlab calls a machine's firmware and processor architecture: the words the host
// map, the DHCP responder, the boot decision and the progress model share. Pure.

/** bootlab's architecture names: the keys of dhcp.bootFiles and of an image's files. */
export const ARCHES = ['bios', 'uefi32', 'uefi64', 'arm32', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

/** What booted a request: PXE firmware (BIOS or UEFI), iPXE, UEFI HTTP Boot, or anything else. */
export const FIRMWARES = ['bios', 'uefi', 'ipxe', 'http', 'other'] as const;
export type Firmware = (typeof FIRMWARES)[number];

export interface ClientKind {
  /** Option 60 starts with PXEClient (PXE firmware, iPXE) or HTTPClient (UEFI HTTP Boot). */
  pxe: boolean;
  http: boolean;
  /** iPXE: user class (77) "iPXE" or iPXE's encapsulated options (175). */
  ipxe: boolean;
  /** RFC 4578 option 93 code, or the Arch field of option 60, or null. */
  archCode: number | null;
  /** bootlab's name for the architecture (the keys of dhcp.bootFiles and image files). */
  arch: Arch | null;
  firmware: Firmware;
  vendorClass: string | null;
}

/**
 * RFC 4578 + IANA processor architecture types. 9 is EFI x64 in the wild (EDK2 once sent
 * it for "EFI BC"); 15/16/19 are HTTP boot (ia32, x64, arm64).
 */
export function archName(code: number): Arch | null {
  switch (code) {
    case 0: return 'bios';
    case 6: case 15: return 'uefi32';
    case 7: case 9: case 16: return 'uefi64';
    case 10: case 18: return 'arm32';
    case 11: case 19: return 'arm64';
    default: return null;
  }
}
