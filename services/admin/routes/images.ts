// GET /api/images: every image of the host map, with whether its files are there to be
// served. Each file is looked up through the TFTP server's own file layer (tftp/files.ts)
// over the configured root, remap rules and case folding, so "exists" means "a TFTP read
// of this name would find a regular file": a ".." path, a symlink leaving the root or a
// folder counts as missing, and nothing outside tftp.root is ever opened.
import { Type } from 'typebox';
import { ARCHES } from '../../core/firmware.js';
import type { Image } from '../../core/hostmap-parse.js';
import { FileLayer, isRefusal } from '../../core/files.js';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { errorResponses } from '../errors.js';

const ROLES = ['kernel', 'initrd', 'script', ...ARCHES] as const;
type Role = (typeof ROLES)[number];

const ImageFileSchema = Type.Object({
  role: Type.String({ description: `${ROLES.join(', ')}` }),
  path: Type.String({ description: 'as the image names it, under tftp.root' }),
  exists: Type.Boolean(),
  size: Type.Union([Type.Integer(), Type.Null()], { description: 'bytes, when it exists' }),
});

export const ImageRowSchema = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('kernel'), Type.Literal('script'), Type.Literal('chain'), Type.Literal('files')]),
  url: Type.Union([Type.String(), Type.Null()], { description: 'the URL a chain image loads' }),
  files: Type.Array(ImageFileSchema, { description: 'the files it needs from tftp.root (none for a chain image)' }),
  ok: Type.Boolean({ description: 'every file exists' }),
}, { $id: 'ImageRow', title: 'ImageRow' });

// The probe's client address for remap rules that depend on one: no real client asked.
const PROBE = { address: '0.0.0.0', port: 0 };
const isUrl = (p: string) => /^[a-z]+:\/\//i.test(p);

/** The files an image needs, by role. A path that is a URL (iPXE loads it over HTTP) is not a tftp.root file. */
export function imageFiles(img: Image): { role: Role; path: string }[] {
  const out: { role: Role; path: string }[] = [];
  switch (img.kind) {
    case 'kernel':
      out.push({ role: 'kernel', path: img.kernel });
      if (img.initrd) out.push({ role: 'initrd', path: img.initrd });
      break;
    case 'script': out.push({ role: 'script', path: img.script }); break;
    case 'chain': break;
    case 'files': for (const a of ARCHES) if (img.files[a]) out.push({ role: a, path: img.files[a]! }); break;
  }
  return out.filter((f) => !isUrl(f.path));
}

async function probe(layer: FileLayer, path: string): Promise<{ exists: boolean; size: number | null }> {
  try {
    const target = await layer.openRead(path, PROBE);
    if (isRefusal(target)) return { exists: false, size: null };
    if (target.kind === 'file') await target.handle.close();
    return { exists: true, size: target.kind === 'file' ? target.size : target.data.length };
  } catch {
    // The root itself missing or unreadable: nothing under it exists.
    return { exists: false, size: null };
  }
}

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(ImageRowSchema);
  listImages(app, ctx);
}

const listImagesSchema = {
  tags: ['hosts'], summary: 'Every image of the host map, with whether its files exist under tftp.root',
  response: { 200: Type.Object({ images: Type.Array(Type.Ref('ImageRow')) }), ...errorResponses(401, 429) },
};

function listImages(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/images', { config: { access: 'read' }, schema: listImagesSchema }, async () => {
    // Built per request: the config (root, remap rules) may have been reloaded since.
    const layer = FileLayer.fromConfig(ctx.config.tftp);
    const images = await Promise.all([...ctx.hosts.images.values()].map(async (img) => {
      const files = await Promise.all(imageFiles(img).map(async (f) => ({ ...f, ...(await probe(layer, f.path)) })));
      const url = img.kind === 'chain' ? img.url : null;
      return { name: img.name, kind: img.kind, url, files, ok: files.every((f) => f.exists) };
    }));
    return { images };
  });
}
