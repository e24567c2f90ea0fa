/** What `diff` and `sync` report: services, routes and consumers added, removed or changed, by name. */
import type { RouteDocument } from './route-file.ts';

export interface RouteChange {
  kind: 'service' | 'route' | 'consumer';
  name: string;
  change: 'added' | 'removed' | 'changed';
}

export function diffRouteDocuments(current: RouteDocument, next: RouteDocument): RouteChange[] {
  const changes: RouteChange[] = [];
  const compare = (
    kind: RouteChange['kind'],
    a: readonly { name: string }[],
    b: readonly { name: string }[],
  ) => {
    const before = new Map(a.map((x) => [x.name, JSON.stringify(x)]));
    const after = new Map(b.map((x) => [x.name, JSON.stringify(x)]));
    for (const [name, value] of after) {
      if (!before.has(name)) changes.push({ kind, name, change: 'added' });
      else if (before.get(name) !== value) changes.push({ kind, name, change: 'changed' });
    }
    for (const name of before.keys()) if (!after.has(name)) changes.push({ kind, name, change: 'removed' });
  };
  compare('service', current.services, next.services);
  compare('route', current.routes, next.routes);
  // Exact paths, then patterns, are tried in file order: routes that only change places can
  // change which one serves a path, so a route kept whose place among the kept ones moved is changed too.
  const inNext = new Set(next.routes.map((r) => r.name));
  const inCurrent = new Set(current.routes.map((r) => r.name));
  const was = current.routes.filter((r) => inNext.has(r.name)).map((r) => r.name);
  const now = next.routes.filter((r) => inCurrent.has(r.name)).map((r) => r.name);
  const listed = new Set(changes.filter((c) => c.kind === 'route').map((c) => c.name));
  now.forEach((name, i) => {
    if (was[i] !== name && !listed.has(name)) changes.push({ kind: 'route', name, change: 'changed' });
  });
  compare('consumer', current.consumers ?? [], next.consumers ?? []);
  return changes;
}
