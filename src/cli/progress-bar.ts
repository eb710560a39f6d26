import type { OnProgress, Progress } from '../engine/progress.js';

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A one-line progress bar on stderr (redrawn in place on a terminal, a line per 10% otherwise). */
export function stderrProgress(): OnProgress {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  let lastDraw = 0;
  return (p: Progress) => {
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    const now = performance.now();
    const decile = Math.floor(frac * 10);
    if (tty ? now - lastDraw < 100 && p.done < p.total : decile === lastDecile && p.done < p.total) return;
    lastDraw = now;
    lastDecile = decile;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const rate = p.rate !== undefined ? ` ${p.rate.toFixed(p.rate < 10 ? 2 : 0)} ${p.unit}/s` : '';
    const eta = p.etaSeconds !== undefined && p.done < p.total ? ` ETA ${formatSeconds(p.etaSeconds)}` : '';
    const line = `${p.phase} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${p.done}/${p.total} ${p.unit}${rate}${eta}`;
    process.stderr.write(tty ? `\r${line}\x1b[K${p.done >= p.total ? '\n' : ''}` : `${line}\n`);
  };
}
