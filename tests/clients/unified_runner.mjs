// A Unified Test Format runner (schema 1.x, specifications/source/unified-test-format) for the official
// Node.js driver, covering what the vendored spec files under spec/ use. The npm package `mongodb` does
// not ship the driver's own runner (test/tools/unified-spec-runner), so this one follows it: the same
// client options, event filtering, matching rules and clean-up (fail points are turned off through a
// fresh client that carries no credentials, as the driver's FailPointMap.disableFailPoints does).
// Anything a spec file asks for that is not implemented here fails that test loudly: it never passes
// by skipping an assertion.
//
// Usage: node unified_runner.mjs <spec.json>
//   MONGODB_URI           the deployment's connection string for client entities (no credentials)
//   MONGODB_INTERNAL_URI  the internal MongoClient's connection string (initialData, outcome)
//   UNIFIED_PLACEHOLDERS  JSON: uriOption name -> value that replaces a {$$placeholder: 1} there
// Prints one JSON line per test: {"description", "result": "passed"|"failed"|"skipped", "reason"}.
import { readFileSync } from 'node:fs';
import { BSON, MongoClient, MongoServerError } from 'mongodb';
import { SENSITIVE_COMMANDS } from 'mongodb/lib/cmap/command_monitoring_events.js';

const { EJSON } = BSON;
const SUPPORTED_SCHEMA = [1, 19]; // major, highest minor
const entityUri = process.env.MONGODB_URI;
const internalUri = process.env.MONGODB_INTERNAL_URI ?? entityUri;
const placeholders = JSON.parse(process.env.UNIFIED_PLACEHOLDERS ?? '{}');

class Unsupported extends Error {}

function fail(message) {
  throw new Error(message);
}

// -- matching (unified-test-format.md "Evaluating Matches") ---------------------------------------
function isDocument(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !value._bsontype;
}

function numeric(value) {
  if (typeof value === 'number') return value;
  if (value?._bsontype === 'Int32' || value?._bsontype === 'Double') return Number(value.valueOf());
  if (value?._bsontype === 'Long') return Number(value.toString());
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

function match(expected, actual, path, root) {
  if (isDocument(expected)) {
    const keys = Object.keys(expected);
    if (keys.length === 1 && keys[0].startsWith('$$')) {
      throw new Unsupported(`special operator ${keys[0]} at ${path}`);
    }
    if (!isDocument(actual)) fail(`${path}: expected a document, got ${EJSON.stringify(actual)}`);
    for (const key of keys) {
      const value = expected[key];
      if (isDocument(value) && Object.keys(value).length === 1 && Object.keys(value)[0].startsWith('$$')) {
        const op = Object.keys(value)[0];
        if (op === '$$exists') {
          if ((key in actual) !== value[op]) fail(`${path}.${key}: $$exists ${value[op]}`);
          continue;
        }
        if (op === '$$unsetOrMatches') {
          if (key in actual) match(value[op], actual[key], `${path}.${key}`, false);
          continue;
        }
        throw new Unsupported(`special operator ${op} at ${path}.${key}`);
      }
      if (!(key in actual)) fail(`${path}.${key}: missing in ${EJSON.stringify(actual)}`);
      match(value, actual[key], `${path}.${key}`, false);
    }
    if (!root) {
      const extra = Object.keys(actual).filter((k) => !(k in expected));
      if (extra.length) fail(`${path}: unexpected fields ${extra.join(', ')}`);
    }
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) fail(`${path}: expected an array, got ${EJSON.stringify(actual)}`);
    if (actual.length !== expected.length) {
      fail(`${path}: expected ${expected.length} elements, got ${actual.length}`);
    }
    expected.forEach((value, i) => match(value, actual[i], `${path}[${i}]`, false));
    return;
  }
  const [e, a] = [numeric(expected), numeric(actual)];
  if (e !== undefined || a !== undefined) {
    if (e !== a) fail(`${path}: expected ${EJSON.stringify(expected)}, got ${EJSON.stringify(actual)}`);
    return;
  }
  if (EJSON.stringify(expected) !== EJSON.stringify(actual)) {
    fail(`${path}: expected ${EJSON.stringify(expected)}, got ${EJSON.stringify(actual)}`);
  }
}

// -- runOnRequirements ---------------------------------------------------------------------------
function versionAtLeast(actual, wanted) {
  const [a, w] = [actual, wanted].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (w[i] ?? 0)) return (a[i] ?? 0) > (w[i] ?? 0);
  }
  return true;
}

function satisfies(requirement, server) {
  for (const [key, value] of Object.entries(requirement)) {
    switch (key) {
      case 'minServerVersion':
        if (!versionAtLeast(server.version, value)) return false;
        break;
      case 'maxServerVersion':
        if (!versionAtLeast(value, server.version)) return false;
        break;
      case 'topologies':
        if (!value.includes(server.topology)) return false;
        break;
      case 'auth':
        if (value !== server.auth) return false;
        break;
      case 'authMechanism':
        if (!server.mechanisms.some((m) => m.toLowerCase() === value.toLowerCase())) return false;
        break;
      case 'serverless':
        if (value === 'require') return false; // not a serverless deployment
        break;
      default:
        throw new Unsupported(`runOnRequirement ${key}`);
    }
  }
  return true;
}

function requirementsMet(requirements, server) {
  return !requirements?.length || requirements.some((r) => satisfies(r, server));
}

async function describeServer(internal) {
  const admin = internal.db('admin');
  const build = await admin.command({ buildInfo: 1 });
  const hello = await admin.command({ hello: 1 });
  const params = await admin.command({ getParameter: '*' });
  const opts = await admin.command({ getCmdLineOpts: 1 });
  let topology = 'single';
  if (hello.msg === 'isdbgrid') topology = 'sharded';
  else if (hello.setName) topology = 'replicaset';
  return {
    version: build.version,
    topology,
    auth: opts.parsed?.security?.authorization === 'enabled',
    mechanisms: params.authenticationMechanisms ?? [],
  };
}

// -- entities ------------------------------------------------------------------------------------
function withPlaceholders(options) {
  const out = {};
  for (const [name, value] of Object.entries(options ?? {})) {
    if (isDocument(value) && '$$placeholder' in value) {
      if (!(name in placeholders)) throw new Unsupported(`no test-environment value for ${name}`);
      out[name] = placeholders[name];
    } else if (isDocument(value)) {
      out[name] = Object.entries(value).map(([k, v]) => `${k}:${v}`).join(',');
    } else {
      out[name] = value;
    }
  }
  return out;
}

function connectionString(uri, uriOptions) {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(withPlaceholders(uriOptions))) {
    url.searchParams.set(name, String(value));
  }
  return url.toString();
}

const COMMAND_EVENTS = {
  commandStartedEvent: 'commandStarted',
  commandSucceededEvent: 'commandSucceeded',
  commandFailedEvent: 'commandFailed',
};

function createClient(description) {
  const known = new Set([
    'id', 'uriOptions', 'observeEvents', 'ignoreCommandMonitoringEvents',
    'observeSensitiveCommands', 'useMultipleMongoses',
  ]);
  for (const key of Object.keys(description)) {
    if (!known.has(key)) throw new Unsupported(`client option ${key}`);
  }
  const client = new MongoClient(connectionString(entityUri, description.uriOptions), {
    monitorCommands: true,
    // The driver's runner connects without the implicit handshake, so the first login happens at
    // the first operation (where the spec files expect it).
    __skipPingOnConnect: true,
    serverSelectionTimeoutMS: 10000,
  });
  const ignored = new Set([...(description.ignoreCommandMonitoringEvents ?? []), 'configureFailPoint']);
  const observeSensitive = description.observeSensitiveCommands === true;
  if (!observeSensitive) for (const name of SENSITIVE_COMMANDS) ignored.add(name);
  client.captured = [];
  client.capturing = true;
  for (const kind of description.observeEvents ?? []) {
    const eventName = COMMAND_EVENTS[kind];
    if (!eventName) throw new Unsupported(`observeEvents ${kind}`);
    client.on(eventName, (event) => {
      if (!client.capturing || ignored.has(event.commandName)) return;
      // hello with speculativeAuthenticate is redacted by the driver to an empty command/reply.
      const redacted =
        (eventName === 'commandStarted' && Object.keys(event.command ?? {}).length === 0) ||
        (eventName === 'commandSucceeded' && Object.keys(event.reply ?? {}).length === 0);
      if (!observeSensitive && redacted) return;
      client.captured.push({ kind, event });
    });
  }
  return client;
}

async function createEntities(descriptions) {
  const entities = new Map();
  for (const description of descriptions ?? []) {
    const [type, spec] = Object.entries(description)[0];
    if (type === 'client') {
      const client = createClient(spec);
      await client.connect();
      entities.set(spec.id, client);
    } else if (type === 'database') {
      if (spec.databaseOptions) throw new Unsupported('databaseOptions');
      entities.set(spec.id, entities.get(spec.client).db(spec.databaseName));
    } else if (type === 'collection') {
      if (spec.collectionOptions) throw new Unsupported('collectionOptions');
      entities.set(spec.id, entities.get(spec.database).collection(spec.collectionName));
    } else {
      throw new Unsupported(`entity type ${type}`);
    }
  }
  return entities;
}

// -- operations ----------------------------------------------------------------------------------
const COLLECTION_OPERATIONS = {
  async find(collection, { filter, ...options }) {
    return collection.find(filter, options).toArray();
  },
  async insertOne(collection, { document, ...options }) {
    const result = await collection.insertOne(document, options);
    return { insertedId: result.insertedId };
  },
};

async function runTestRunnerOperation(operation, entities, failPoints) {
  if (operation.name !== 'failPoint') throw new Unsupported(`testRunner operation ${operation.name}`);
  const { client: clientId, failPoint } = operation.arguments;
  const client = entities.get(clientId);
  const reply = await client.db('admin').command(failPoint);
  if (reply.ok !== 1) fail(`configureFailPoint answered ${EJSON.stringify(reply)}`);
  const address = client.topology.s.seedlist.map(String).join(',');
  failPoints.push({ address, name: failPoint.configureFailPoint });
}

function checkError(expected, error) {
  for (const [key, value] of Object.entries(expected)) {
    switch (key) {
      case 'isError':
        break;
      case 'isClientError':
        if ((!(error instanceof MongoServerError)) !== value) {
          fail(`isClientError ${value}, got ${error.name}: ${error.message}`);
        }
        break;
      case 'errorCode':
        if (!(error instanceof MongoServerError) || error.code !== numeric(value)) {
          fail(`errorCode ${value}, got ${error.name} code ${error.code}: ${error.message}`);
        }
        break;
      case 'errorCodeName':
        if (String(error.codeName).toLowerCase() !== value.toLowerCase()) {
          fail(`errorCodeName ${value}, got ${error.codeName}`);
        }
        break;
      case 'errorContains':
        if (!error.message.toLowerCase().includes(value.toLowerCase())) {
          fail(`errorContains ${value}, got ${error.message}`);
        }
        break;
      case 'errorLabelsContain':
        for (const label of value) if (!error.hasErrorLabel?.(label)) fail(`missing error label ${label}`);
        break;
      case 'errorLabelsOmit':
        for (const label of value) if (error.hasErrorLabel?.(label)) fail(`unexpected error label ${label}`);
        break;
      default:
        throw new Unsupported(`expectError.${key}`);
    }
  }
}

async function runOperation(operation, entities, failPoints) {
  for (const key of Object.keys(operation)) {
    if (!['name', 'object', 'arguments', 'expectResult', 'expectError'].includes(key)) {
      throw new Unsupported(`operation field ${key}`);
    }
  }
  if (operation.object === 'testRunner') {
    await runTestRunnerOperation(operation, entities, failPoints);
    return;
  }
  const handler = COLLECTION_OPERATIONS[operation.name];
  if (!handler) throw new Unsupported(`operation ${operation.name}`);
  let result;
  try {
    result = await handler(entities.get(operation.object), operation.arguments ?? {});
  } catch (error) {
    if (error instanceof Unsupported || !operation.expectError) throw error;
    checkError(operation.expectError, error);
    return;
  }
  if (operation.expectError) fail(`${operation.name} succeeded; expected an error`);
  if ('expectResult' in operation) {
    if (Array.isArray(operation.expectResult)) {
      // An iterable of documents: each element is a root-level document.
      if (!Array.isArray(result) || result.length !== operation.expectResult.length) {
        fail(`expected ${EJSON.stringify(operation.expectResult)}, got ${EJSON.stringify(result)}`);
      }
      operation.expectResult.forEach((doc, i) => match(doc, result[i], `result[${i}]`, true));
    } else {
      match(operation.expectResult, result, 'result', true);
    }
  }
}

function checkEvents(expectEvents, entities) {
  for (const expected of expectEvents) {
    for (const key of Object.keys(expected)) {
      if (!['client', 'events', 'eventType', 'ignoreExtraEvents'].includes(key)) {
        throw new Unsupported(`expectEvents field ${key}`);
      }
    }
    if ((expected.eventType ?? 'command') !== 'command') throw new Unsupported(`eventType ${expected.eventType}`);
    const actual = entities.get(expected.client).captured;
    const names = actual.map((e) => `${e.kind}:${e.event.commandName}`);
    if (expected.ignoreExtraEvents ? actual.length < expected.events.length : actual.length !== expected.events.length) {
      fail(`expected ${expected.events.length} events, got ${actual.length}: ${names.join(', ')}`);
    }
    expected.events.forEach((want, i) => {
      const [kind, fields] = Object.entries(want)[0];
      if (actual[i].kind !== kind) fail(`event ${i}: expected ${kind}, got ${names[i]}`);
      for (const [field, value] of Object.entries(fields)) {
        const got = actual[i].event;
        if (field === 'command') match(value, got.command, `events[${i}].command`, true);
        else if (field === 'reply') match(value, got.reply, `events[${i}].reply`, true);
        else if (field === 'commandName' || field === 'databaseName') {
          if (got[field] !== value) fail(`event ${i}: ${field} ${value}, got ${got[field]}`);
        } else throw new Unsupported(`${kind}.${field}`);
      }
    });
  }
}

// -- one test ------------------------------------------------------------------------------------
async function loadInitialData(internal, initialData) {
  for (const { databaseName, collectionName } of initialData ?? []) {
    const db = internal.db(databaseName);
    if ((await db.listCollections({ name: collectionName }).toArray()).length) {
      await db.collection(collectionName).drop({ writeConcern: { w: 'majority' } });
    }
  }
  for (const { databaseName, collectionName, createOptions, documents = [] } of initialData ?? []) {
    const db = internal.db(databaseName);
    if (createOptions || !documents.length) {
      await db.createCollection(collectionName, { ...(createOptions ?? {}), writeConcern: { w: 'majority' } });
    }
    if (documents.length) {
      await db.collection(collectionName).insertMany(documents, { writeConcern: { w: 'majority' } });
    }
  }
}

async function disableFailPoints(failPoints) {
  for (const { address, name } of failPoints) {
    // As the driver's runner: a new client to that server, with no credentials.
    const client = new MongoClient(`mongodb://${address}/?directConnection=true`, { serverSelectionTimeoutMS: 10000 });
    try {
      const reply = await client.db('admin').command({ configureFailPoint: name, mode: 'off' });
      if (reply.ok !== 1) fail(`turning ${name} off answered ${EJSON.stringify(reply)}`);
    } finally {
      await client.close();
    }
  }
}

async function runTest(suite, test, internal, server) {
  if (test.skipReason) return { result: 'skipped', reason: test.skipReason };
  if (!requirementsMet(test.runOnRequirements, server)) {
    return { result: 'skipped', reason: 'runOnRequirements not met' };
  }
  await loadInitialData(internal, suite.initialData);
  const failPoints = [];
  let entities = new Map();
  try {
    entities = await createEntities(suite.createEntities);
    for (const operation of test.operations) await runOperation(operation, entities, failPoints);
    for (const entity of entities.values()) if (entity instanceof MongoClient) entity.capturing = false;
    checkEvents(test.expectEvents ?? [], entities);
    if (test.outcome) throw new Unsupported('outcome');
    return { result: 'passed' };
  } finally {
    await disableFailPoints(failPoints);
    for (const entity of entities.values()) if (entity instanceof MongoClient) await entity.close();
  }
}

async function main() {
  const [specPath] = process.argv.slice(2);
  const suite = EJSON.parse(readFileSync(specPath, 'utf8'), { relaxed: true });
  const [major, minor] = suite.schemaVersion.split('.').map(Number);
  if (major !== SUPPORTED_SCHEMA[0] || minor > SUPPORTED_SCHEMA[1]) {
    throw new Error(`schemaVersion ${suite.schemaVersion} is newer than this runner (1.${SUPPORTED_SCHEMA[1]})`);
  }
  const internal = new MongoClient(internalUri, { serverSelectionTimeoutMS: 10000 });
  let failed = 0;
  try {
    await internal.connect();
    const server = await describeServer(internal);
    const suiteRuns = requirementsMet(suite.runOnRequirements, server);
    for (const test of suite.tests) {
      let outcome;
      if (!suiteRuns) {
        outcome = { result: 'skipped', reason: `suite runOnRequirements not met by ${EJSON.stringify(server)}` };
      } else {
        try {
          outcome = await runTest(suite, test, internal, server);
        } catch (error) {
          const prefix = error instanceof Unsupported ? 'not supported by this runner: ' : '';
          outcome = { result: 'failed', reason: `${prefix}${error.message}` };
        }
      }
      if (outcome.result === 'failed') failed += 1;
      console.log(JSON.stringify({ description: test.description, ...outcome }));
    }
  } finally {
    await internal.close();
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
