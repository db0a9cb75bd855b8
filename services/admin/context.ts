// What the admin app is built from: a running appliance (runtime/runtime.ts) without its
// own lifecycle. Everything is passed in, nothing is global, so a test builds an app over
// a host map in a temporary folder and a supervisor with no services, and drives it with
// app.inject.
import type { Runtime } from '../runtime/runtime.js';

export type AdminContext = Omit<Runtime, 'file' | 'tokenSource' | 'close'>;
