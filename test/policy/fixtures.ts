/** Small bundles and entities shared by the policy tests (all in Bulwark's schema). */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { BundleSource, EntityRef } from '../../src/core/policy-engine/index.ts';

export const user = (id: string): EntityRef => ({ type: 'Bulwark::User', id });
export const route = (id: string): EntityRef => ({ type: 'Bulwark::Route', id });
export const service = (id: string): EntityRef => ({ type: 'Bulwark::Service', id });
const tenant = (id: string) => ({ __entity: { type: 'Bulwark::Tenant', id } });

export const ENTITIES: EntityJson[] = [
  { uid: { type: 'Bulwark::Role', id: 'admin' }, attrs: {}, parents: [] },
  {
    uid: { type: 'Bulwark::Role', id: 'editor' },
    attrs: {},
    parents: [{ type: 'Bulwark::Role', id: 'viewer' }],
  },
  { uid: { type: 'Bulwark::Role', id: 'viewer' }, attrs: {}, parents: [] },
  {
    uid: user('alice'),
    attrs: { tenant: tenant('acme') },
    parents: [{ type: 'Bulwark::Role', id: 'editor' }],
  },
  { uid: user('bob'), attrs: { tenant: tenant('acme') }, parents: [{ type: 'Bulwark::Role', id: 'viewer' }] },
  {
    uid: user('mallory'),
    attrs: { tenant: tenant('globex') },
    parents: [{ type: 'Bulwark::Role', id: 'editor' }],
  },
  { uid: { type: 'Bulwark::Api', id: 'orders' }, attrs: {}, parents: [] },
  {
    uid: route('acme.orders.list'),
    attrs: { tenant: tenant('acme') },
    parents: [{ type: 'Bulwark::Api', id: 'orders' }],
  },
  {
    uid: route('globex.orders.list'),
    attrs: { tenant: tenant('globex') },
    parents: [{ type: 'Bulwark::Api', id: 'orders' }],
  },
];

export const RBAC_POLICIES = `@id("viewers-read")
permit(principal in Bulwark::Role::"viewer", action == Bulwark::Action::"read", resource)
when { principal has tenant && principal.tenant == resource.tenant };

@id("editors-write")
permit(principal in Bulwark::Role::"editor", action == Bulwark::Action::"write", resource)
when { principal has tenant && principal.tenant == resource.tenant };
`;

export const NO_DELETE = `@id("no-delete")
forbid(principal, action == Bulwark::Action::"delete", resource);
`;

export function rbacBundle(extra: { file: string; text: string }[] = []): BundleSource {
  return {
    policies: [{ file: 'rbac.cedar', text: RBAC_POLICIES }, ...extra],
    entities: { file: 'entities.json', entities: ENTITIES },
  };
}

export const CONTEXT = {
  method: 'GET',
  path: '/orders',
  sourceIp: '10.0.0.7',
  amr: ['pwd'],
  hour: 10,
  weekday: 2,
};
