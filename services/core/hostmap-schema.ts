// A host of the host map as the API shows it (GET /api/hosts, HostRow): the schema is the
// source of the Host type (hostmap-parse.ts), so a field added to a host cannot drop
// silently out of the API's answers, nor one added to the API miss the parser.
import { Type } from 'typebox';
import { nullable } from './typebox.js';

export const HostSchema = Type.Object({
  mac: Type.String({ description: 'normal form: aa:bb:cc:dd:ee:ff' }),
  hostname: nullable(Type.String()),
  image: nullable(Type.String(), 'a name from GET /api/images'),
  ip: nullable(Type.String(), 'a fixed IPv4 address (full DHCP mode)'),
  bootOnce: Type.Boolean({ description: 'the image is booted once, then the machine falls back to the defaults' }),
  labels: Type.Record(Type.String(), Type.String()),
}, { $id: 'HostRow', title: 'HostRow' });
