// The bodies of the host-map writes (routes/hosts/): the schemas are the source, the
// handlers' types are derived from them.
import { Type, type Static } from 'typebox';
import { nullable } from '../../schemas.js';

// Types and unknown keys are the schema's; what a good host name or IPv4 address is, the
// host map's (its message comes back naming the field).
const fieldSchemas = {
  hostname: Type.Optional(nullable(Type.String())),
  image: Type.Optional(nullable(Type.String({ minLength: 1 }))),
  ip: Type.Optional(nullable(Type.String())),
  bootOnce: Type.Optional(nullable(Type.Boolean())),
  labels: Type.Optional(nullable(Type.Record(Type.String(), Type.String()))),
};

/** PUT and PATCH /api/hosts/:mac. */
export const HostBody = Type.Object(fieldSchemas, { additionalProperties: false });
export type HostBody = Static<typeof HostBody>;

/** One row of POST /api/hosts as JSON. */
export const BulkRow = Type.Object({
  mac: Type.String(), hostname: fieldSchemas.hostname, image: fieldSchemas.image, ip: fieldSchemas.ip,
}, { additionalProperties: false });
export type BulkRow = Static<typeof BulkRow>;

export const BulkBody = Type.Object({ hosts: Type.Array(BulkRow, { minItems: 1 }) }, { additionalProperties: false });
export type BulkBody = Static<typeof BulkBody>;

/** POST /api/hosts/:mac/boot-once. */
export const BootOnceBody = Type.Object({ image: Type.String({ minLength: 1 }) }, { additionalProperties: false });
