/**
 * Watches the route file and hands each new version to `apply`. Watching the directory (not the inode)
 * catches editors and `sync` that replace the file by rename. Any event in the directory counts, not only
 * one naming the file: a file mounted as a symlink through a link that is swapped (a Kubernetes ConfigMap:
 * `routes.yaml -> ..data/routes.yaml`, `..data` renamed over) changes without an event naming it. The
 * text is compared with the last one read, so other files' events cost one read per burst (a rejected
 * text is tried again when another file of the directory changed: it may be a certificate it names). Changes are
 * debounced, so a burst of writes is read once. Trusts nothing: `apply` parses and compiles, and keeps
 * the old table on any error.
 */
import { type FSWatcher, mkdirSync, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchRouteFile(
  path: string,
  /** Applies the text; false when it was rejected. */
  apply: (text: string) => boolean | undefined,
  debounceMs = 100,
): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  /** The text was rejected: tried again only after another file of the directory changed. */
  let rejected = false;
  let otherFile = false;
  const own = basename(path);
  // On a fresh data directory the folder does not exist yet; create it so a file dropped later is seen.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const watcher = watch(dirname(path), (_event, filename) => {
    if (filename !== own) otherFile = true;
    clearTimeout(timer);
    timer = setTimeout(() => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return; // mid-rename or removed: keep serving the table we have
      }
      const retry = rejected && otherFile;
      otherFile = false;
      if (text === last && !retry) return;
      // A rejected file may name a certificate that is written into the directory after it: the same
      // text is then good, and is applied when that file arrives (until 2026-11-26 it never was).
      last = text;
      rejected = apply(text) === false;
    }, debounceMs);
  });
  watcher.unref();
  return watcher;
}
