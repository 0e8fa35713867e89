// The Node.js driver's built-in machine environments, unmodified: ENVIRONMENT azure or gcp with
// TOKEN_RESOURCE. The driver calls 169.254.169.254 / http://metadata/ itself (no proxy support);
// tests/clouds/test_node_builtin_environments.py runs this inside a network namespace where those
// addresses are the kit's IdP. Prints one JSON line: the users and roles the server authenticated.
import { MongoClient } from 'mongodb';

const [uri, environment, resource] = process.argv.slice(2);
const client = new MongoClient(uri, {
  authMechanism: 'MONGODB-OIDC',
  authMechanismProperties: { ENVIRONMENT: environment, TOKEN_RESOURCE: resource },
  serverSelectionTimeoutMS: 10000,
});
try {
  const status = await client.db('admin').command({ connectionStatus: 1 });
  console.log(JSON.stringify({
    users: status.authInfo.authenticatedUsers,
    roles: status.authInfo.authenticatedUserRoles,
  }));
} catch (error) {
  console.log(JSON.stringify({ error: `${error.name}: ${error.message}` }));
} finally {
  await client.close();
}
