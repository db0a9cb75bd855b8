// The error catalogue: every failure of the admin API has one of these codes and one
// body shape, { error, message, field? }, so scripts can branch on `error` and people can
// read `message`. Fastify's own errors (validation, body too large, bad JSON) are mapped
// into the same shape by the app's error handler.
import { Type } from 'typebox';

export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unknown_image: 422,
  config_invalid: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  field?: string;
  lines?: string[];
  retryAfter?: number;
}

export class ApiError extends Error {
  readonly statusCode: number;
  constructor(readonly code: ErrorCode, message: string, readonly extra: Omit<ErrorBody, 'error' | 'message'> = {}) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = ERROR_STATUS[code];
  }

  body(): ErrorBody {
    return { error: this.code, message: this.message, ...this.extra };
  }
}

export const badRequest = (field: string, message: string) => new ApiError('bad_request', `${field}: ${message}`, { field });
export const notFound = (what: string) => new ApiError('not_found', `${what} not found`);
export const unknownImage = (image: string, known: string[]) =>
  new ApiError('unknown_image', `image: "${image}" is not in the host map's images (${known.length > 0 ? known.join(', ') : 'none defined'})`, { field: 'image' });

/** The response schema of every error, for the OpenAPI document. */
export const ErrorSchema = Type.Object({
  error: Type.String({ description: 'a code from the catalogue: bad_request, unauthorized, not_found, ...' }),
  message: Type.String(),
  field: Type.Optional(Type.String({ description: 'the JSON path of the field that was wrong' })),
  lines: Type.Optional(Type.Array(Type.String())),
  retryAfter: Type.Optional(Type.Number()),
}, { $id: 'Error', title: 'Error' });

/** Response schemas for the usual failures of a route, by status. */
export function errorResponses(...codes: number[]): Record<number, { $ref: string }> {
  const out: Record<number, { $ref: string }> = {};
  for (const c of codes) out[c] = { $ref: 'Error#' };
  return out;
}

interface AjvError { instancePath?: string; keyword?: string; params?: Record<string, unknown>; message?: string }

/** Fastify's validation error → the field it is about, as a JSON path ("hosts[2].mac"). */
export function validationField(errors: AjvError[], context: string): { field: string; message: string } {
  const e = errors[0] ?? {};
  const parts = (e.instancePath ?? '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') parts.push(`.${e.params.missingProperty}`);
  if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
    parts.push(`.${e.params.additionalProperty}`);
    const field = parts.join('').replace(/^\./, '');
    return { field, message: 'is not a known field' };
  }
  const field = parts.join('').replace(/^\./, '') || context;
  const message = e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid');
  return { field, message };
}
