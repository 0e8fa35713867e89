// What the login scripts print: one JSON line with the users and roles the server authenticated
// for a MongoClient that logs in as configured (or the driver's error), for the pytest test to read.
export async function printAuthenticated(client) {
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
}
