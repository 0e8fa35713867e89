"""The kit's test mongod: a MongoDB wire-protocol server that accepts MONGODB-OIDC as Enterprise does."""
