import { litheVersion } from '../version.js';

/** What every report records of the run that made it, so that a number can be traced and repeated. */
export interface RunInfo {
  lithe: string;
  /** The command line, or the library call (e.g. 'oneshot()'). */
  command: string;
  /** The model as given (a path or org/name) and the directory it resolved to. */
  model: string;
  modelDir: string;
  /** ISO 8601, UTC. */
  date: string;
  /** Things the run noticed but went on with (e.g. a recipe's ignore pattern that matched nothing). */
  warnings: string[];
}

export function runInfo(command: string, model: string, modelDir: string, warnings: string[] = []): RunInfo {
  return { lithe: litheVersion(), command, model, modelDir, date: new Date().toISOString(), warnings };
}

/** The rows report.html shows for a RunInfo (each report shows the model its own way). */
export function runFacts(run: RunInfo): [string, string][] {
  return [
    ['lithe', run.lithe],
    ['command', run.command],
    ['date', run.date],
  ];
}
