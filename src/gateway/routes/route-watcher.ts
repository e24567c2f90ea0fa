/**
 * Watches the route file and hands each new version to `apply`. Watching the directory (not the inode)
 * catches editors and `sync` that replace the file by rename. Any event in the directory counts, not only
 * one naming the file: a file mounted as a symlink through a link that is swapped (a Kubernetes ConfigMap:
 * `routes.yaml -> ..data/routes.yaml`, `..data` renamed over) changes without an event naming it. The
 * text is compared with the last one read, so other files' events cost one read per burst. Changes are
 * debounced, so a burst of writes is read once. Trusts nothing: `apply` parses and compiles, and keeps
 * the old table on any error.
 */
import { type FSWatcher, mkdirSync, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';

export function watchRouteFile(path: string, apply: (text: string) => void, debounceMs = 100): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  // On a fresh data directory the folder does not exist yet; create it so a file dropped later is seen.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const watcher = watch(dirname(path), () => {
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
