#!/usr/bin/env bash
# The demo behind `make run`: mock identity provider, echo upstream and Envoy with the filter, all
# on loopback, owned by this script. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY=${ENVOY:-.venv/bin/envoy}
BIN=target/release
IDP_PORT=8081 UPSTREAM_PORT=8082 LISTENER_PORT=10000 ADMIN_PORT=9901
ISSUER="http://127.0.0.1:${IDP_PORT}"
AUDIENCE="https://api.example.test"
LOGS=.run
mkdir -p "$LOGS"

for port in $IDP_PORT $UPSTREAM_PORT $LISTENER_PORT $ADMIN_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is already in use; stop whatever holds it (an earlier make run?)" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

"$BIN/mock-idp" --port "$IDP_PORT" --issuer "$ISSUER" --audience "$AUDIENCE" >"$LOGS/mock-idp.log" 2>&1 &
pids+=($!)
"$BIN/echo-upstream" --port "$UPSTREAM_PORT" >"$LOGS/echo.log" 2>&1 &
pids+=($!)
"$ENVOY" -c envoy.yaml --concurrency 2 --log-level info --disable-hot-restart >"$LOGS/envoy.log" 2>&1 &
pids+=($!)

# Envoy compiles the .wasm with V8 at start: a second or two, longer on a busy machine.
echo "waiting for Envoy to be ready..."
ready=""
for _ in $(seq 1 600); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${ADMIN_PORT}/ready")" = "200" ]; then
    ready=yes
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "Envoy did not become ready; the end of $LOGS/envoy.log:" >&2
  tail -n 30 "$LOGS/envoy.log" >&2
  exit 1
fi

mint() { "$BIN/mock-idp" mint --url "http://127.0.0.1:${IDP_PORT}" "$@"; }
RS=$(mint --alg RS256)
ES=$(mint --alg ES384)
EXPIRED=$(mint --alg RS256 --expired)
WRONG_AUD=$(mint --alg RS256 --claims '{"aud":"https://other.example.test"}')
ADMIN=$(mint --alg ES384 --claims '{"scope":"openid read:admin"}')
URL="http://127.0.0.1:${LISTENER_PORT}"
# A token bound to a fresh DPoP key, and one proof for GET $URL/user (a proof is good once).
eval "$("$BIN/mock-idp" dpop --url "http://127.0.0.1:${IDP_PORT}" --htm GET --htu "$URL/user")"

cat <<TXT

jwt-authn-wasm demo is up (logs in $LOGS/):
  Envoy        $URL   (admin http://127.0.0.1:${ADMIN_PORT})
  mock IdP     http://127.0.0.1:${IDP_PORT}   issuer $ISSUER
  echo         http://127.0.0.1:${UPSTREAM_PORT}

Try (tokens were just minted and live 5 minutes):

  # 200 without a token: / is public
  curl -i $URL/

  # 200: a valid RS256 token reaches the echo upstream (see x-user-id in the echoed headers)
  curl -i $URL/user -H "Authorization: Bearer $RS"

  # 200: a valid ES384 token
  curl -i $URL/user -H "Authorization: Bearer $ES"

  # 403 insufficient_scope: /admin needs the read:admin scope
  curl -i $URL/admin -H "Authorization: Bearer $RS"

  # 200: a token with read:admin
  curl -i $URL/admin -H "Authorization: Bearer $ADMIN"

  # 403 access_denied: no rule matches /elsewhere
  curl -i $URL/elsewhere -H "Authorization: Bearer $RS"

  # 401 authorization_header_missing
  curl -i $URL/user

  # 401 invalid_header (not the Bearer scheme)
  curl -i $URL/user -H "Authorization: Basic dXNlcjpwYXNz"

  # 401 invalid_token (not a JWS)
  curl -i $URL/user -H "Authorization: Bearer not-a-token"

  # 401 token_expired
  curl -i $URL/user -H "Authorization: Bearer $EXPIRED"

  # 401 invalid_claims (wrong audience)
  curl -i $URL/user -H "Authorization: Bearer $WRONG_AUD"

  # 200: a DPoP-bound token with its proof (RFC 9449); the same again is a replay: 401 invalid_dpop_proof
  curl -i $URL/user -H "Authorization: DPoP $DPOP_TOKEN" -H "DPoP: $DPOP_PROOF"

  # 401 invalid_token: that DPoP-bound token presented as a bearer token
  curl -i $URL/user -H "Authorization: Bearer $DPOP_TOKEN"

  # another bound token and proof, for GET /user:
  eval "\$($BIN/mock-idp dpop --url http://127.0.0.1:${IDP_PORT} --htm GET --htu $URL/user)"

  # mint your own:
  $BIN/mock-idp mint --url http://127.0.0.1:${IDP_PORT} --alg ES384 --claims '{"scope":"read:admin"}'

Press Ctrl-C to stop.
TXT

wait -n "${pids[@]}" || true
echo "a process exited; see $LOGS/ for its log" >&2
