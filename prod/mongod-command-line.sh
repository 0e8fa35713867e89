#!/usr/bin/env bash
set -euo pipefail
# The same configuration as mongod command-line options, exported by `wif export enterprise`.
# Replace every placeholder in this file first (README.md lists them); extra options
# (--dbpath, --bind_ip, --tlsMode ...) go after the script's name: they are passed to mongod.
if grep -q '^[^#]*<[A-Z][A-Z0-9_]*>' "$0"; then
  echo "replace the placeholders in $0 first (README.md lists them)" >&2
  exit 1
fi
exec mongod --auth \
  --setParameter authenticationMechanisms=SCRAM-SHA-256,MONGODB-OIDC \
  --setParameter oidcIdentityProviders='[
    {"issuer": "<YOUR_IDP_ISSUER_URL>", "audience": "api://mongodb-kit", "authNamePrefix": "kit", "principalName": "sub", "useAuthorizationClaim": true, "authorizationClaim": "groups", "logClaims": ["iss", "sub"], "JWKSPollSecs": 0, "supportsHumanFlows": false},
    {"issuer": "https://login.microsoftonline.com/<TENANT_ID>/v2.0", "audience": "<API_APP_CLIENT_ID>", "authNamePrefix": "azure", "principalName": "sub", "useAuthorizationClaim": true, "authorizationClaim": "groups", "logClaims": ["iss", "sub"], "JWKSPollSecs": 0, "supportsHumanFlows": false},
    {"issuer": "https://accounts.google.com", "audience": "api://mongodb-kit-gcp", "authNamePrefix": "gcp", "principalName": "sub", "useAuthorizationClaim": false, "logClaims": ["iss", "sub"], "JWKSPollSecs": 0, "supportsHumanFlows": false},
    {"issuer": "<CLUSTER_ISSUER_URL>", "audience": "api://mongodb-kit-k8s", "authNamePrefix": "k8s", "principalName": "sub", "useAuthorizationClaim": false, "logClaims": ["iss", "sub"], "JWKSPollSecs": 0, "supportsHumanFlows": false},
    {"issuer": "https://token.actions.githubusercontent.com", "audience": "api://mongodb-kit-github", "authNamePrefix": "github", "principalName": "sub", "useAuthorizationClaim": false, "logClaims": ["iss", "sub"], "JWKSPollSecs": 0, "supportsHumanFlows": false},
    {"issuer": "https://sts.windows.net/<TENANT_ID>/", "audience": "api://8b2e6c4a-1d3f-4a5b-9c7e-2f0a1b3c4d5e", "authNamePrefix": "azure-v1", "principalName": "sub", "useAuthorizationClaim": true, "authorizationClaim": "groups", "logClaims": ["iss", "sub"], "JWKSPollSecs": 0, "supportsHumanFlows": false}
  ]' \
  "$@"
