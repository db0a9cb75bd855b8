// The firmware folder (tftpboot/firmware/): the files a flash job may push, listed, read
// and stored here so the admin route (admin/routes/flash.ts) only validates, calls and
// answers. An upload is written to a hidden temporary name and then linked (create only)
// or renamed (replace) into place: a failed upload leaves no torn file under its name.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { FirmwareFile } from './schemas.js';

export type { FirmwareFile };

/** A plain file name: no folders, no leading dot (so never a temporary upload, nor ".."). */
export const FIRMWARE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export const isFirmwareName = (name: string): boolean => FIRMWARE_NAME.test(name);

/** The firmware folder under a TFTP root. */
export const firmwareFolder = (tftpRoot: string): string => join(tftpRoot, 'firmware');

/** A create-only store found a file of that name already. */
export class FirmwareExists extends Error {
  constructor(readonly file: string) {
    super(`firmware ${file} exists already`);
    this.name = 'FirmwareExists';
  }
}

function checkName(name: string): void {
  if (!isFirmwareName(name)) throw new RangeError(`not a firmware file name: ${JSON.stringify(name)}`);
}

/**
 * The regular files of the folder whose names are firmware names, sorted by name; a
 * missing or unreadable folder lists nothing. Symlinks, folders and hidden files (an
 * upload under way) are left out.
 */
export async function listFirmware(folder: string): Promise<FirmwareFile[]> {
  const names = await fsp.readdir(folder).catch(() => [] as string[]);
  const files: FirmwareFile[] = [];
  for (const name of names.sort()) {
    if (!isFirmwareName(name)) continue;
    const st = await fsp.lstat(join(folder, name)).catch(() => null);
    if (st?.isFile()) files.push({ name, size: st.size });
  }
  return files;
}

/** A firmware file's bytes, or null when it cannot be read (missing, a folder...). */
export async function readFirmware(folder: string, name: string): Promise<Buffer | null> {
  checkName(name);
  return fsp.readFile(join(folder, name)).catch(() => null);
}

/**
 * Stores `data` as `name` in the folder (made if missing). Create only unless `replace`:
 * then a file of that name already there throws FirmwareExists and stays as it was.
 */
export async function storeFirmware(
  folder: string, name: string, data: Buffer, replace = false,
): Promise<FirmwareFile> {
  checkName(name);
  await fsp.mkdir(folder, { recursive: true });
  const path = join(folder, name);
  const tmp = join(folder, `.${name}.${randomBytes(6).toString('hex')}.part`);
  try {
    await fsp.writeFile(tmp, data, { flag: 'wx', mode: 0o644 });
    if (replace) {
      await fsp.rename(tmp, path);
    } else {
      // link() fails when the name exists: create-only without a window for a race.
      await fsp.link(tmp, path).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EEXIST' ? new FirmwareExists(name) : e;
      });
    }
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  return { name, size: data.length };
}
