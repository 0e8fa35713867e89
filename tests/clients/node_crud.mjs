// CRUD with the official Node.js driver, logged in with MONGODB-OIDC ENVIRONMENT:test.
// Usage: node node_crud.mjs <mongodb uri> <database>   (OIDC_TOKEN_FILE names the token file)
// Prints one JSON object with what the server answered; the pytest test asserts on it.
import { MongoClient } from 'mongodb';

const [uri, dbName] = process.argv.slice(2);
const client = new MongoClient(uri, {
  authMechanism: 'MONGODB-OIDC',
  authMechanismProperties: { ENVIRONMENT: 'test' },
  serverSelectionTimeoutMS: 5000,
});
const out = {};
try {
  await client.connect();
  const db = client.db(dbName);
  const coll = db.collection('books');
  out.insertMany = (await coll.insertMany(
    Array.from({ length: 150 }, (_, i) => ({ _id: i, title: `book ${i}`, year: 1900 + (i % 120) })),
  )).insertedCount;
  out.insertOne = (await coll.insertOne({ _id: 'extra', title: 'extra', year: 2024 })).acknowledged;
  out.findSorted = (await coll.find({ year: { $gte: 2000 } }).sort({ year: -1, _id: 1 }).limit(3).toArray())
    .map((d) => d._id);
  out.findAll = (await coll.find({}, { batchSize: 20 }).toArray()).length; // many getMores
  const upd = await coll.updateMany({ year: { $lt: 1910 } }, { $set: { old: true } });
  out.updateMany = [upd.matchedCount, upd.modifiedCount];
  out.upsert = (await coll.updateOne({ _id: 'new' }, { $set: { title: 'new' } }, { upsert: true })).upsertedId;
  out.findOneAndUpdate = await coll.findOneAndUpdate(
    { _id: 0 }, { $inc: { year: 1 } }, { returnDocument: 'after', projection: { year: 1 } },
  );
  out.deleteMany = (await coll.deleteMany({ old: true })).deletedCount;
  out.count = await coll.countDocuments({});
  out.distinctYears = (await coll.distinct('year', { year: { $gt: 2017 } })).sort();
  out.aggregate = await coll.aggregate([
    { $match: { year: { $gte: 2010 } } },
    { $group: { _id: null, n: { $sum: 1 } } },
    { $project: { _id: 0, n: 1 } },
  ]).toArray();
  out.createIndex = await coll.createIndex({ title: 1 }, { unique: true });
  try {
    await coll.insertOne({ title: 'book 50' });
    out.duplicate = null;
  } catch (err) {
    out.duplicate = { code: err.code, message: err.message };
  }
  out.indexes = (await coll.listIndexes().toArray()).map((i) => i.name);
  out.collections = (await db.listCollections().toArray()).map((c) => c.name);
  out.connectionStatus = (await db.admin().command({ connectionStatus: 1 })).authInfo.authenticatedUsers;
} catch (err) {
  out.error = { name: err.name, message: err.message, code: err.code };
} finally {
  await client.close();
}
console.log(JSON.stringify(out));
