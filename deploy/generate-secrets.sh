#!/usr/bin/env bash
# Writes fresh key material for a tokenkeeper deployment into a directory (default ./secrets, which
# docker-compose.yml mounts), one file per secret, each mode 0400:
#
#   encryption-keys        key ring of the credential secrets (api, worker)  TK_ENCRYPTION_KEYS_FILE
#   bootstrap-admin-key    admin API key of the operator namespace (api)     TK_BOOTSTRAP_ADMIN_KEY_FILE
#   api-key-hmac-key       server key of the API-key HMAC (api)              TK_API_KEY_HMAC_KEY_FILE
#   redis-api-password     password of Redis user tokenkeeper-api            REDIS_PASSWORD_FILE
#   redis-worker-password  password of Redis user tokenkeeper-worker         REDIS_PASSWORD_FILE
#   redis-keda-password    password of Redis user keda (k8s autoscaler)
#   redis-users.acl        Redis ACL file with those users (passwords as SHA-256 only)
#
# Existing files are kept (rerunning never replaces a key ring). Run as root to hand the files to
# the container users (uid 1000: tokenkeeper's image; uid 999: redis); otherwise chown them yourself.
# Kubernetes: kubectl create secret generic ... --from-file (see deploy/k8s/secret.yaml).
set -euo pipefail
umask 077
dir=${1:-./secrets}
mkdir -p "$dir"
chmod 0700 "$dir"

random() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
write() { # file content
  if [[ -e "$dir/$1" ]]; then echo "kept     $dir/$1" >&2; return; fi
  printf '%s\n' "$2" >"$dir/$1"
  chmod 0400 "$dir/$1"
  echo "created  $dir/$1" >&2
}

write encryption-keys "k1:$(random)"
write bootstrap-admin-key "tk_$(random)"
write api-key-hmac-key "$(random)$(random)"
for user in api worker keda; do write "redis-$user-password" "$(random)"; done

password() { tr -d '\n' <"$dir/redis-$1-password"; }
# default: off (nobody signs in as it) but with every permission, which Redis 7.0 needs to replay
# the append-only file's transactions (it replays them as the default user).
write redis-users.acl "$(cat <<ACL
user default off resetpass ~* &* +@all
user tokenkeeper-api on #$(sha256 "$(password api)") resetkeys ~tk:* resetchannels &tk:* -@all +@all -@admin -@dangerous +info
user tokenkeeper-worker on #$(sha256 "$(password worker)") resetkeys ~tk:* resetchannels &tk:* -@all +@all -@admin -@dangerous +info
user keda on #$(sha256 "$(password keda)") resetkeys %R~tk:{q}:token-refresh:wait resetchannels -@all +llen +ping
ACL
)"

if [[ $(id -u) -eq 0 ]]; then
  chown 1000 "$dir"/encryption-keys "$dir"/bootstrap-admin-key "$dir"/api-key-hmac-key \
    "$dir"/redis-api-password "$dir"/redis-worker-password
  chown 999 "$dir"/redis-users.acl
else
  echo "not root: give the files to the users that read them, e.g." >&2
  echo "  sudo chown 1000 $dir/{encryption-keys,bootstrap-admin-key,api-key-hmac-key,redis-api-password,redis-worker-password}" >&2
  echo "  sudo chown 999 $dir/redis-users.acl" >&2
fi
