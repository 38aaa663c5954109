#!/usr/bin/env bash
# Drives a real OpenBao dev server through a scripted session (setup, normal work, attacks) so
# the tests can check secretwatch against a genuine audit log rather than a hand-written one.
#
# Environment:
#   BAO          path of the `bao` binary (scripts/setup-openbao.sh prints it)
#   WORK         an existing, empty temp dir; everything is written here
#   PORT         loopback TCP port for the server's API listener
#   SOCKET_ADDR  optional host:port of a TCP listener the caller runs; when set, a second,
#                `socket` audit device streams the same records there. The listener must be up
#                before this script starts: OpenBao test-writes to every device when enabling it
#                and refuses to start if that fails.
#
# Writes:
#   $WORK/server.hcl     the server config (audit devices are declared here: OpenBao 2.x refuses
#                        `bao audit enable` over the API unless unsafe_allow_api_audit_creation)
#   $WORK/audit.jsonl    the `file` audit device (path file/)
#   $WORK/server.out     the server's own output
#   $WORK/session.log    one line per step, tab-separated:
#                          <UTC time> <phase> <step> <outcome> <expected> [<detail>]
#                        phase:    1-setup | 2-normal | 3a-prod-sweep | 3b-token-recon |
#                                  3c-approle-bruteforce | 3d-orphan-token | 3e-audit-tamper
#                        outcome:  ok | denied (permission denied) | error (any other failure)
#                        A line "canary <value>" per canary string written into a secret comes
#                        first: those values must never appear in clear in any audit record
#                        (OpenBao HMACs every string in request/response data).
# Exits 0 when every step had its expected outcome, 1 otherwise (lines marked UNEXPECTED);
# the server is stopped either way.
set -euo pipefail

: "${BAO:?set BAO to the bao binary (scripts/setup-openbao.sh prints it)}"
: "${WORK:?set WORK to a temp dir}"
: "${PORT:?set PORT to a free loopback port}"
SOCKET_ADDR="${SOCKET_ADDR:-}"

ROOT_TOKEN=secretwatch-root
log="$WORK/session.log"
: >"$log"

# Only our own server and token; nothing from the caller's environment or ~/.vault-token.
unset BAO_TOKEN VAULT_TOKEN VAULT_ADDR BAO_NAMESPACE VAULT_NAMESPACE
export BAO_ADDR="http://127.0.0.1:$PORT"
export BAO_FORMAT=table
export HOME="$WORK"  # the CLI's token helper (~/.vault-token) then writes nowhere else

# The secret values; each holds a canary a test can grep for.
CANARY_PROD_DB=canary-bao-prod-payments-db-4f1c9e
CANARY_PROD_STRIPE=canary-bao-prod-payments-stripe-8a2d71
CANARY_PROD_LEDGER=canary-bao-prod-ledger-db-c07b35
CANARY_DEV_API=canary-bao-dev-web-api-5e93a0
CANARY_ALICE_PW=canary-bao-alice-password-2b6f48
for c in "$CANARY_PROD_DB" "$CANARY_PROD_STRIPE" "$CANARY_PROD_LEDGER" "$CANARY_DEV_API" "$CANARY_ALICE_PW"; do
  printf 'canary %s\n' "$c" >>"$log"
done

# --- server -------------------------------------------------------------------------------
{
  cat <<EOF
audit "file" "file" {
  description = "secretwatch test: JSON lines to a file"
  options {
    file_path = "$WORK/audit.jsonl"
  }
}
EOF
  if [ -n "$SOCKET_ADDR" ]; then
    cat <<EOF

audit "socket" "socket" {
  description = "secretwatch test: JSON lines over TCP"
  options {
    address     = "$SOCKET_ADDR"
    socket_type = "tcp"
  }
}
EOF
  fi
} >"$WORK/server.hcl"

# -dev and -config combine: the dev config is merged with the parsed files
# (internal/command/server.go, ServerCommand.Run: config.Merge(parsedConfig)).
"$BAO" server -dev -dev-root-token-id="$ROOT_TOKEN" -dev-listen-address="127.0.0.1:$PORT" \
  -dev-no-store-token -config="$WORK/server.hcl" >"$WORK/server.out" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT

ready=""
for _ in $(seq 1 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "session: bao server exited during startup; see $WORK/server.out:" >&2
    tail -20 "$WORK/server.out" >&2
    exit 1
  fi
  if "$BAO" status >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "session: bao server not ready after 30s; see $WORK/server.out" >&2; exit 1; }

# --- steps --------------------------------------------------------------------------------
unexpected=0
out=""  # stdout of the last step

# step PHASE NAME EXPECTED TOKEN cmd...   (EXPECTED: ok | denied | error)
step() {
  local phase="$1" name="$2" expected="$3" token="$4"
  shift 4
  local errf outcome detail rc=0
  errf="$(mktemp "$WORK/step.XXXXXX")"
  out="$(BAO_TOKEN="$token" "$BAO" "$@" 2>"$errf")" || rc=$?
  if [ "$rc" -eq 0 ]; then
    outcome=ok detail=""
  elif grep -q "permission denied" "$errf"; then
    outcome=denied detail="permission denied"
  else
    outcome=error
    # The last "* ..." line of an API error is the server's message.
    detail="$(grep -E '^\* ' "$errf" | tail -1 | sed 's/^\* //' || true)"
    [ -n "$detail" ] || detail="$(tail -1 "$errf" | tr '\t' ' ')"
  fi
  rm -f "$errf"
  local mark=""
  if [ "$outcome" != "$expected" ]; then mark=$'\tUNEXPECTED'; unexpected=$((unexpected + 1)); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s%s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$phase" "$name" \
    "$outcome" "$expected" "$detail" "$mark" >>"$log"
  return 0
}

# Like step, but the step must succeed for the session to go on (its output is used later).
must() {
  step "$@"
  if [ "$(tail -1 "$log" | cut -f4)" != ok ]; then
    echo "session: required step failed: $(tail -1 "$log")" >&2
    exit 1
  fi
}

R="$ROOT_TOKEN"

# --- 1. setup (root) ----------------------------------------------------------------------
P=1-setup
# Dev mode pre-mounts kv-v2 at secret/; remount it explicitly so the log holds the enable.
must $P disable-dev-secret-mount ok "$R" secrets disable secret
must $P enable-kv-v2 ok "$R" secrets enable -path=secret -version=2 kv
# A new kv-v2 mount answers "Upgrading from non-versioned to versioned data" for a moment.
for _ in $(seq 1 50); do
  msg="$(BAO_TOKEN="$R" "$BAO" kv metadata get -mount=secret ready 2>&1 || true)"
  case "$msg" in *Upgrading*) sleep 0.2 ;; *) break ;; esac
done
must $P write-prod-payments-db ok "$R" kv put -mount=secret prod/payments/db \
  username=payments password="$CANARY_PROD_DB"
must $P write-prod-payments-stripe ok "$R" kv put -mount=secret prod/payments/stripe \
  api_key="$CANARY_PROD_STRIPE"
must $P write-prod-ledger-db ok "$R" kv put -mount=secret prod/ledger/db \
  username=ledger password="$CANARY_PROD_LEDGER"
must $P write-dev-web-api ok "$R" kv put -mount=secret dev/web/api api_key="$CANARY_DEV_API"

must $P policy-checkout ok "$R" policy write checkout - <<'EOF'
path "secret/data/prod/payments/*" {
  capabilities = ["read"]
}
EOF
must $P policy-dev-web ok "$R" policy write dev-web - <<'EOF'
path "secret/data/dev/*" {
  capabilities = ["read"]
}
EOF
must $P policy-developer ok "$R" policy write developer - <<'EOF'
path "secret/data/dev/*" {
  capabilities = ["read"]
}
path "secret/metadata/dev/*" {
  capabilities = ["read", "list"]
}
EOF
# accessors* is a root path of the token store: listing needs "sudo" besides "list".
must $P policy-automation ok "$R" policy write automation - <<'EOF'
path "auth/token/accessors" {
  capabilities = ["list", "sudo"]
}
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}
path "auth/token/create-orphan" {
  capabilities = ["update"]
}
path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/*" {
  capabilities = ["read"]
}
EOF

must $P enable-approle ok "$R" auth enable approle
must $P role-checkout ok "$R" write auth/approle/role/checkout token_policies=checkout \
  token_ttl=1h token_max_ttl=4h
must $P role-dev-web ok "$R" write auth/approle/role/dev-web token_policies=dev-web \
  token_ttl=1h token_max_ttl=4h
must $P role-id-checkout ok "$R" read -field=role_id auth/approle/role/checkout/role-id
checkout_role_id="$out"
must $P secret-id-checkout ok "$R" write -f -field=secret_id auth/approle/role/checkout/secret-id
checkout_secret_id="$out"
must $P role-id-dev-web ok "$R" read -field=role_id auth/approle/role/dev-web/role-id
devweb_role_id="$out"
must $P secret-id-dev-web ok "$R" write -f -field=secret_id auth/approle/role/dev-web/secret-id
devweb_secret_id="$out"

must $P enable-userpass ok "$R" auth enable userpass
must $P user-alice ok "$R" write auth/userpass/users/alice password="$CANARY_ALICE_PW" \
  token_policies=developer

# Root-created tokens: one with a display name (auth.display_name "token-automation"),
# one without ("token").
must $P token-automation ok "$R" token create -policy=automation -display-name=automation \
  -ttl=2h -field=token
automation_token="$out"
must $P token-plain ok "$R" token create -policy=default -ttl=1h -field=token
plain_token="$out"

# --- 2. normal work -----------------------------------------------------------------------
P=2-normal
must $P checkout-login ok "" write -field=token auth/approle/login \
  role_id="$checkout_role_id" secret_id="$checkout_secret_id"
checkout_token="$out"
for i in 1 2 3; do
  step $P "checkout-read-db-$i" ok "$checkout_token" read secret/data/prod/payments/db
done
for i in 1 2; do
  step $P "checkout-read-stripe-$i" ok "$checkout_token" read secret/data/prod/payments/stripe
done
step $P checkout-renew-self ok "$checkout_token" token renew

must $P dev-web-login ok "" write -field=token auth/approle/login \
  role_id="$devweb_role_id" secret_id="$devweb_secret_id"
devweb_token="$out"
for i in 1 2 3; do
  step $P "dev-web-read-api-$i" ok "$devweb_token" read secret/data/dev/web/api
done

# userpass; -token-only does not store the token anywhere.
must $P alice-login ok "" login -token-only -method=userpass username=alice \
  password="$CANARY_ALICE_PW"
alice_token="$out"
# `bao kv get` first asks sys/internal/ui/mounts/<path> which mount and KV version serve it:
# with a plain path the preflight is sys/internal/ui/mounts/secret/dev/web/api; with -mount (as
# the setup writes above use) it is only sys/internal/ui/mounts/secret.
step $P alice-kv-get-dev-api ok "$alice_token" kv get secret/dev/web/api
step $P plain-token-lookup-self ok "$plain_token" token lookup

# --- 3. attacks ---------------------------------------------------------------------------
# (a) dev-web's token sweeps 30 production paths with plain reads (one request/response pair
# each, no preflight). Its policy only covers secret/data/dev/*, so every one is denied; the
# first 3 exist, the other 27 are guesses (denial comes before the lookup, so both look the
# same).
P=3a-prod-sweep
prod_paths=(prod/payments/db prod/payments/stripe prod/ledger/db)
for svc in payments ledger checkout billing auth users orders search inventory; do
  for leaf in database api-key tls-cert; do
    prod_paths+=("prod/$svc/$leaf")
  done
done
for p in "${prod_paths[@]:0:30}"; do
  step $P "read-$p" denied "$devweb_token" read "secret/data/$p"
done

# (b) the automation token lists every token accessor, looks each up, reads every ACL policy.
P=3b-token-recon
must $P list-accessors ok "$automation_token" list auth/token/accessors
mapfile -t accessors < <(printf '%s\n' "$out" | tail -n +3)
n=0
for a in "${accessors[@]}"; do
  [ -n "$a" ] || continue
  n=$((n + 1))
  step $P "lookup-accessor-$n" ok "$automation_token" token lookup -accessor "$a"
done
must $P list-policies ok "$automation_token" policy list
mapfile -t policies < <(printf '%s\n' "$out")
for pol in "${policies[@]}"; do
  [ -n "$pol" ] || continue
  # "root" is listed but has no body: reading it fails with "No policy named: root".
  if [ "$pol" = root ]; then expected=error; else expected=ok; fi
  step $P "read-policy-$pol" "$expected" "$automation_token" policy read "$pol"
done

# (c) 12 approle logins for checkout with wrong secret_ids, back to back. OpenBao's user
# lockout (on by default for approle, userpass and ldap: 5 failures within 15 minutes lock the
# role_id out for 15 minutes; internal/helper/configutil/userlockout.go) turns the first 5 into
# "invalid role or secret ID" and the other 7 into "permission denied".
P=3c-approle-bruteforce
for i in $(seq 1 12); do
  if [ "$i" -le 5 ]; then expected=error; else expected=denied; fi
  step $P "bad-login-$i" "$expected" "" write auth/approle/login role_id="$checkout_role_id" \
    secret_id="00000000-0000-0000-0000-$(printf '%012d' "$i")"
done

# (d) the automation token mints a long-lived orphan token (no parent: survives revocation of
# its creator) on auth/token/create-orphan, which needs only "update" there, not sudo. (Not
# `bao token create -orphan`: that sends no_parent=true to auth/token/create, which needs sudo.)
P=3d-orphan-token
step $P create-orphan-768h ok "$automation_token" write auth/token/create-orphan \
  policies=automation ttl=768h display_name=backup

# (e) root tries to change the audit devices over the API: 2.x refuses both
# ("cannot enable audit device via API ..." / "cannot disable configuration-managed audit
# device"); each attempt is itself audited, with error "invalid request".
P=3e-audit-tamper
step $P enable-audit-over-api error "$R" audit enable -path=evil file file_path="$WORK/evil.log"
step $P disable-file-audit error "$R" audit disable file
step $P list-audit-devices ok "$R" audit list -detailed

# --- done ---------------------------------------------------------------------------------
stop_server
trap - EXIT
if [ "$unexpected" -gt 0 ]; then
  echo "session: $unexpected step(s) did not have their expected outcome; see $log" >&2
  exit 1
fi
exit 0
