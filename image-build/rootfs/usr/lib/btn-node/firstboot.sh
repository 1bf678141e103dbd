#!/bin/sh
# Set-up of a btn-node image from its boot partition, as root, before btn-node.service, at every
# boot: a household that edits btn-node.txt on another computer and restarts the device gets
# the new settings. The hostname is set on the first boot only.
# Reads KEY=VALUE lines from btn-node.txt on the boot partition: ROOT_URL, ROOT_PUBLIC_KEY,
# BROKER_URL, NETWORK, BOARD, DEVNET (and btn-node-broker-ca.pem beside it). Unknown keys are ignored with a message. With a root, the
# network's terms (params, clerks' keys, committee, genesis) come from the root's signed manifest;
# only an unprovisioned devnet takes the clerks' keys and genesis from files on the boot partition.
set -eu
conf=""
for f in /boot/firmware/btn-node.txt /boot/btn-node.txt; do
  [ -r "$f" ] && conf="$f" && break
done

if [ ! -e /var/lib/btn-node-firstboot.done ]; then
  # Hostname: btn-<first 8 hex of the machine id>, unique per device, stable across reboots.
  id=$(cut -c1-8 /etc/machine-id 2>/dev/null || echo 00000000)
  echo "btn-$id" > /etc/hostname
  hostname "btn-$id" 2>/dev/null || true
fi

image_board=$(tr -cd 'a-z0-9_-' < /usr/lib/btn-node/image-board 2>/dev/null || true)
root_url="" root_key="" broker="mqtt://10.0.2.2:1883" board="${image_board:-qemu-x86_64}" devnet="" network=""
if [ -n "$conf" ]; then
  while IFS='=' read -r key value; do
    case "$key" in
      ''|\#*) ;;
      ROOT_URL) root_url=$(printf %s "$value" | tr -cd 'A-Za-z0-9:/._-') ;;
      ROOT_PUBLIC_KEY) root_key=$(printf %s "$value" | tr 'A-F' 'a-f' | tr -cd '0-9a-f') ;;
      BROKER_URL) broker=$(printf %s "$value" | tr -cd 'A-Za-z0-9:/._-') ;;
      BOARD) board=$(printf %s "$value" | tr -cd 'a-z0-9_-') ;;
      NETWORK) network=$(printf %s "$value" | tr -cd 'A-Za-z0-9._-' | cut -c1-64) ;;
      DEVNET) devnet=$(printf %s "$value" | tr -cd 'a-z') ;;
      *) echo "btn-node firstboot: ignoring unknown key '$key' in $conf" >&2 ;;
    esac
  done <<CONF
$(tr -d '\r' < "$conf" | head -c 65536)
CONF
fi

install -d -m 0750 -o root -g btn-node /etc/btn-node
# The primary nodes' (clerks') public keys and the genesis hash of the network, if shipped there.
bootdir=$(dirname "${conf:-/boot/btn-node.txt}")
[ -r "$bootdir/btn-node-primaries.pem" ] && install -m 0640 -g btn-node "$bootdir/btn-node-primaries.pem" /etc/btn-node/primaries.pem
[ -r "$bootdir/btn-node-genesis.hex" ] && install -m 0640 -g btn-node "$bootdir/btn-node-genesis.hex" /etc/btn-node/genesis.hex
# The network broker's CA (mqtts://): pinned, the system's CAs are not used for the broker. The
# node's broker account arrives at activation, through its TPM; nothing secret is on this partition.
broker_ca=""
if [ -r "$bootdir/btn-node-broker-ca.pem" ]; then
  install -m 0640 -g btn-node "$bootdir/btn-node-broker-ca.pem" /etc/btn-node/broker-ca.pem
  case "$broker" in
    mqtts://*) broker_ca=', "brokerCa": "/etc/btn-node/broker-ca.pem"' ;;
    *) echo "btn-node firstboot: btn-node-broker-ca.pem is only used with an mqtts:// BROKER_URL" >&2 ;;
  esac
fi
# Only 64 hex digits go into the JSON (the file may carry CRLF or junk from a FAT partition).
genesis=$(tr -cd '0-9a-f' 2>/dev/null < /etc/btn-node/genesis.hex || true)
[ ${#genesis} -eq 64 ] || genesis=$(printf '%064d' 0)
pinned="\"primaries\": \"/etc/btn-node/primaries.pem\", \"genesis\": { \"hash\": \"$genesis\", \"height\": 0 },"
if [ -n "$root_url" ] && [ ${#root_key} -eq 64 ]; then
  if [ -z "$network" ]; then
    network=mainnet
    echo "btn-node firstboot: no NETWORK in btn-node.txt; using '$network'" >&2
  fi
  terms="\"network\": \"$network\","
  root=", \"root\": { \"url\": \"$root_url\", \"publicKey\": \"$root_key\" }"
elif [ "$devnet" = "true" ]; then
  terms="\"network\": \"${network:-devnet}\", $pinned"
  root=', "devnetActive": true'
else
  terms="\"network\": \"${network:-devnet}\", $pinned"
  root=""
  echo "btn-node firstboot: no ROOT_URL/ROOT_PUBLIC_KEY in btn-node.txt; the node will not seal until configured" >&2
fi
# Written beside and renamed: a power cut leaves the old config or the new one, never half of one.
cat > /etc/btn-node/config.json.new <<JSON
{ "tcti": "device:/dev/tpmrm0", "broker": "$broker"$broker_ca, "stateDir": "/var/lib/btn-node",
  $terms
  "board": "/usr/lib/btn-node/boards/$board.json", "status": { "port": 8080 }$root }
JSON
chgrp btn-node /etc/btn-node/config.json.new && chmod 0640 /etc/btn-node/config.json.new
sync
mv -f /etc/btn-node/config.json.new /etc/btn-node/config.json
touch /var/lib/btn-node-firstboot.done
