// Schema pieces and parameter checks shared by the routes.
import { Type } from 'typebox';
import { normalizeMac } from '../core/hostmap.js';
import { badRequest } from './errors.js';

export const MAC_FORMS = 'aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff';

export { nullable } from '../core/typebox.js';

/** The :mac path parameter, in any usual notation. */
export const MacParams = Type.Object({ mac: Type.String({ description: `in any usual notation: ${MAC_FORMS}` }) });

/** The normal form of a MAC address given by a client, or a 400 naming `field`. */
export function macOrBadRequest(raw: string, field = 'mac'): string {
  const mac = normalizeMac(raw);
  if (!mac) throw badRequest(field, `"${raw}" is not a MAC address (${MAC_FORMS})`);
  return mac;
}
