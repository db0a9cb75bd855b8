#!/usr/bin/env node
// The `bootlab` command. Configuration problems and bind failures end the program with
// one clear line (file:line key: what is wrong), never a stack trace.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError, type AppConfig } from './core/config.js';
import { loadConfig } from './runtime/load-config.js';
import { createLogger, silentLogger, type Logger } from './core/log.js';
import { HostMap, HostMapError } from './core/hostmap.js';
import type { Image } from './core/hostmap-parse.js';
import { bootPathWarnings } from './boot/shadow.js';
import { BindError, StartError } from './core/service.js';
import { multicastInterfaceName } from './core/net.js';
import type { AdminApp } from './admin/app.js';
import { readsProtected } from './admin/auth.js';
import { resolveToken, TOKEN_ENV, TOKEN_FILE, TokenError } from './runtime/token.js';
// The appliance itself (Fastify, the services) is loaded by `serve` only: `bootlab flash`
// must start in a fraction of a second, inside a boot loader's listening window.
import type { Runtime } from './runtime/runtime.js';
import { normalizeName, isRefusal } from './core/files.js';
import { Remapper } from './core/remap.js';
import { flashCommand, getCommand, UsageError, type ClientArgs } from './tftp/client-cli.js';

const DEFAULT_CONFIG = 'config/appliance.yaml';

const USAGE = `usage: bootlab <command> [options]

commands:
  serve [--config FILE]         run the appliance (default config: ${DEFAULT_CONFIG})
  check-config [--config FILE]  validate the configuration and exit
  token [--config FILE]         print the admin token (admin.token, BOOTLAB_ADMIN_TOKEN, or the one
                                kept in the state folder; generated and kept there if there is none yet)
  remap-test [--config FILE] [--ip ADDRESS] [--put]
                                read file names on stdin, print what tftp.remap makes of each
  flash --target IP --file FIRMWARE [--port 69] [--remote-name NAME] [--retry-every 1s]
        [--wait 60s] [--blksize N] [--timeout 1s] [--retries 10] [--password P]
                                push firmware to a device's boot loader over TFTP: the write
                                request is repeated until the device answers or the wait ends
  get --target IP --file NAME [-o OUT] [same options but --password]
                                fetch a file from a device over TFTP (a config backup)
  help                          this text

durations: 1s, 500ms, 2m or plain seconds. Options (blksize, tsize) are sent only with --blksize.
--timeout: the longest wait for a block's answer once the transfer runs (shorter waits
follow the round trip); --retries: how many such waits in a row before giving up.
--password: sent in the write request's file-name field, as Linksys-style boot loaders
read it (instead of --remote-name).
flash/get exit codes: 0 done, 1 usage or local file error, 3 no device answered within
the wait, 4 the device refused (its ERROR is printed), 5 the transfer broke.
`;

/** Exit codes: 0 fine, 1 runtime failure (bind), 2 usage or configuration error. */
function die(message: string, code = 2): never {
  process.stderr.write(`bootlab: ${message}\n`);
  process.exit(code);
}

function load(file: string): AppConfig {
  try {
    return loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.lines.join('\n')}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/** Checks the folders the config names exist, creating the writable ones. */
function prepareFolders(config: AppConfig, file: string): void {
  if (!config.tftp.enabled && !config.mtftp.enabled) return;
  try {
    if (!statSync(config.tftp.root).isDirectory()) die(`${file} tftp.root: ${config.tftp.root} is not a folder`);
  } catch {
    die(`${file} tftp.root: the folder ${config.tftp.root} does not exist (create it, or point tftp.root at your boot files)`);
  }
  if (config.tftp.write.enabled)
    for (const d of config.tftp.write.dirs) mkdirSync(join(config.tftp.root, d), { recursive: true });
}

/** The warnings a teacher should read at start: no DHCP interface, missing boot files, boot paths. */
function warnAtStart(config: AppConfig, file: string, runtime: Runtime, log: Logger): void {
  if (config.dhcp.mode !== 'off' && config.dhcp.interfaces.length === 0) {
    log.warn(`dhcp.mode is ${config.dhcp.mode} but dhcp.interfaces is empty: DHCP answers nothing until you name the lab interface in ${file} (or BOOTLAB_INTERFACE)`);
  }
  const missing = missingBootFiles(config);
  if (missing.length > 0) log.warn(missingText(missing));
  for (const w of bootPaths(config, runtime.hosts.images.values())) log.warn(w);
}

/** The admin server, or the reason it cannot listen (exits). */
async function startAdmin(runtime: Runtime, config: AppConfig, file: string): Promise<{ app: AdminApp; url: string }> {
  const { listenAdmin } = await import('./admin/server.js');
  try {
    return await listenAdmin(runtime);
  } catch (e) {
    await runtime.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof TokenError) die(`${file} admin.token: ${e.message}`);
    die(code ? BindError.explain('admin.port', config.admin.address, config.admin.port, code) : (e as Error).message, 1);
  }
}

/** SIGHUP reloads; SIGTERM and SIGINT stop cleanly (TFTP ends each transfer with an ERROR, DHCP writes its leases). */
function onSignals(runtime: Runtime, admin: { app: AdminApp } | null, log: Logger): void {
  process.on('SIGHUP', () => {
    runtime.reload().catch((e: Error) => {
      const lines = e instanceof ConfigError || e instanceof HostMapError ? e.lines : [e.message];
      log.error({ errors: lines }, 'SIGHUP: the new configuration was refused; the running one stays');
    });
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await admin?.app.close();
    await runtime.close();
    log.flush?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function serve(file: string): Promise<void> {
  const { createRuntime } = await import('./runtime/runtime.js');
  const { installCrashHandlers } = await import('./runtime/supervisor.js');
  const config = load(file);
  prepareFolders(config, file);
  const log = createLogger(config.log);
  let runtime: Runtime;
  try {
    runtime = await createRuntime(file, { log });
  } catch (e) {
    if (e instanceof HostMapError || e instanceof ConfigError) die(e.lines.join('\n'));
    throw e;
  }
  warnAtStart(config, file, runtime, log);
  const { supervisor } = runtime;
  try {
    await supervisor.startAll();
  } catch (e) {
    if (e instanceof BindError || e instanceof StartError) {
      await runtime.close();
      die(e.message, 1);
    }
    throw e;
  }
  installCrashHandlers(supervisor, log);
  const admin = config.admin.enabled ? await startAdmin(runtime, config, file) : null;
  if (admin) announceToken(runtime);
  const running = supervisor.list().filter((s) => s.state === 'running').map((s) => s.name);
  if (running.length === 0) log.warn('every service is disabled in the configuration; nothing to do');
  // Tools and tests wait for exactly this message.
  log.info({ config: file, services: running, admin: admin?.url ?? null }, 'bootlab running');
  if (admin) log.info({ url: `${admin.url}/` }, `dashboard at ${admin.url}/`);
  onSignals(runtime, admin, log);
}

/** A generated token is shown once, on the terminal that started bootlab. */
function announceToken(runtime: Runtime): void {
  const t = runtime.tokenSource;
  if (t.source === 'generated') {
    process.stderr.write(`bootlab: admin token (kept in ${t.file}, readable by its owner only; \`bootlab token\` prints it again):\n  ${t.token}\n`);
  }
  runtime.log.info({ tokenSource: t.source, tokenFile: t.file ?? null }, 'admin token in use');
}

/**
 * `bootlab token`: the token on stdout alone (for scripts: TOKEN=$(bootlab token)), where it
 * comes from on stderr. The same resolution as serve, so a token generated here is the one
 * serve uses. In the container: docker compose exec bootlab bootlab token.
 */
function printToken(file: string): void {
  const config = load(file);
  let t;
  try {
    t = resolveToken(config.admin, config.stateDir);
  } catch (e) {
    if (e instanceof TokenError) die(`${e.message} (run bootlab token as the user bootlab runs as: root, sudo, or docker compose exec bootlab bootlab token)`, 1);
    throw e;
  }
  const from = t.source === 'config' ? `admin.token in ${file}` : t.source === 'environment' ? TOKEN_ENV
    : t.source === 'file' ? t.file! : `${t.file!} (generated now; bootlab serve uses it from its next start)`;
  process.stderr.write(`bootlab: the admin token, from ${from}:\n`);
  process.stdout.write(`${t.token}\n`);
}

async function checkConfig(file: string): Promise<void> {
  const config = load(file);
  let warnings: string[] = [];
  try {
    const hosts = await HostMap.open(config.hosts, silentLogger(), { uniqueHostnames: config.dhcp.mode === 'full' });
    warnings = [...hosts.warnings, ...bootPaths(config, hosts.images.values())];
    hosts.close();
  } catch (e) {
    if (e instanceof HostMapError) die(e.lines.join('\n'));
    throw e;
  }
  prepareFolders({ ...config, tftp: { ...config.tftp, write: { ...config.tftp.write, enabled: false } } }, file);
  const t = config.tftp;
  process.stdout.write(`${file}: OK\n`);
  const d = config.dhcp;
  process.stdout.write(`  hosts: ${config.hosts}\n`);
  process.stdout.write(`  dhcp: ${d.mode}${d.mode === 'off' ? '' : ` on ${d.interfaces.length > 0 ? d.interfaces.join(', ') : '(no interface named: answers nothing)'}`}${d.mode === 'full' ? `, pool ${d.pool.start}-${d.pool.end}, lease ${d.leaseTime} s` : ''}\n`);
  process.stdout.write(`  tftp: ${t.enabled ? `${t.address}:${t.port}, root ${t.root}, writes ${t.write.enabled ? `on (${t.write.dirs.join(', ')})` : 'off'}, ${t.remap.length} remap rule(s)` : 'off'}\n`);
  const m = config.mtftp;
  const via = multicastInterfaceName(config) ?? '(no interface)';
  if (t.enabled && t.multicast.enabled) process.stdout.write(`  tftp multicast (RFC 2090): groups ${t.multicast.addresses} ports ${t.multicast.ports} on ${via}, ttl ${config.multicast.ttl}\n`);
  const h = config.http;
  process.stdout.write(`  http: ${h.enabled ? `${h.address}:${h.port}, the tftp root and the generated boot files${h.baseUrl ? `, clients told ${h.baseUrl}` : ''}` : 'off'}\n`);
  const missing = missingBootFiles(config);
  if (missing.length > 0) process.stdout.write(`  warning: ${missingText(missing)}\n`);
  for (const w of warnings) process.stdout.write(`  warning: ${w}\n`);
  process.stdout.write(`  mtftp: ${m.enabled ? `port ${m.serverPort} on ${via}, ttl ${config.multicast.ttl}: ${m.files.map((f) => `${f.file} -> ${f.group}:${f.clientPort}`).join(', ')}` : 'off'}\n`);
  const a = config.admin;
  const token = a.token !== null ? 'from the config' : process.env[TOKEN_ENV] ? `from ${TOKEN_ENV}` : `in ${join(config.stateDir, TOKEN_FILE)} (generated at the first start)`;
  process.stdout.write(`  admin: ${a.enabled ? `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}/, token ${token}, reads ${readsProtected(a) ? 'need the token' : 'open'}` : 'off'}\n`);
}

/** Disk files the generated names shadow, and images that chain back to the machine's own script. */
function bootPaths(config: AppConfig, images: Iterable<Image>): string[] {
  return config.tftp.enabled || config.http.enabled ? bootPathWarnings(config.tftp.root, images) : [];
}

/** The iPXE binaries DHCP hands to BIOS and UEFI x64 firmware, when tftp.root lacks them. */
function missingBootFiles(config: AppConfig): string[] {
  if (!config.tftp.enabled || config.dhcp.mode === 'off') return [];
  const files = [config.dhcp.bootFiles.bios, config.dhcp.bootFiles.uefi64];
  return files.filter((f) => !existsSync(join(config.tftp.root, f)));
}

const missingText = (missing: string[]) =>
  `${missing.join(' and ')} missing from the tftp root: machines will not boot until you run scripts/setup-tftpboot.sh (copies them from Debian's ipxe package)`;

async function remapTest(file: string, ip: string, put: boolean): Promise<void> {
  const config = load(file);
  const remapper = new Remapper(config.tftp.remap);
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line === '') continue;
    const r = remapper.apply(line.replace(/\\/g, '/'), put ? 'write' : 'read', ip);
    if (r.refused) {
      process.stdout.write(`${line} -> refused (tftp.remap.${r.rule})\n`);
      continue;
    }
    const parts = normalizeName(r.name, config.tftp.maxFilenameLength);
    const via = r.rule === null ? '' : ` (tftp.remap.${r.rule})`;
    if (isRefusal(parts)) process.stdout.write(`${line} -> refused: ${parts.reason}${via}\n`);
    else process.stdout.write(`${line} -> ${parts.join('/')}${via}\n`);
  }
}

/** `bootlab flash` / `bootlab get`: usage and local file problems exit 1 (see client-cli.ts). */
async function transfer(command: 'flash' | 'get', args: ClientArgs): Promise<void> {
  try {
    process.exitCode = command === 'flash' ? await flashCommand(args) : await getCommand(args);
  } catch (e) {
    if (e instanceof UsageError) die(e.message, 1);
    throw e;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c', default: DEFAULT_CONFIG },
        ip: { type: 'string', default: '192.0.2.10' },
        put: { type: 'boolean', default: false },
        target: { type: 'string' },
        file: { type: 'string' },
        out: { type: 'string', short: 'o' },
        port: { type: 'string' },
        'remote-name': { type: 'string' },
        'retry-every': { type: 'string' },
        wait: { type: 'string' },
        blksize: { type: 'string' },
        password: { type: 'string' },
        timeout: { type: 'string' },
        retries: { type: 'string' },
      },
      allowPositionals: false,
    });
  } catch (e) {
    die(`${(e as Error).message}\n${USAGE}`, command === 'flash' || command === 'get' ? 1 : 2);
  }
  const { config, ip, put } = parsed.values as { config: string; ip: string; put: boolean };
  switch (command) {
    case 'serve': return serve(config);
    case 'check-config': return checkConfig(config);
    case 'token': return printToken(config);
    case 'remap-test': return remapTest(config, ip, put);
    case 'flash':
    case 'get':
      return transfer(command, parsed.values as ClientArgs);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      die(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((e: Error) => {
  process.stderr.write(`bootlab: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
