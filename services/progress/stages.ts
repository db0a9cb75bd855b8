// The stages of a boot and the firmware kinds, once: the API's schema (schemas.ts), the
// row's rules (bootrow.ts) and the sentences (text.ts) read them from here.

/** In boot order. `seen`: a device known only by its address (it did no DHCP with bootlab), before any boot file. */
export const STAGES = ['dhcp', 'offered', 'bound', 'seen', 'bootloader', 'script', 'kernel', 'initrd', 'booted', 'failed'] as const;
export type Stage = (typeof STAGES)[number];

export const FIRMWARES = ['bios', 'uefi', 'ipxe', 'http', 'other'] as const;
export type Firmware = (typeof FIRMWARES)[number];
