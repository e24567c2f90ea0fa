/**
 * Watches the route file and hands each new version to `apply`. Watching the directory (not the inode)
 * catches editors and `sync` that replace the file by rename. Changes are debounced, so a burst of writes
 * is read once. Trusts nothing: `apply` parses and compiles, and keeps the old table on any error.
 */
import { type FSWatcher, mkdirSync, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchRouteFile(path: string, apply: (text: string) => void, debounceMs = 100): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  const name = basename(path);
  // On a fresh data directory the folder does not exist yet; create it so a file dropped later is seen.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const watcher = watch(dirname(path), (_event, file) => {
    if (file !== null && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return; // mid-rename or removed: keep serving the table we have
      }
      if (text === last) return;
      last = text;
      apply(text);
    }, debounceMs);
  });
  watcher.unref();
  return watcher;
}
