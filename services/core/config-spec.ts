// appliance.yaml's schema: every key, its default and what it accepts (core/schema.ts's
// DSL, so the TypeScript types below are inferred from it). Checks a schema cannot
// express, and the loader, are in config.ts.
import { autoInt, bool, int, list, obj, oneOf, optStr, path, str, type Infer } from './schema.js';

const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;
const PORT_RANGE = /^\d{1,5}-\d{1,5}$/;
const IPV4_RANGE = /^\d{1,3}(\.\d{1,3}){3}-\d{1,3}(\.\d{1,3}){3}$/;

export const remapRuleSpec = obj({
  /** A JavaScript regular expression matched against the requested name. */
  match: str('', /./, 'a regular expression'),
  /** Replacement; \0-\9 are groups, \i the client IP, \x the client IP in hex (tftp-hpa). */
  replace: str(''),
  /** i: case-insensitive; g: replace every match. */
  flags: str('', /^(?!.*(.).*\1)[gi]*$/, 'made of the letters g and i, each at most once'),
  /** rewrite (default), or refuse: the request is answered with error 2. */
  action: oneOf(['rewrite', 'refuse'] as const, 'rewrite'),
  /** After this rule matched, stop looking at the rules below it. */
  stop: bool(false),
  /** Which requests the rule applies to. */
  requests: oneOf(['both', 'get', 'put'] as const, 'both'),
});

export const tftpSpec = obj({
  enabled: bool(true),
  address: str('0.0.0.0', IP_ADDRESS, 'an IPv4 or IPv6 address'),
  port: int(0, 65535, 69), // 0: any free port, as for http and admin (its status says which)
  root: path('../tftpboot'),
  portRange: optStr(PORT_RANGE, 'a range like 49152-49407'),
  singlePort: bool(false),
  workers: autoInt(0, 64),
  maxTransfers: int(1, 10000, 500),
  maxPerClient: int(1, 10000, 16),
  maxBlockSize: int(8, 65464, 65464),
  maxWindowSize: int(1, 65535, 64),
  maxWindowBytes: int(512, 256 * 1024 * 1024, 4 * 1024 * 1024),
  timeout: int(1, 255, 5),
  minRetransmitMs: int(1, 10000, 20),
  maxRetries: int(1, 100, 8),
  firstReplyRetries: int(0, 100, 3),
  rollover: oneOf([0, 1] as const, 0),
  options: obj({
    blksize: bool(true),
    tsize: bool(true),
    timeout: bool(true),
    windowsize: bool(true),
  }),
  caseInsensitive: bool(false),
  maxFilenameLength: int(16, 4096, 255),
  progressIntervalMs: int(50, 60000, 250),
  write: obj({
    enabled: bool(false),
    dirs: list(str('', /^[^\0]+$/, 'a folder under tftp.root'), ['uploads']),
    policy: oneOf(['create-only', 'overwrite'] as const, 'create-only'),
    maxSize: int(0, Number.MAX_SAFE_INTEGER, 256 * 1024 * 1024),
    fileMode: str('0644', /^0?[0-7]{3}$/, 'an octal file mode in quotes, like "0644"'),
  }),
  remap: list(remapRuleSpec),
  /** RFC 2090: the "multicast" option. One group per file being sent; see docs/decisions/0005. */
  multicast: obj({
    enabled: bool(false),
    /** Groups are taken from this range (each active file gets its own). */
    addresses: str('239.255.2.1-239.255.2.254', IPV4_RANGE, 'a range of IPv4 multicast addresses like 239.255.2.1-239.255.2.254'),
    /** The client port of each group, from this range (RFC 2090 recommends 1758). */
    ports: str('1758-1758', PORT_RANGE, 'a range like 1758-1758'),
    /** Blocks sent ahead of the master client's ACK; 1 sends one block per ACK, as RFC 2090 describes. */
    window: int(1, 64, 8),
    /** Milliseconds a new group waits before its first block, for machines asking at nearly the same moment. */
    gatherMs: int(0, 10_000, 0),
  }),
});

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IFNAME = /^[^\s/]{1,15}$/;
const ipv4 = (doc = 'an IPv4 address like 192.0.2.10') => optStr(IPV4, doc);

/** A relayed subnet (RFC 2131 giaddr): the pool that contains the relay's giaddr serves it. */
export const relayPoolSpec = obj({
  start: ipv4(),
  end: ipv4(),
  netmask: ipv4('a netmask like 255.255.255.0'),
  /** Default: the relay's own address (giaddr). */
  router: ipv4(),
});

export const dhcpSpec = obj({
  /** proxy: answer PXE clients only, beside the site's DHCP server; full: hand out addresses; off. */
  mode: oneOf(['proxy', 'full', 'off'] as const, 'proxy'),
  /** The interfaces DHCP answers on; nothing else is ever answered. */
  interfaces: list(str('', IFNAME, 'an interface name like eth0')),
  /** Address clients are told to fetch boot files from (siaddr, option 54): default the interface's own. */
  serverAddress: ipv4(),
  pool: obj({ start: ipv4(), end: ipv4() }),
  /** Seconds. T1 is half of it, T2 seven eighths (RFC 2131 4.4.5). */
  leaseTime: int(60, 365 * 24 * 3600, 3600),
  /** Default: the interface's own netmask. */
  netmask: ipv4('a netmask like 255.255.255.0'),
  /**
   * The default gateway given out (option 3). Default: the default gateway of the
   * interface, if the route table has one there; else none (bootlab does not route).
   */
  router: ipv4(),
  /** DNS servers given out. Default: this machine's own name servers (from /etc/resolv.conf). */
  dns: list(str('', IPV4, 'an IPv4 address'), []),
  domain: optStr(/^[a-zA-Z0-9.-]{1,253}$/, 'a domain name'),
  relayPools: list(relayPoolSpec),
  /** Milliseconds to wait before answering: for firmware that mishandles an instant reply. */
  replyDelayMs: int(0, 10_000, 0),
  /** Seconds an address stays out of the pool after a client DECLINEd it (it was in use). */
  declineQuarantine: int(0, 7 * 24 * 3600, 600),
  /** The first-stage boot file per firmware architecture (option 93), under tftp.root. */
  bootFiles: obj({
    bios: str('undionly.kpxe'),
    uefi32: str('ipxe-i386.efi'),
    uefi64: str('snponly.efi'),
    arm32: str('ipxe-arm32.efi'),
    arm64: str('snponly-arm64.efi'),
  }),
  /** UEFI HTTP Boot (option 60 HTTPClient): the boot file's URL; null: such clients get no answer. */
  httpBootUrl: optStr(/^https?:\/\//, 'an http:// or https:// URL'),
});

/** What multicast traffic of both kinds shares: where it goes out, and how far. */
export const multicastSpec = obj({
  /** The one interface multicast leaves by and MTFTP answers on. Default: the first of dhcp.interfaces. */
  interface: optStr(IFNAME, 'an interface name like eth0'),
  /** IP time to live of multicast packets: 1 keeps them on the lab's own subnet. */
  ttl: int(1, 255, 1),
});

export const mtftpFileSpec = obj({
  /** The file's name under tftp.root, as clients ask for it. */
  file: str('', /^[^\0]+$/, 'a file name under tftp.root'),
  /** The multicast group the file is sent to. */
  group: ipv4('an IPv4 multicast address like 239.255.1.1'),
  /** The UDP port clients listen on for the group. */
  clientPort: int(1, 65535, 3001),
});

/** PXE MTFTP (PXE 2.1): for BIOS PXE ROMs and iPXE's mtftp:// URIs. */
export const mtftpSpec = obj({
  enabled: bool(false),
  /** Clients send their RRQs and ACKs here; DATA leaves from it (EDK2 accepts no other source port). */
  serverPort: int(1, 65535, 1759),
  /** Seconds a client listens for a running transfer before it opens one (option 43 sub-option 4). */
  openTimeout: int(1, 255, 2),
  /** Seconds a client waits after a transfer before re-opening to fill its gaps (sub-option 5). */
  reopenDelay: int(1, 255, 2),
  files: list(mtftpFileSpec),
  /** An atftpd --mtftp file to read as well: "filename group client_port" per line, # comments. */
  atftpdFile: optStr(/^[^\0]+$/, 'a path'),
});

/** The admin API and dashboard (services/admin). */
export const adminSpec = obj({
  enabled: bool(true),
  /** :: listens on every address, IPv4 included; 127.0.0.1 keeps the API on this machine. */
  address: str('::', IP_ADDRESS, 'an IPv4 or IPv6 address'),
  port: int(0, 65535, 8080),
  /** The bearer token for writes; null: $BOOTLAB_ADMIN_TOKEN, else generated into stateDir/admin-token. */
  token: optStr(/^[\x21-\x7e]{16,256}$/, 'at least 16 printable characters without spaces'),
  /** Whether reads need the token too: auto protects them unless the address is loopback. */
  protectReads: oneOf(['auto', 'always', 'never'] as const, 'auto'),
  /** Origins allowed to call the API from a browser page of theirs; empty: CORS off. */
  cors: list(str('', /^https?:\/\/[^\s/]+$/, 'an origin like http://192.0.2.10:8080')),
  /** Largest request body, bytes (a classroom CSV is a few kilobytes). */
  bodyLimit: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  /** Milliseconds between two live updates to a dashboard. */
  sseIntervalMs: int(50, 10_000, 250),
  /** Seconds a finished or silent machine stays in the list. */
  clientTtl: int(10, 30 * 24 * 3600, 3600),
  /** Failed token attempts from one address per minute before it gets 429. */
  maxAuthFailures: int(1, 1000, 10),
  /** The dashboard's folder. */
  web: path('../web'),
});

/** The HTTP boot server (services/http): tftp.root and the generated files over HTTP. */
export const httpSpec = obj({
  enabled: bool(true),
  address: str('0.0.0.0', IP_ADDRESS, 'an IPv4 or IPv6 address'),
  /** 0: any free port (tests). */
  port: int(0, 65535, 80),
  /** The URL prefix clients are told; null: http://<server address>[:port]. */
  baseUrl: optStr(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'a URL like http://192.0.2.1:8069'),
});

/** The boot flow shared by DHCP, TFTP and HTTP (services/boot). */
export const bootSpec = obj({
  /** When a boot-once host goes back to the defaults: when it reports booted, or once its kernel was sent. */
  bootOnceEnds: oneOf(['booted', 'kernel'] as const, 'booted'),
  /** BIOS clients of a `loader: pxelinux` image get this file (from the pxelinux package, under tftp.root). */
  pxelinux: str('pxelinux.0', /^[^\0]+$/, 'a file under tftp.root'),
  /** UEFI clients of a `loader: grub` image get these (a GRUB network image with prefix (tftp)/grub). */
  grub: obj({
    uefi64: str('grubx64.efi', /^[^\0]+$/, 'a file under tftp.root'),
    arm64: str('grubaa64.efi', /^[^\0]+$/, 'a file under tftp.root'),
  }),
});

export const appSpec = obj({
  log: obj({
    level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    pretty: oneOf(['auto', 'always', 'never'] as const, 'auto'),
  }),
  stateDir: path('../state'),
  /** The host map: which machine boots what (see config/hosts.yaml). */
  hosts: path('hosts.yaml'),
  tftp: tftpSpec,
  dhcp: dhcpSpec,
  multicast: multicastSpec,
  mtftp: mtftpSpec,
  admin: adminSpec,
  http: httpSpec,
  boot: bootSpec,
});

export type AppConfig = Infer<typeof appSpec>;
export type TftpConfig = Infer<typeof tftpSpec>;
export type RemapRule = Infer<typeof remapRuleSpec>;
export type DhcpConfig = Infer<typeof dhcpSpec>;
export type MtftpFile = Infer<typeof mtftpFileSpec>;
export type AdminConfig = Infer<typeof adminSpec>;
export type BootConfig = Infer<typeof bootSpec>;
