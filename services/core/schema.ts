// A small declarative schema for appliance.yaml: each leaf knows its type, range and
// default, and the TypeScript type of the validated config is inferred from it, so the
// schema is the single place a key is declared. Validation messages name the key path;
// config.ts adds the file and line.

export type Spec =
  | { kind: 'int'; min: number; max: number; default: number; doc?: string }
  | { kind: 'number'; min: number; max: number; default: number; doc?: string }
  | { kind: 'bool'; default: boolean; doc?: string }
  | { kind: 'string'; default: string; pattern?: RegExp; patternDoc?: string; maxLength?: number; doc?: string }
  | { kind: 'optionalString'; default: null; pattern?: RegExp; patternDoc?: string; doc?: string }
  | { kind: 'enum'; values: readonly (string | number)[]; default: string | number; doc?: string }
  | { kind: 'autoInt'; min: number; max: number; default: 'auto'; doc?: string }
  | { kind: 'path'; default: string; doc?: string }
  | { kind: 'list'; item: Spec; default: unknown[]; maxItems?: number; doc?: string }
  | { kind: 'object'; fields: Record<string, Spec>; doc?: string };

export const int = (min: number, max: number, def: number) => ({ kind: 'int', min, max, default: def }) as const;
export const num = (min: number, max: number, def: number) => ({ kind: 'number', min, max, default: def }) as const;
/** The word auto, or an integer in range (YAML reads `2` as a number, `auto` as a string). */
export const autoInt = (min: number, max: number) => ({ kind: 'autoInt', min, max, default: 'auto' }) as const;
export const bool = (def: boolean) => ({ kind: 'bool', default: def }) as const;
export const str = (def: string, pattern?: RegExp, patternDoc?: string) =>
  ({ kind: 'string', default: def, pattern, patternDoc }) as const;
export const optStr = (pattern?: RegExp, patternDoc?: string) =>
  ({ kind: 'optionalString', default: null, pattern, patternDoc }) as const;
export const oneOf = <const V extends readonly (string | number)[]>(values: V, def: V[number]) =>
  ({ kind: 'enum', values, default: def }) as const;
export const path = (def: string) => ({ kind: 'path', default: def }) as const;
export const list = <const I extends Spec>(item: I, def: unknown[] = []) => ({ kind: 'list', item, default: def }) as const;
export const obj = <const F extends Record<string, Spec>>(fields: F) => ({ kind: 'object', fields }) as const;

export type Infer<S> = S extends { kind: 'int' | 'number' }
  ? number
  : S extends { kind: 'autoInt' }
    ? number | 'auto'
    : S extends { kind: 'bool' }
      ? boolean
      : S extends { kind: 'string' | 'path' }
        ? string
        : S extends { kind: 'optionalString' }
          ? string | null
          : S extends { kind: 'enum'; values: readonly (infer V)[] }
            ? V
            : S extends { kind: 'list'; item: infer I }
              ? Infer<I>[]
              : S extends { kind: 'object'; fields: infer F }
                ? { -readonly [K in keyof F]: Infer<F[K]> }
                : never;

export interface Issue { path: string[]; message: string }

function describe(spec: Spec): string {
  switch (spec.kind) {
    case 'int': return `must be an integer ${spec.min}-${spec.max}`;
    case 'number': return `must be a number ${spec.min}-${spec.max}`;
    case 'bool': return 'must be true or false';
    case 'string': return spec.patternDoc ? `must be ${spec.patternDoc}` : 'must be a string';
    case 'optionalString': return spec.patternDoc ? `must be ${spec.patternDoc} or null` : 'must be a string or null';
    case 'enum': return `must be one of ${spec.values.join(', ')}`;
    case 'autoInt': return `must be auto or an integer ${spec.min}-${spec.max}`;
    case 'path': return 'must be a path (string)';
    case 'list': return 'must be a list';
    case 'object': return 'must be a mapping';
  }
}

function closest(name: string, candidates: string[]): string | undefined {
  // Levenshtein distance <= 2: enough to catch "prot" for "port".
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const dd = dist(name.toLowerCase(), c.toLowerCase());
    if (dd < bestD) { bestD = dd; best = c; }
  }
  return best;
}

/** Validates `value` against `spec`, filling defaults. Collects issues instead of throwing. */
export function validate(spec: Spec, value: unknown, path: string[], issues: Issue[]): unknown {
  const bad = (message = describe(spec)) => { issues.push({ path, message }); return spec.kind === 'object' ? {} : undefined; };
  if (value === undefined || (value === null && spec.kind !== 'optionalString')) {
    if (spec.kind === 'object') return validate(spec, {}, path, issues);
    if (value === null && spec.kind !== 'list') return bad(`${describe(spec)} (got null)`);
    return structuredClone(spec.default);
  }
  switch (spec.kind) {
    case 'int':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || (spec.kind === 'int' && !Number.isInteger(value))
        || value < spec.min || value > spec.max) return bad();
      return value;
    case 'autoInt':
      if (value === 'auto') return value;
      if (typeof value === 'string' && /^\d{1,6}$/.test(value)) value = Number(value); // a quoted number
      return typeof value === 'number' && Number.isInteger(value) && value >= spec.min && value <= spec.max ? value : bad();
    case 'bool':
      return typeof value === 'boolean' ? value : bad();
    case 'string':
    case 'optionalString':
    case 'path':
      if (value === null) return null;
      if (typeof value !== 'string' || (spec.kind !== 'path' && spec.pattern && !spec.pattern.test(value))) return bad();
      return value;
    case 'enum':
      return spec.values.includes(value as string | number) ? value : bad();
    case 'list': {
      if (!Array.isArray(value)) return bad();
      return value.map((item, i) => validate(spec.item, item, [...path, String(i)], issues));
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad();
      const out: Record<string, unknown> = {};
      const known = Object.keys(spec.fields);
      for (const key of Object.keys(value)) {
        if (!known.includes(key)) {
          const hint = closest(key, known);
          issues.push({ path: [...path, key], message: `unknown key${hint ? ` (did you mean ${[...path, hint].join('.')}?)` : ''}` });
        }
      }
      for (const key of known)
        out[key] = validate(spec.fields[key], (value as Record<string, unknown>)[key], [...path, key], issues);
      return out;
    }
  }
}

/** The defaults of a spec, as the typed value. */
export function defaults<S extends Spec>(spec: S): Infer<S> {
  const issues: Issue[] = [];
  return validate(spec, undefined, [], issues) as Infer<S>;
}
