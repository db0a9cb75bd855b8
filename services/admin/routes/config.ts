// POST /api/config/reload: the same as SIGHUP. A bad config is refused with its error
// lines (file:line key: message) and the running one stays. The route's schema beside it.
import { Type } from 'typebox';
import { ConfigError } from '../../core/config.js';
import { HostMapError } from '../../core/hostmap.js';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';

const ReloadResultSchema = Type.Object({
  ok: Type.Boolean(),
  restarted: Type.Array(Type.String(), {
    description: 'services restarted because their part of the config changed',
  }),
  hostsReloaded: Type.Boolean({ description: 'whether the host map changed' }),
  needsRestart: Type.Array(Type.String(), {
    description: 'keys that changed but take effect only when bootlab restarts (admin.*, hosts)',
  }),
});

export default function register(app: AdminApp, ctx: AdminContext): void {
  reload(app, ctx);
}

const reloadSchema = {
  tags: ['config'], summary: 'Re-read the config file and the host map (like SIGHUP)',
  response: { 200: ReloadResultSchema, ...errorResponses(401, 422, 429) },
};

function reload(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/config/reload', { config: { access: 'write' }, schema: reloadSchema }, async () => {
    try {
      return await ctx.reload();
    } catch (e) {
      if (e instanceof ConfigError || e instanceof HostMapError) {
        throw new ApiError('config_invalid', `the new configuration was refused; the running one stays: ${e.lines[0]}`,
          { lines: e.lines });
      }
      throw e;
    }
  });
}
