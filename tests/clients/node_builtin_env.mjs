// The Node.js driver's built-in machine environments, unmodified: ENVIRONMENT azure or gcp with
// TOKEN_RESOURCE. The driver calls 169.254.169.254 / http://metadata/ itself (no proxy support);
// tests/clouds/test_node_builtin_environments.py runs this inside a network namespace where those
// addresses are the kit's IdP.
import { MongoClient } from 'mongodb';

import { printAuthenticated } from './authenticated.mjs';

const [uri, environment, resource] = process.argv.slice(2);
const client = new MongoClient(uri, {
  authMechanism: 'MONGODB-OIDC',
  authMechanismProperties: { ENVIRONMENT: environment, TOKEN_RESOURCE: resource },
  serverSelectionTimeoutMS: 10000,
});
await printAuthenticated(client);
