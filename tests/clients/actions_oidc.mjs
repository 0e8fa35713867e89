// A GitHub Actions job's login, unmodified vendor code: @actions/core's getIDToken(audience) reads
// ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN, and the Node.js driver calls it as its OIDC_CALLBACK.
// tests/clouds/test_github.py runs it with `wif env --principal <workflow>`'s environment.
import * as core from '@actions/core';
import { MongoClient } from 'mongodb';

import { printAuthenticated } from './authenticated.mjs';

const [uri, audience] = process.argv.slice(2);
const client = new MongoClient(uri, {
  authMechanismProperties: {
    OIDC_CALLBACK: async () => ({ accessToken: await core.getIDToken(audience) }),
  },
  serverSelectionTimeoutMS: 10000,
});
await printAuthenticated(client);
