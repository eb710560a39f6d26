import { spawn } from 'node:child_process';

/**
 * Run `node args...`, send `signal` once its stderr matches `when`, and resolve with its exit code and stderr
 * (for tests of what an interrupted command leaves behind).
 */
export function interruptWhen(
  args: string[],
  when: RegExp,
  signal: NodeJS.Signals,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, args, { env });
  let stderr = '';
  return new Promise((resolve) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (when.test(stderr) && !child.killed) child.kill(signal);
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}
