/**
 * The Cedar schema of Bulwark's entities and actions (documented in `docs/policy.md`). Bundles use it
 * unless they bring their own `schema.cedarschema`. Every load validates policies against it in strict
 * mode, and every decision validates the request against it, so a policy that names a type or attribute
 * that does not exist is rejected before it can silently never match.
 */

export const BULWARK_NAMESPACE = 'Bulwark';

/** File name a bundle's schema has when it comes from this module. */
export const BULWARK_SCHEMA_FILE = 'bulwark.cedarschema';

export const BULWARK_SCHEMA = `// Bulwark's entity types and actions (docs/policy.md, "Schema").
namespace Bulwark {
  // A customer organisation. Tenant-scoped entities carry their tenant as an attribute.
  entity Tenant;

  // A role granted to users, service accounts and services (RBAC). A role may sit inside another role.
  entity Role in [Role];

  // A person, as authenticated by identity (the id is the token's \`sub\`).
  entity User in [Role] {
    tenant: Tenant,
    email?: String,
  };

  // A non-human caller holding OAuth client credentials.
  entity ServiceAccount in [Role] {
    tenant: Tenant,
  };

  // A workload; the id is its SPIFFE ID (spiffe://trust-domain/path), taken from its X.509-SVID.
  entity Service in [Role] {
    trustDomain: String,
  };

  // A group of routes published together, so one policy can cover an API.
  entity Api;

  // One API operation (a gateway route or a service endpoint), inside its API and the service serving it.
  entity Route in [Api, Service] {
    tenant: Tenant,
  };

  // What the gateway and sidecars know about the HTTP request being decided.
  type RequestContext = {
    method: String,        // upper-case HTTP method
    path: String,          // normalised path, without query string
    sourceIp: ipaddr,      // the client address as the gateway sees it
    amr: Set<String>,      // authentication methods of the token (RFC 8176), e.g. "pwd", "otp", "hwk"
    hour: Long,            // 0-23, UTC
    weekday: Long,         // 0 = Sunday ... 6 = Saturday, UTC
  };

  // Every request-level action, so one policy can allow them all.
  action access;
  action read, write, delete in [access] appliesTo {
    principal: [User, ServiceAccount, Service],
    resource: [Route],
    context: RequestContext,
  };

  // A service calling another service or one of its routes (mesh, mTLS between sidecars).
  action call appliesTo {
    principal: [Service],
    resource: [Service, Route],
    context: RequestContext,
  };

  // Administration of a tenant (its users, roles, routes and policies) through the console or the API.
  action manage appliesTo {
    principal: [User, ServiceAccount],
    resource: [Tenant],
    context: RequestContext,
  };
}
`;
