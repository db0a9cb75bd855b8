// What a generated boot file may say about the machine it is for: template variables in
// an image's cmdline and chain URL ({{mac}}, {{ip}} ...), and the addresses a client
// reaches bootlab on. Pure.
import { hyphenMac } from '../core/bootnames.js';
import type { Host } from '../core/hostmap-parse.js';

export interface BootVars {
  /** aa:bb:cc:dd:ee:ff */
  mac: string;
  /** aa-bb-cc-dd-ee-ff (pxelinux's and GRUB's spelling) */
  machyp: string;
  /** The client's address as the request came in, '' when unknown. */
  ip: string;
  hostname: string;
  image: string;
  /** The address of bootlab the client should use, '' when not known. */
  server: string;
  /** http://server[:port] of the HTTP boot server, '' when HTTP is off. */
  httpBase: string;
  /** The URL a booted OS calls to report it is up (GET or POST), '' when HTTP is off. */
  bootedUrl: string;
}

export const VAR_NAMES: readonly (keyof BootVars)[] = ['mac', 'machyp', 'ip', 'hostname', 'image', 'server', 'httpBase', 'bootedUrl'];

/** Where the boot files are reached, as the config says (services/boot/providers.ts fills it). */
export interface BootSite {
  /** bootlab's address for clients (dhcp.serverAddress or the lab interface's), null: unknown. */
  server: string | null;
  /** http://server[:port] or http.baseUrl; null when the HTTP server is off or the server is unknown. */
  httpBase: string | null;
  /** The booted-report path for a machine (bootlab/booted/<machyp>/<key>), relative to the root. */
  bootedPath(mac: string): string;
}

export function varsFor(
  mac: string, host: Host | undefined, image: string | null, clientIp: string | null, site: BootSite,
): BootVars {
  const httpBase = site.httpBase ?? '';
  return {
    mac, machyp: hyphenMac(mac), ip: clientIp ?? host?.ip ?? '', hostname: host?.hostname ?? '', image: image ?? '',
    server: site.server ?? '', httpBase, bootedUrl: httpBase ? `${httpBase}/${site.bootedPath(mac)}` : '',
  };
}

/** {{name}} (spaces allowed inside the braces) → its value; an unknown name is left as written. */
export function render(template: string, vars: BootVars): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (whole, name: string) =>
    ((VAR_NAMES as readonly string[]).includes(name) ? vars[name as keyof BootVars] : whole));
}

/** The names in a template that are not variables (for a warning when the host map loads). */
export function unknownVars(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([A-Za-z]+)\s*\}\}/g)].map((m) => m[1]).filter((n) => !(VAR_NAMES as readonly string[]).includes(n));
}
