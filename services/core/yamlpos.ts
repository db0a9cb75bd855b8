// Line numbers for YAML problems: the node at a key path, and the one-line messages
// `file:line key.path: message` that every loader of a YAML file prints.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { Issue } from './schema.js';

/** Finds the YAML node at a key path, for its line number; falls back to the nearest parent. */
export function nodeAt(root: Node | null, keys: string[]): Node | null {
  let node: Node | null = root;
  for (const key of keys) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      if (!pair) return node;
      // A key without a value: point at the key itself.
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node)) {
      const item = node.items[Number(key)] as Node | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

/** The node of the key itself (for "unknown key"), else the value's node. */
export function keyNodeAt(root: Node | null, keys: string[]): Node | null {
  if (keys.length === 0) return root;
  const parent = nodeAt(root, keys.slice(0, -1));
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === keys[keys.length - 1]);
    if (pair) return pair.key as Node;
  }
  return nodeAt(root, keys);
}

export function lineOf(doc: Document, lines: LineCounter, path: string[], atKey = false): number {
  const node = atKey ? keyNodeAt(doc.contents, path) : nodeAt(doc.contents, path);
  return node?.range ? lines.linePos(node.range[0]).line : 1;
}

/** An issue with the line it is on (null: about the file as a whole, or no file). */
export interface LocatedIssue extends Issue { line: number | null }

/** Each validation issue with its line. */
export function locateIssues(doc: Document, lines: LineCounter, issues: Issue[]): LocatedIssue[] {
  return issues.map((issue) => {
    const line = lineOf(doc, lines, issue.path, issue.message.startsWith('unknown key'));
    return { ...issue, line };
  });
}

/** Each YAML syntax error as an issue of no key path. */
export function yamlSyntaxIssues(doc: Document, lines: LineCounter): LocatedIssue[] {
  return doc.errors.map((e) => {
    const line = e.linePos?.[0].line ?? lines.linePos(e.pos[0]).line;
    return { path: [], line, message: e.message.split('\n')[0] };
  });
}

/** The one-line text of an issue: `file:line key.path: message` (no `:line` when null, no `file` when null). */
export function issueText(file: string | null, issue: LocatedIssue): string {
  const where = file === null ? '' : `${file}${issue.line === null ? ':' : `:${issue.line}`} `;
  return `${where}${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`;
}

/** One line per validation issue: `file:line key.path: message`. */
export function issueLines(doc: Document, lines: LineCounter, file: string, issues: Issue[]): string[] {
  return locateIssues(doc, lines, issues).map((i) => issueText(file, i));
}

/** One line per YAML syntax error. */
export function yamlSyntaxLines(doc: Document, lines: LineCounter, file: string): string[] {
  return yamlSyntaxIssues(doc, lines).map((i) => issueText(file, i));
}
