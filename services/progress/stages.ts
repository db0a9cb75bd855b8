// The stages of a boot, once: the API's schema (schemas.ts), the
// row's rules (bootrow.ts), the sentences (text.ts) and the dashboard's labels, which it
// receives in the live stream's snapshot (admin/sse.ts: web/ is served as written, with
// no build step that could import this file).

/** In boot order. `seen`: a device known only by its address (it did no DHCP with bootlab), before any boot file. */
export const STAGES = [
  'dhcp', 'offered', 'bound', 'seen', 'bootloader', 'script', 'kernel', 'initrd', 'booted', 'failed',
] as const;
export type Stage = (typeof STAGES)[number];

interface StageInfo {
  /** A stage only moves forward within a boot: to a higher rank. */
  rank: number;
  /** On the boot path the dashboard counts the steps of ("step 3 of 8"); seen and failed are not. */
  path: boolean;
  /** The dashboard's badge. */
  label: string;
  /** The activity feed's sentence when a machine reaches it. */
  text: string;
}

export const STAGE_INFO: Record<Stage, StageInfo> = {
  dhcp: { rank: 0, path: true, label: 'asking (DHCP)', text: 'asking for an address' },
  offered: { rank: 1, path: true, label: 'offered', text: 'offered' },
  bound: { rank: 2, path: true, label: 'address bound', text: 'address acknowledged' },
  seen: { rank: 2, path: false, label: 'seen (no DHCP)', text: 'seen by its address' },
  bootloader: { rank: 3, path: true, label: 'boot loader', text: 'loading its boot loader' },
  script: { rank: 4, path: true, label: 'boot script', text: 'reading its boot script' },
  kernel: { rank: 5, path: true, label: 'kernel', text: 'loading the kernel' },
  initrd: { rank: 6, path: true, label: 'initrd', text: 'loading the initrd' },
  booted: { rank: 7, path: true, label: 'booted', text: 'booted' },
  failed: { rank: 7, path: false, label: 'failed', text: 'failed' },
};

/** For the dashboard: every stage in order, its label, and its step on the boot path (null: not on it). */
export interface StageLabel { stage: Stage; label: string; step: number | null }

export function stageLabels(): StageLabel[] {
  let step = 0;
  return STAGES.map((stage) => {
    const { label, path } = STAGE_INFO[stage];
    return { stage, label, step: path ? ++step : null };
  });
}
