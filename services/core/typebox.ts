// TypeBox pieces shared by the modules that own an API shape (progress/, flash/, the
// supervisor, the host map) and the admin routes: the schema is the one source of a
// shape, its TypeScript type is Static<typeof Schema>, so a field added to one side
// only is a compile error instead of a field fast-json-stringify silently drops.
import { Type, type TSchema, type TSchemaOptions } from 'typebox';

/** A value or null (JSON Schema anyOf), with an optional description. */
export const nullable = <T extends TSchema>(s: T, description?: string) =>
  Type.Union([s, Type.Null()], description ? { description } : {});

/**
 * One of a list of strings, as anyOf of consts (TypeBox types `Type.Union(list.map(Literal))`
 * as never; this keeps the same JSON Schema and types it as the list's union).
 */
export const literals = <T extends string>(values: readonly T[], options?: TSchemaOptions) =>
  Type.Unsafe<T>(Type.Union(values.map((v) => Type.Literal(v)), options));

/** True only when A and B are the same type: `Assert<Same<A, B>>` fails to compile when they drift apart. */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
export type Assert<T extends true> = T;
