// Filename remapping: ordered regular-expression rules, what tftp-hpa's --map-file and
// atftpd's --pcre do. Substitutions: \0-\9 (groups), \i (the client's IP address) and
// \x (the client's IPv4 address in upper-case hex, pxelinux's config name), as tftp-hpa.
import type { RemapRule } from './config.js';
import { plainAddress } from './net.js';

export type RemapResult
  = { name: string; refused: false; rule: number | null } | { name: string; refused: true; rule: number };

interface Compiled { rule: RemapRule; re: RegExp }

export function ipToHex(ip: string): string {
  const v4 = plainAddress(ip);
  const parts = v4.split('.');
  if (parts.length !== 4) return '';
  return parts.map((p) => Number(p).toString(16).toUpperCase().padStart(2, '0')).join('');
}

export class Remapper {
  private readonly rules: Compiled[];

  constructor(rules: RemapRule[]) {
    this.rules = rules.map((rule) => ({ rule, re: new RegExp(rule.match, rule.flags) }));
  }

  get size(): number { return this.rules.length; }

  apply(name: string, direction: 'read' | 'write', clientIp: string): RemapResult {
    let current = name;
    let last: number | null = null;
    for (let i = 0; i < this.rules.length; i++) {
      const { rule, re } = this.rules[i];
      if (rule.requests === 'get' && direction !== 'read') continue;
      if (rule.requests === 'put' && direction !== 'write') continue;
      re.lastIndex = 0;
      if (!re.test(current)) continue;
      re.lastIndex = 0;
      last = i;
      if (rule.action === 'refuse') return { name: current, refused: true, rule: i };
      current = current.replace(re, (...args: unknown[]) => {
        // args: match, g1..gn, offset, input[, groups]
        const groups = args.slice(0, args.findIndex((a) => typeof a === 'number')) as (string | undefined)[];
        return rule.replace.replace(/\\([0-9ix\\])/g, (_m, c: string) => {
          if (c === 'i') return plainAddress(clientIp);
          if (c === 'x') return ipToHex(clientIp);
          if (c === '\\') return '\\';
          return groups[Number(c)] ?? '';
        });
      });
      if (rule.stop) break;
    }
    return { name: current, refused: false, rule: last };
  }
}
