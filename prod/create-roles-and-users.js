// Roles and $external users for MONGODB-OIDC, exported by `wif export enterprise`
// from the running mongod (usersInfo, rolesInfo).
// Replace every placeholder first (README.md lists them), then run it once as a user
// administrator against the production server:
//   mongosh "mongodb://HOST:27017/admin" --username ADMIN --file create-roles-and-users.js
// A role named <authNamePrefix>/<group> in admin is granted to every token whose authorization
// claim lists <group>; a $external user <authNamePrefix>/<principal> serves providers with
// useAuthorizationClaim: false.
// (the kit had no user-defined roles and no $external users to export)
