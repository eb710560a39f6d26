/** An environment variable's value, undefined when unset or empty (so `LITHE_BACKEND= lithe doctor` means unset). */
export function envValue(name: string): string | undefined {
  const value = typeof process !== 'undefined' ? process.env[name] : undefined;
  return value === '' ? undefined : value;
}
